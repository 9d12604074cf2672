#!/usr/bin/env node
/**
 * Two cases of the suite at the same time, both pinned to CPU 1, each loaded by its own wrk:
 * the comparison for a difference of a few percent on a machine whose speed swings more than
 * that from one rep to the next (docs/benchmarks.md, "Two cases at once").
 *
 * An interleaved run (bench/run.mjs) measures A, then B, then A again: a phase of the machine
 * that lasts a rep (the hypervisor's neighbours, the host's frequency) lands on one case and
 * not the other, and the pairs' ratios spread ±20% here. Run at once, both cases share every
 * phase: each gets about half of CPU 1, and the ratio of their CPU time per request within a
 * round is what the machine's speed cannot move. The absolute figures are not a single case's
 * (each case runs with half a core and with the other's cache traffic); the ratio is the
 * result.
 *
 * Usage (after `npm run build`; needs wrk and nginx):
 *   node bench/simultaneous.mjs --a gateway-1w@b --b gateway-1w --gateway-b PATH [--rounds 9] [--duration 8]
 *                               [--warmup 5] [--connections 50]
 *   node bench/simultaneous.mjs --a gateway-1w --b gateway-1w-trace100
 * --connections is each wrk's: 1 sends one request at a time to each case, so that every
 * request wakes its process alone (the per-wake-up work; docs/performance.md, change 19).
 * Cases are bench/run.mjs' names (`--help` there lists them) with one worker, or nginx-1w /
 * haproxy-1t / floor-1w. Prints one line per round and the median of the rounds' B/A ratios of CPU per
 * request, with their range, and writes the same to
 * bench/results/<time>-simultaneous-<a>-<b>.md under the command and the commits measured.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuDelta, cpuSnapshot } from './lib/cpu.mjs';
import { closedLoop } from './lib/load.mjs';
import { RIG_CPU, sanityCheck } from './lib/measure.mjs';
import { describeMachine } from './lib/machine.mjs';
import { median, timestamp } from './lib/report.mjs';
import { installCleanup, onExit, stopAll, usageOf, which } from './lib/proc.mjs';
import { defaultGatewayEntry, resolveCase } from './lib/proxies.mjs';
import { SCENARIOS, requestFor } from './lib/scenarios.mjs';
import { startUpstream } from './lib/upstream.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    'gateway-b': { type: 'string' },
    rounds: { type: 'string', default: '9' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || !values.a || !values.b) {
  console.log(usageOf(import.meta.url));
  process.exit(values.help ? 0 : 2);
}
for (const bin of ['wrk', 'nginx']) {
  if (!which(bin)) {
    console.error(`${bin} is not installed (apt-get install wrk nginx-light)`);
    process.exit(2);
  }
}
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const connections = Number(values.connections);

installCleanup();
const tmpRoot = mkdtempSync(join(tmpdir(), 'fengling-simul-'));
onExit(() => rmSync(tmpRoot, { recursive: true, force: true }));
const upstream = await startUpstream(tmpRoot, { cpus: RIG_CPU });
const ctx = {
  tmpRoot, upstream, repoRoot, gatewayEnv: {},
  gatewayEntry: defaultGatewayEntry(repoRoot),
  gatewayEntryB: values['gateway-b'] ? resolve(values['gateway-b']) : null,
};
const scenario = SCENARIOS.plain;
const sides = [];
for (const name of [values.a, values.b]) {
  const kase = resolveCase(name);
  if (kase.cpus !== '1') throw new Error(`${name}: only one-worker cases pinned to CPU 1 can share it`);
  const skip = kase.skipReason?.(ctx);
  if (skip) throw new Error(`${name}: ${skip}`);
  // Started children are killed when this process exits (installCleanup).
  const running = await kase.start(ctx);
  const problem = await sanityCheck(scenario, kase, running);
  if (problem) throw new Error(`${name}: ${problem}`);
  sides.push({ name, kase, running, req: requestFor(scenario, kase, running.url) });
}

const meta = describeMachine(argv, repoRoot, ctx.gatewayEntryB, 'bench/simultaneous.mjs');
const lines = [];
const say = (line) => {
  console.log(line);
  lines.push(line);
};
const load = (durationS) => Promise.all(sides.map((s) => closedLoop('wrk', s.req, { durationS, connections, cpus: RIG_CPU, tmpDir: tmpRoot, scenario, latency: false })));
await load(Number(values.warmup));
const ratios = [];
say(`${values.a} (A) and ${values.b} (B) at once on CPU 1, ${rounds} rounds of ${durationS} s, wrk -c${connections} each`);
for (let round = 1; round <= rounds; round++) {
  const before = sides.map((s) => cpuSnapshot(s.running.pids));
  const results = await load(durationS);
  const after = sides.map((s) => cpuSnapshot(s.running.pids));
  // A round counts only when both loads read back whole and without errors: anything else
  // (wrk's output not understood, failed or non-2xx responses) is said and left out.
  const problems = results.map((r, i) => {
    const side = i === 0 ? 'A' : 'B';
    if (!Number.isFinite(r.rps) || !Number.isFinite(r.durationS) || r.rps <= 0) return `${side}: wrk's output not understood: ${JSON.stringify(r.raw.trim().split('\n').slice(-6).join(' | '))}`;
    const errors = r.socketErrors === null ? 0 : r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;
    if (r.non2xx > 0 || errors > 0) return `${side}: ${r.non2xx} non-2xx responses, ${errors} socket errors`;
    return null;
  }).filter((p) => p !== null);
  if (problems.length > 0) {
    say(`round ${round}: left out (${problems.join('; ')})`);
    continue;
  }
  const us = sides.map((_, i) => (cpuDelta(before[i], after[i]) * 1e6) / (results[i].rps * results[i].durationS));
  ratios.push(us[1] / us[0]);
  say(`round ${round}: A ${Math.round(results[0].rps)} req/s, ${us[0].toFixed(1)} µs/req | B ${Math.round(results[1].rps)} req/s, ${us[1].toFixed(1)} µs/req | B/A ${(us[1] / us[0]).toFixed(3)}`);
}
if (ratios.length === 0) {
  say('no round counted: no result');
  await stopAll();
  process.exit(1);
}
say(`B/A CPU per request: median ${median(ratios).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)} (${ratios.filter((r) => r < 1).length} of ${ratios.length} rounds below 1${ratios.length < rounds ? `; ${rounds - ratios.length} left out` : ''})`);
const out = join(repoRoot, 'bench/results', `${timestamp(new Date(meta.date))}-simultaneous-${values.a}-${values.b}.md`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, [
  `# ${values.a} and ${values.b} at once`, '',
  `\`${meta.command}\``, '',
  `${meta.date}; commit ${meta.commit}${meta.buildB ? `, build B ${meta.buildB}` : ''}; ${meta.cpu}, ${meta.cores} cores; ${meta.kernel}; Node ${process.versions.node}`, '',
  ...lines.map((l) => `    ${l}`), '',
].join('\n'));
console.log(`wrote ${out.slice(repoRoot.length + 1)}`);
// Stopped gracefully: the 'exit' hook's SIGKILL would leave nginx's worker behind its master.
await stopAll();
process.exit(0);
