import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFormatOf, loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { formatErrors } from '../../src/config/validate.js';
import type { ValidationResult } from '../../src/config/types.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

function errorLines(result: ValidationResult): string[] {
  return result.ok ? [] : formatErrors(result.errors).split('\n');
}

const yamlConfig = `
routes:
  - id: echo
    cluster: local
    match:
      path: /echo/{**rest}
      methods: [get, post]
      hosts: [Echo.Example.com]
clusters:
  - id: local
    destinations:
      - id: d1
        address: http://127.0.0.1:9000
`;

describe('parseConfigText', () => {
  it('parse_readsYaml_andNormalises', () => {
    const result = parseConfigText(yamlConfig, 'yaml');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.routes[0].match.methods).toEqual(['GET', 'POST']);
    expect(result.config.routes[0].match.hosts).toEqual(['echo.example.com']);
  });

  it('parse_readsJson_withByteOrderMark', () => {
    const json = JSON.stringify({ routes: [], clusters: [{ id: 'c', destinations: [] }] });
    expect(parseConfigText(`\uFEFF${json}`, 'json').ok).toBe(true);
  });

  it('parse_reportsYamlSyntaxError_withLineAndColumn_atRoot', () => {
    const lines = errorLines(parseConfigText('routes: [\n  - id: a\nclusters: []\n', 'yaml'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^\$: line \d+, column \d+: /);
  });

  it('parse_reportsYamlDuplicateKey_withPosition', () => {
    expect(errorLines(parseConfigText('routes: []\nclusters: []\nroutes: []\n', 'yaml'))).toEqual([
      '$: line 3, column 1: Map keys must be unique',
    ]);
  });

  it('parse_refusesYamlAliasBomb', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => {
      const p = String.fromCharCode(97 + i);
      const n = String.fromCharCode(98 + i);
      return `${n}: &${n} [*${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}]`;
    })].join('\n');
    const result = parseConfigText(bomb, 'yaml');
    expect(result.ok).toBe(false);
    expect(errorLines(result)[0]).toMatch(/^\$: .*alias/i);
  });

  const jsonCases: Array<[string, string]> = [
    ['{"routes": }', '$: line 1, column 12: expected a value but found "}"'],
    ['{\n  "routes": [],\n  "clusters": [],\n}', '$: line 4, column 1: expected a quoted property name but found "}" (trailing commas are not allowed)'],
    ['{"routes": [1,]}', '$: line 1, column 15: expected a value but found "]" (trailing commas are not allowed)'],
    ['{"routes": [', '$: line 1, column 13: expected a value but found end of input'],
    ['{"a": "x\ny"}', '$: line 1, column 9: control character in string (write it escaped, e.g. \\n)'],
    ['{"a": "abc', '$: line 1, column 7: unterminated string'],
    ['{"a": 1} x', '$: line 1, column 10: unexpected "x" after the end of the document'],
    ["{'a': 1}", '$: line 1, column 2: expected a quoted property name but found "\'"'],
    ['{"a": 01}', '$: line 1, column 8: expected "," or "}" but found "1"'],
    ['{"a": "\\q"}', '$: line 1, column 8: invalid escape "\\q"'],
  ];
  for (const [text, expected] of jsonCases) {
    it(`parse_reportsJsonSyntaxError_withLineAndColumn_${JSON.stringify(text)}`, () => {
      expect(errorLines(parseConfigText(text, 'json'))).toEqual([expected]);
    });
  }

  it('parse_reportsEveryJsonDuplicateKey_withItsPath', () => {
    const text = '{\n  "routes": [],\n  "clusters": [{"id": "a", "id": "b", "destinations": []}],\n  "routes": []\n}';
    expect(errorLines(parseConfigText(text, 'json'))).toEqual([
      '$: line 3, column 28: duplicate key "id" (at clusters[0].id)',
      '$: line 4, column 3: duplicate key "routes" (at routes)',
    ]);
  });

  it('parse_reportsEmptyDocument', () => {
    expect(errorLines(parseConfigText('', 'yaml'))).toEqual(['$: the configuration is empty']);
    expect(errorLines(parseConfigText('# only a comment\n', 'yaml'))).toEqual(['$: the configuration is empty']);
    expect(errorLines(parseConfigText('  \n', 'json'))).toEqual(['$: the configuration is empty']);
  });

  it('parse_validatesAfterParsing_withFieldPaths', () => {
    const lines = errorLines(parseConfigText(yamlConfig.replace('/echo/{**rest}', 'echo'), 'yaml'));
    expect(lines).toEqual(['routes[0].match.path: must start with "/" (got "echo")']);
  });

  it('parse_treatsYamlScalarsAsYaml12', () => {
    // In YAML 1.1 `on` would be the boolean true; as a header value it must stay a string.
    const text = yamlConfig.replace('    match:', '    transforms:\n      - requestHeader: X-Flag\n        set: on\n    match:');
    const result = parseConfigText(text, 'yaml');
    expect(result.ok && result.config.routes[0].transforms).toEqual([{ requestHeader: 'X-Flag', set: 'on' }]);
  });
});

describe('loadConfigFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fengling-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('load_readsYamlYmlAndJsonFiles', async () => {
    await writeFile(join(dir, 'a.yaml'), yamlConfig);
    await writeFile(join(dir, 'b.YML'), yamlConfig);
    await writeFile(join(dir, 'c.json'), JSON.stringify({ routes: [], clusters: [] }));
    for (const name of ['a.yaml', 'b.YML', 'c.json']) expect((await loadConfigFile(join(dir, name))).ok).toBe(true);
  });

  it('load_rejectsUnknownExtension', async () => {
    const lines = errorLines(await loadConfigFile(join(dir, 'gateway.toml')));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\$: cannot load .*unsupported extension \(use \.yaml, \.yml or \.json\)$/);
    expect(configFormatOf('x.Yaml')).toBe('yaml');
    expect(configFormatOf('x')).toBeUndefined();
  });

  it('load_reportsMissingFile_asError', async () => {
    const lines = errorLines(await loadConfigFile(join(dir, 'missing.yaml')));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\$: cannot read ".*missing\.yaml": .*ENOENT/);
  });

  it('load_acceptsTheShippedDefaultConfig', async () => {
    const result = await loadConfigFile(join(repo, 'config/gateway.yaml'));
    expect(errorLines(result)).toEqual([]);
    if (!result.ok) return;
    expect(result.config.routes).toEqual([{ id: 'default', cluster: 'default', match: { path: '/{**path}' } }]);
    expect(result.config.clusters[0].destinations[0].address).toBe('http://127.0.0.1:9000');
  });

  it('load_acceptsEveryShippedExample', async () => {
    const names = await readdir(join(repo, 'config/examples'));
    expect(names.length).toBeGreaterThanOrEqual(3);
    for (const name of names) {
      expect(errorLines(await loadConfigFile(join(repo, 'config/examples', name))), name).toEqual([]);
    }
  });
});
