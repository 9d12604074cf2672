/**
 * Admin keys for the management API (SEC-03), from GATEWAY_ADMIN_KEYS_FILE.
 *
 * One key per line: `KEY [rw|ro]`, where KEY is the key itself or `sha256:<64 hex>` (the
 * SHA-256 of the key, so the file need not hold the secret). `ro` marks a read-only key.
 * Blank lines and `#` comments are ignored. Keys are compared as SHA-256 digests with
 * timingSafeEqual against every entry (no early exit), so neither the key nor its position
 * leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type AdminRole = 'admin' | 'read-only';

export interface AdminKeys {
  readonly size: number;
  /** The role of a presented key, or null. */
  verify(presented: string): AdminRole | null;
}

export class AdminKeysError extends Error {}

const MIN_PLAIN_KEY_LENGTH = 16;

export function parseAdminKeys(text: string, source: string): AdminKeys {
  const entries: Array<{ digest: Buffer; role: AdminRole }> = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [key, mode, ...rest] = line.split(/\s+/);
    const where = `${source}:${i + 1}`;
    if (rest.length > 0 || (mode !== undefined && mode !== 'rw' && mode !== 'ro')) {
      problems.push(`${where}: expected "KEY [rw|ro]"`);
      return;
    }
    let digest: Buffer;
    if (key.startsWith('sha256:')) {
      const hex = key.slice(7);
      if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
        problems.push(`${where}: sha256: must be followed by 64 hex digits`);
        return;
      }
      digest = Buffer.from(hex, 'hex');
    } else {
      if (key.length < MIN_PLAIN_KEY_LENGTH) {
        problems.push(`${where}: a key must be at least ${MIN_PLAIN_KEY_LENGTH} characters`);
        return;
      }
      digest = sha256(key);
    }
    entries.push({ digest, role: mode === 'ro' ? 'read-only' : 'admin' });
  });
  if (problems.length) throw new AdminKeysError(problems.join('\n'));
  return {
    size: entries.length,
    verify(presented: string): AdminRole | null {
      const d = sha256(presented);
      let found: AdminRole | null = null;
      for (const e of entries) if (timingSafeEqual(d, e.digest) && found === null) found = e.role;
      return found;
    },
  };
}

export function loadAdminKeys(path: string): AdminKeys {
  return parseAdminKeys(readFileSync(path, 'utf8'), path);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
