/**
 * Static keys of a policy (`jwt.keys`): read from files and environment variables when a
 * worker compiles the policy, turned into JWKs for KeySet.
 *
 * Accepted material: a PEM public key (SPKI or PKCS#1), a PEM certificate, a PEM private key
 * (only its public half is kept), a JWK, or a JWK set; and for `secret`, an HMAC secret
 * behind a `${NAME}` reference. A missing variable or unreadable file is a value naming the
 * variable or the path, never the content: the caller logs it and fails the policy closed.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import type { JwtKeyConfig } from '../config/types.js';
import { resolveReferences } from '../config/secret-ref.js';

export type KeyMaterial = { readonly ok: true; readonly jwks: readonly JWK[] } | { readonly ok: false; readonly problem: string };

/** Largest key file or variable read: a JWK set of a few dozen keys fits easily. */
const MAX_MATERIAL_BYTES = 1 << 20;

export function readKeyMaterial(keys: readonly JwtKeyConfig[], env: NodeJS.ProcessEnv): KeyMaterial {
  const jwks: JWK[] = [];
  for (const [index, key] of keys.entries()) {
    const one = readOne(key, index, env);
    if (!one.ok) return one;
    for (const jwk of one.jwks) {
      // The configuration's kid and alg apply to a single key; for a set they would be ambiguous.
      const named = one.jwks.length === 1 && key.kid !== undefined ? { ...jwk, kid: key.kid } : jwk;
      jwks.push(key.alg !== undefined ? { ...named, alg: key.alg } : named);
    }
  }
  return { ok: true, jwks };
}

function readOne(key: JwtKeyConfig, index: number, env: NodeJS.ProcessEnv): KeyMaterial {
  const where = `keys[${index}]`;
  if (key.secret !== undefined) {
    const resolved = resolveReferences(key.secret, env);
    if (!resolved.ok) return { ok: false, problem: `${where}: environment variable ${resolved.missing} is not set` };
    const bytes = key.encoding === 'base64' || key.encoding === 'base64url'
      ? Buffer.from(resolved.value, key.encoding)
      : Buffer.from(resolved.value, 'utf8');
    return { ok: true, jwks: [{ kty: 'oct', k: bytes.toString('base64url') }] };
  }
  let text: string;
  let source: string;
  if (key.env !== undefined) {
    source = `environment variable ${key.env}`;
    const value = env[key.env];
    if (value === undefined || value === '') return { ok: false, problem: `${where}: ${source} is not set` };
    text = value;
  } else if (key.file !== undefined) {
    const path = resolveReferences(key.file, env);
    if (!path.ok) return { ok: false, problem: `${where}: environment variable ${path.missing} (in the file path) is not set` };
    source = `file ${path.value}`;
    try {
      text = readFileSync(path.value, 'utf8');
    } catch (error) {
      return { ok: false, problem: `${where}: cannot read ${source} (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  } else {
    return { ok: false, problem: `${where}: no key source` };
  }
  if (text.length > MAX_MATERIAL_BYTES) return { ok: false, problem: `${where}: ${source} is larger than ${MAX_MATERIAL_BYTES} bytes` };
  const parsed = parseMaterial(text.trim());
  return parsed === null
    ? { ok: false, problem: `${where}: ${source} holds no PEM key, certificate, JWK or JWK set` }
    : { ok: true, jwks: parsed };
}

/** The JWKs in a PEM or JSON text, or null when it is neither. */
export function parseMaterial(text: string): JWK[] | null {
  try {
    if (text.startsWith('-----BEGIN')) {
      const keyObject = text.includes('-----BEGIN CERTIFICATE-----')
        ? new X509Certificate(text).publicKey
        : createPublicKey(text);
      return [keyObject.export({ format: 'jwk' }) as JWK];
    }
    if (text.startsWith('{')) {
      const json = JSON.parse(text) as Record<string, unknown>;
      const list = Array.isArray(json.keys) ? json.keys : [json];
      return list.filter((k): k is JWK => k !== null && typeof k === 'object' && typeof (k as JWK).kty === 'string');
    }
  } catch {
    return null;
  }
  return null;
}
