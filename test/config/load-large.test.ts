import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';

// Large files are parsed on a thread that runs dist/config/load-task.js: test the built code.
const BUILT = new URL('../../dist/config/load.js', import.meta.url);

/** A YAML configuration of `n` routes, well over the off-thread threshold for n >= 10,000. */
function largeYaml(n: number, brokenRoute = -1): string {
  const lines = ['routes:'];
  for (let i = 0; i < n; i++) {
    lines.push(`  - id: r${i}`, `    cluster: ${i === brokenRoute ? 'missing' : 'c'}`, `    match:`, `      path: /svc${i}/{**rest}`, `    timeoutMs: ${1000 + i}`);
  }
  lines.push('clusters:', '  - id: c', '    destinations:', '      - id: d1', '        address: http://127.0.0.1:9000');
  return `${lines.join('\n')}\n`;
}

describe('loading a large configuration file', () => {
  let dir: string;
  let load: (path: string) => Promise<import('../../src/config/types.js').ValidationResult>;
  let threshold: number;

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error('dist/ is missing: run `npm run build` (npm test does it) first');
    ({ loadConfigFile: load, OFF_THREAD_BYTES: threshold } = await import(BUILT.href));
    dir = await mkdtemp(join(tmpdir(), 'fengling-load-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('aFileOverTheThreshold_givesTheSameResultAsParsingInline', async () => {
    const text = largeYaml(12_000);
    expect(text.length).toBeGreaterThan(threshold);
    const path = join(dir, 'large.yaml');
    await writeFile(path, text);
    const loaded = await load(path);
    expect(loaded.ok).toBe(true);
    expect(loaded).toEqual(parseConfigText(text, 'yaml'));
  });

  it('anInvalidFileOverTheThreshold_isRejectedWithTheFieldPath', async () => {
    const text = largeYaml(12_000, 11_500);
    const path = join(dir, 'broken.yaml');
    await writeFile(path, text);
    const loaded = await load(path);
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.errors.some((e) => e.path === 'routes[11500].cluster')).toBe(true);
  });

  it('aSyntaxErrorOverTheThreshold_saysWhere', async () => {
    const path = join(dir, 'syntax.yaml');
    await writeFile(path, `${largeYaml(12_000)}  - [unclosed\n`);
    const loaded = await load(path);
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.errors[0].message).toMatch(/line \d+/);
  });
});
