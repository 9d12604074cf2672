import { describe, expect, it } from 'vitest';
// @ts-expect-error: bench/ is plain JavaScript (ESM) without type declarations.
import { callEdges, LAYERS, layerOf, nameFunction, readPerfMap, selfCosts } from '../../bench/lib/callgrind.mjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A callgrind dump in the format valgrind writes (name compression: a name is given with its
 * id the first time, then the id alone; `cob`/`cfn` name a call's target; the line after
 * `calls=` is the call's inclusive cost, not the caller's own).
 */
const DUMP = [
  'version: 1',
  'events: Ir',
  'summary: 1000',
  'ob=(1) /usr/bin/node',
  'fl=(1) ???',
  'fn=(1) main',
  '0 100',
  'cob=(2) ???',
  'cfi=(1)',
  'cfn=(2) 0x000000000000a010',
  'calls=3 0',
  '0 600',
  '0 5',
  'ob=(2)',
  'fn=(2)',
  '0 400',
  'cob=(1)',
  'cfn=(3) helper',
  'calls=2 0',
  '0 200',
  'ob=(1)',
  'fn=(3)',
  '+1 150',
  '-1 50',
].join('\n');

describe('bench/lib/callgrind.mjs', () => {
  it('selfCosts_countEachFunctionsOwnLines_notItsCallsInclusiveCosts', () => {
    expect(Object.fromEntries(selfCosts(DUMP) as Map<string, number>)).toEqual({ main: 105, '0x000000000000a010@???': 400, helper: 200 });
  });

  it('callEdges_nameCallerAndCallee_withTheCalleesObjectForAnAddress', () => {
    expect(callEdges(DUMP)).toEqual([
      { caller: 'main', callee: '0x000000000000a010@???', calls: 3, inclusive: 600 },
      { caller: '0x000000000000a010@???', callee: 'helper', calls: 2, inclusive: 200 },
    ]);
  });

  it('nameFunction_namesGeneratedCodeFromThePerfMap_andLeavesSymbolsAlone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callgrind-'));
    try {
      const path = join(dir, 'perf.map');
      writeFileSync(path, 'a000 20 JS:*handle file:///x/pipeline.js:1:1\nb000 10 Builtin:StringEqual\n');
      const map = readPerfMap(path);
      expect(nameFunction('0x000000000000a010@???', map)).toBe('JS:*handle file:///x/pipeline.js:1:1');
      expect(nameFunction('0x000000000000a020@???', map)).toBe('(generated code the perf map does not name: stubs, code since freed)');
      expect(nameFunction('0x0000000000000100@libfoo.so', map)).toBe('(libfoo.so: functions without symbols)');
      expect(nameFunction('helper', map)).toBe('helper');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('layerOf_putsTheProjectsCodeApartFromWhatTheArchitectureBrings', () => {
    const cases: Array<[string, number]> = [
      ['JS:*execute file:///work/main/dist/forwarder/response-parser.js:120:3', 0],
      ['JS:*respond file:///work/main/bench/floor/relay.mjs:140:1', 0],
      ['JS:*writeOrBuffer node:internal/streams/writable:390:22', 1],
      ['Builtin:StringAdd_CheckNone', 2],
      ['Builtins_CreateTypedArray', 2],
      ['(uws_linux_x64_115.node: functions without symbols)', 3],
      ['v8::internal::(anonymous namespace)::IterateObjectCache(v8::internal::Isolate*, ...)', 4],
      ['v8::internal::compiler::GraphReducer::ReduceTop()', 5],
      ['v8::Function::Call(v8::Local<v8::Context>, ...)', 6],
      ['void v8::internal::String::WriteToFlat<unsigned char>(...)', 6],
      ['int node::StreamBase::WriteString<(node::encoding)4>(...)', 7],
      ['uv__io_poll', 8],
      ['ngx_http_proxy_handler', 9],
      ['_int_free', 10],
      ['JS:*foo file:///elsewhere/x.js:1:1', 10],
    ];
    expect(cases.map(([name]) => layerOf(name))).toEqual(cases.map(([, layer]) => LAYERS[layer]));
  });
});
