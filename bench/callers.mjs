/**
 * Who calls a function, and what it calls, in a dump kept by `bench/instructions.mjs --keep DIR
 * --functions N`: for each caller (and callee) of the functions whose name contains the text
 * given, the calls and the inclusive instructions per request, V8's generated code named from
 * the perf map kept beside the dump.
 *
 * Usage:
 *   node bench/callers.mjs DIR/<case>-<build> <text in the function's name> [--requests 5000] [--top 20]
 * e.g. node bench/callers.mjs /tmp/keep/gateway-1w-trace100-A CallFunction_ReceiverIsNotNullOrUndefined
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { callEdges, mappingStarts, nameFunction, readPerfMap } from './lib/callgrind.mjs';
import { usageOf } from './lib/proc.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string', default: '5000' },
    top: { type: 'string', default: '20' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || positionals.length !== 2) {
  process.stdout.write(`${usageOf(import.meta.url)}\n`);
  process.exit(values.help ? 0 : 2);
}
const [base, text] = positionals;
const requests = Number(values.requests);
const top = Number(values.top);
const map = readPerfMap(`${base}.perf-map`);
const starts = mappingStarts(readFileSync(`${base}.proc-maps`, 'utf8'));
const named = new Map();
const nameOf = (fn) => {
  let n = named.get(fn);
  if (n === undefined) {
    n = nameFunction(fn, map, starts);
    named.set(fn, n);
  }
  return n;
};

const callers = new Map();
const callees = new Map();
for (const edge of callEdges(readFileSync(`${base}.callgrind`, 'utf8'))) {
  const caller = nameOf(edge.caller);
  const callee = nameOf(edge.callee);
  for (const [side, key, other] of [[callers, callee, caller], [callees, caller, callee]]) {
    if (!key.includes(text)) continue;
    const row = side.get(other) ?? { calls: 0, inclusive: 0 };
    row.calls += edge.calls;
    row.inclusive += edge.inclusive;
    side.set(other, row);
  }
}
for (const [title, side] of [['callers', callers], ['callees', callees]]) {
  process.stdout.write(`\n${title} of functions named *${text}*: calls and inclusive instructions per request\n\n| function | calls | instructions |\n|---|---:|---:|\n`);
  const rows = [...side].sort((a, b) => b[1].inclusive - a[1].inclusive).slice(0, top);
  for (const [name, row] of rows) process.stdout.write(`| ${name} | ${(row.calls / requests).toFixed(2)} | ${Math.round(row.inclusive / requests).toLocaleString('en-US')} |\n`);
}
