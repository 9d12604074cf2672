#!/usr/bin/env node
/**
 * Writes schema/gateway.schema.json, the editor schema of the configuration, from the
 * schema in src/config/schema.ts (through its compiled form in dist/, so build first):
 *
 *   npm run build && node scripts/gen-schema.mjs           # write the file
 *   npm run build && node scripts/gen-schema.mjs --check   # exit 1 when the file is stale
 *
 * test/config/schema-file.test.ts fails whenever the committed file differs from what this
 * script would write, so the two cannot drift apart.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const moduleUrl = new URL('../dist/config/schema.js', import.meta.url);
const target = fileURLToPath(new URL('../schema/gateway.schema.json', import.meta.url));

let renderEditorSchema;
try {
  ({ renderEditorSchema } = await import(moduleUrl.href));
} catch (error) {
  console.error(`gen-schema: cannot load ${fileURLToPath(moduleUrl)} (${error.message}); run "npm run build" first`);
  process.exit(2);
}

const text = renderEditorSchema();
if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(`gen-schema: ${target} is out of date; run "npm run build && node scripts/gen-schema.mjs"`);
    process.exit(1);
  }
  console.log(`gen-schema: ${target} is up to date`);
} else {
  await writeFile(target, text);
  console.log(`gen-schema: wrote ${target}`);
}
