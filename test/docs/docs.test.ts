import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as layout from '../../src/shm/layout.js';
import * as rateLimitLayout from '../../src/shm/rate-limit-layout.js';
import { ERRORS } from '../../src/errors.js';
import { SETTINGS } from '../../src/cli/settings.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

describe('documentation stays in step with the code', () => {
  it('architecture_namesEverySharedMemoryField', () => {
    const doc = read('docs/architecture.md');
    const fields = [...Object.keys(layout), ...Object.keys(rateLimitLayout)].filter((k) => /^k[A-Z]/.test(k) && !/Stride$|Mask$|Fields$/.test(k));
    expect(fields.length).toBeGreaterThan(30);
    const missing = fields.filter((f) => !doc.includes(`\`${f}\``));
    expect(missing).toEqual([]);
  });

  it('errors_listsEveryErrorCode_withItsStatus', () => {
    const doc = read('docs/errors.md');
    const missing = Object.entries(ERRORS).filter(([code, spec]) => !new RegExp(`\\| \`${code}\` \\| ${spec.status || '—'} \\|`).test(doc));
    expect(missing.map(([c]) => c)).toEqual([]);
  });

  it('readme_listsEverySetting', () => {
    const doc = read('README.md');
    expect(SETTINGS.map((s) => s.env).filter((env) => !doc.includes(`\`${env}\``))).toEqual([]);
  });
});
