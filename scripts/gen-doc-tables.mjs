// Regenerates the generated tables in the docs from the code (run after `npm run build`):
//   README.md       settings table   <!-- settings:start --> ... <!-- settings:end -->
//   docs/errors.md  error code table <!-- errors:start --> ... <!-- errors:end -->
// test/docs/docs.test.ts fails when they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { SETTINGS } from '../dist/cli/settings.js';
import { ERRORS } from '../dist/errors.js';

const root = new URL('../', import.meta.url);

function replaceBetween(file, marker, rows) {
  const path = new URL(file, root);
  const text = readFileSync(path, 'utf8');
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`${file}: markers ${start} / ${end} missing`);
  writeFileSync(path, text.slice(0, a + start.length) + '\n' + rows.join('\n') + '\n' + text.slice(b));
}

replaceBetween('README.md', 'settings', [
  '| variable | default | meaning |',
  '|---|---|---|',
  ...SETTINGS.map((s) => `| \`${s.env}\` | ${s.defaultText ?? String(s.default())} | ${s.help.replaceAll('|', '\\|')} |`),
]);
replaceBetween('docs/errors.md', 'errors', [
  '| code | status | source | meaning |',
  '|---|---|---|---|',
  ...Object.entries(ERRORS).map(([code, s]) => `| \`${code}\` | ${s.status || '—'} | ${s.source} | ${s.title} |`),
]);
console.log('gen-doc-tables: README.md settings, docs/errors.md codes');
