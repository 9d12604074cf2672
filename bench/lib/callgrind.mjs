/**
 * Reading callgrind dumps: the total, and the instructions spent in each function itself
 * ("self"), with V8's generated code named from the perf map Node writes under
 * `--perf-basic-prof` (/tmp/perf-<pid>.map). Callgrind names such code only by its address.
 */
import { existsSync, readFileSync } from 'node:fs';

/** Instructions of the whole dump (its `summary:` line). */
export function dumpTotal(text) {
  return Number(/^summary: (\d+)/m.exec(text)[1]);
}

/**
 * One pass over a dump's cost lines: `onSelf(fn, instructions)` for a function's own cost,
 * `onCall(caller, callee, calls, inclusive)` for each call edge. A function callgrind names
 * only by its address (`0x...`) is keyed `0x...@<object file>`: generated code sits in `???`, a
 * stripped library's internal functions in that library.
 */
function walkDump(text, onSelf, onCall) {
  const names = new Map();
  const objects = new Map();
  let fn = '';
  let object = '???';
  let callee = '';
  let calleeObject = '???';
  let calls = -1;
  for (const line of text.split('\n')) {
    const m = /^(c?)fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (m) {
      if (m[3] !== undefined) names.set(m[2], m[3]);
      let name = names.get(m[2]) ?? m[2];
      if (m[1] === '') {
        if (name.startsWith('0x')) name = `${name}@${object}`;
        fn = name;
        calleeObject = object;
      } else {
        if (name.startsWith('0x')) name = `${name}@${calleeObject}`;
        callee = name;
      }
      continue;
    }
    const o = /^(c?)ob=\((\d+)\)(?: (.*))?$/.exec(line);
    if (o) {
      if (o[3] !== undefined) objects.set(o[2], o[3].slice(o[3].lastIndexOf('/') + 1));
      const name = objects.get(o[2]) ?? '???';
      if (o[1] === '') object = name;
      calleeObject = name;
      continue;
    }
    if (line.startsWith('calls=')) {
      calls = Number(line.slice(6, line.indexOf(' ')));
      continue;
    }
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      // "<position> <instructions>": the line after calls= is the call's inclusive cost.
      const cost = Number(line.slice(line.indexOf(' ') + 1));
      if (!Number.isFinite(cost)) continue;
      if (calls >= 0) {
        onCall(fn, callee, calls, cost);
        calls = -1;
        calleeObject = object;
      } else {
        onSelf(fn, cost);
      }
    }
  }
}

/** Map<function name, self instructions> of a dump (the cost lines under `fn=`, calls excluded; names as walkDump keys them). */
export function selfCosts(text) {
  const self = new Map();
  walkDump(text, (fn, cost) => self.set(fn, (self.get(fn) ?? 0) + cost), () => {});
  return self;
}

/** The code ranges of a perf map, sorted: { starts, ends, names } (later entries win). */
export function readPerfMap(path) {
  const byStart = new Map();
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
      if (m) byStart.set(parseInt(m[1], 16), [parseInt(m[2], 16), m[3]]);
    }
  }
  const starts = [...byStart.keys()].sort((a, b) => a - b);
  return { starts, ends: starts.map((s) => s + byStart.get(s)[0]), names: starts.map((s) => byStart.get(s)[1]) };
}

/** The map's name for an address, or null. */
function lookup(map, address) {
  let lo = 0;
  let hi = map.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map.starts[mid] <= address) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi >= 0 && address < map.ends[hi] ? map.names[hi] : null;
}

/** The start addresses of a process's mappings (/proc/<pid>/maps text), sorted. */
export function mappingStarts(procMaps) {
  return procMaps.split('\n').map((l) => /^([0-9a-f]+)-/.exec(l)).filter(Boolean).map((m) => parseInt(m[1], 16)).sort((a, b) => a - b);
}

/**
 * A dump's function name (from selfCosts or a call edge: `0x...@<object>` for an address) as
 * the perf map names it. V8 copies its builtins from the binary (where the perf map lists them)
 * to the start of its code range, on 64-bit machines with enough memory ("short builtin
 * calls"): an address the map does not name is looked up again as an offset into the mapping
 * that holds it (`starts`, from /proc/<pid>/maps), from the binary's first builtin. What still
 * has no name is named for its object file.
 */
export function nameFunction(fn, map, starts = []) {
  const hex = /^0x([0-9a-f]+)/.exec(fn);
  if (!hex) return fn;
  const address = parseInt(hex[1], 16);
  let name = lookup(map, address);
  const firstBuiltin = map.starts[map.names.findIndex((n) => n.startsWith('Builtin:'))] ?? 0;
  if (name === null && firstBuiltin > 0) {
    let i = starts.length - 1;
    while (i >= 0 && starts[i] > address) i--;
    const copied = i >= 0 ? lookup(map, address - starts[i] + firstBuiltin) : null;
    if (copied !== null && copied.startsWith('Builtin:')) name = copied;
  }
  const object = fn.slice(fn.indexOf('@') + 1);
  return name ?? (object === '???' || object === 'node'
    ? '(generated code the perf map does not name: stubs, code since freed)'
    : `(${object}: functions without symbols)`);
}

/** Self instructions per function, generated code named from `map` (see nameFunction). What has no name is one row. */
export function namedSelfCosts(text, map, starts = []) {
  const out = new Map();
  for (const [fn, cost] of selfCosts(text)) {
    const name = nameFunction(fn, map, starts);
    out.set(name, (out.get(name) ?? 0) + cost);
  }
  return out;
}

/**
 * The call edges of a dump: [{ caller, callee, calls, inclusive }], functions keyed as in
 * selfCosts (`0x...@<object>` for an address; name them with nameFunction).
 */
export function callEdges(text) {
  const edges = [];
  walkDump(text, () => {}, (caller, callee, calls, inclusive) => edges.push({ caller, callee, calls, inclusive }));
  return edges;
}

/** The layers of a request's instructions, in the order reports list them. */
export const LAYER = Object.freeze({
  project: 'project JavaScript (dist/, bench/floor/)',
  nodeJs: "Node.js's JavaScript (streams, net, timers)",
  builtins: 'V8 builtins',
  uws: 'uWS (C++)',
  gc: 'garbage collector',
  jit: 'JIT compiler',
  v8: "V8's runtime and API (C++ to JavaScript calls, handles, strings)",
  nodeCpp: "Node.js's C++ (stream handles, callbacks)",
  libuv: 'libuv',
  nginx: 'nginx (C)',
  rest: 'libc and the rest',
});
export const LAYERS = Object.values(LAYER);

/**
 * The layer a function named by `nameFunction` belongs to: which part of the stack spends
 * its instructions. The project's own code against everything the architecture brings with it.
 */
export function layerOf(name) {
  if (name.startsWith('JS:')) {
    if (/\/(dist|bench\/floor)\//.test(name)) return LAYER.project;
    if (/ node:/.test(name)) return LAYER.nodeJs;
    return LAYER.rest;
  }
  if (/^Builtins?[:_]/.test(name)) return LAYER.builtins;
  if (/uws_linux/.test(name)) return LAYER.uws;
  if (/Scaveng|IterateObjectCache|RootVisitor|MarkCompact|Sweeper|Evacuat|ConcurrentMarking|MinorMarkCompact|v8::internal::Heap::/.test(name)) return LAYER.gc;
  if (/v8::internal::compiler::|v8::internal::maglev::/.test(name)) return LAYER.jit;
  if (/\bv8::/.test(name)) return LAYER.v8;
  if (/\bnode::/.test(name)) return LAYER.nodeCpp;
  if (/^uv_|^uv__/.test(name)) return LAYER.libuv;
  if (/^ngx_/.test(name)) return LAYER.nginx;
  return LAYER.rest;
}
