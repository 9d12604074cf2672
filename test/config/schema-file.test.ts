import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { renderEditorSchema } from '../../src/config/schema.js';
import { validInput } from './helpers.js';

const schemaFile = new URL('../../schema/gateway.schema.json', import.meta.url);

describe('schema/gateway.schema.json', () => {
  it('schemaFile_equalsGeneratedSchema', async () => {
    const committed = await readFile(schemaFile, 'utf8');
    expect(
      committed === renderEditorSchema(),
      'schema/gateway.schema.json is stale: run "npm run build && node scripts/gen-schema.mjs"',
    ).toBe(true);
  });

  it('schemaFile_isAValidDraft07Schema_acceptingAValidConfig', async () => {
    const schema = JSON.parse(await readFile(schemaFile, 'utf8'));
    const ajv = new Ajv({ strict: false });
    const check = ajv.compile(schema);
    expect(check(validInput())).toBe(true);
    expect(check({ ...validInput(), extra: 1 })).toBe(false);
  });
});
