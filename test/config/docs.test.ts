import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { GatewayConfigSchema, LIMITS } from '../../src/config/schema.js';
import { PROTECTED_HEADERS, TRANSFORM_KEYS } from '../../src/config/transforms-check.js';
import { LOAD_BALANCING_POLICIES } from '../../src/config/types.js';

const docsFile = new URL('../../docs/configuration.md', import.meta.url);

/** Every property name anywhere in the schema. */
function fieldNames(schema: unknown, into = new Set<string>()): Set<string> {
  if (schema === null || typeof schema !== 'object') return into;
  const node = schema as Record<string, unknown>;
  if (node.properties && typeof node.properties === 'object') {
    for (const [name, child] of Object.entries(node.properties)) {
      into.add(name);
      fieldNames(child, into);
    }
  }
  for (const key of ['items', 'anyOf']) {
    const child = node[key];
    if (Array.isArray(child)) child.forEach((c) => fieldNames(c, into));
    else fieldNames(child, into);
  }
  return into;
}

describe('docs/configuration.md', () => {
  it('docs_mentionEveryFieldOfTheSchema', async () => {
    const docs = await readFile(docsFile, 'utf8');
    const missing = [...fieldNames(GatewayConfigSchema)].filter((name) => !docs.includes(`\`${name}\``) && !docs.includes(`{ ${name}:`));
    expect(missing).toEqual([]);
  });

  it('docs_stateTheLimitsPoliciesAndProtectedHeaders', async () => {
    const docs = await readFile(docsFile, 'utf8');
    for (const { maximum } of Object.values(LIMITS)) expect(docs).toContain(String(maximum));
    for (const policy of LOAD_BALANCING_POLICIES) expect(docs).toContain(`\`${policy}\``);
    for (const header of PROTECTED_HEADERS) expect(docs).toContain(`\`${header}\``);
    for (const key of TRANSFORM_KEYS) expect(docs).toContain(key);
  });
});
