#!/usr/bin/env node
/**
 * End-to-end benchmark: the gateway beside nginx and HAProxy in one interleaved run,
 * following /work/shared/BENCH.md (see docs/benchmarks.md). `node bench/run.mjs --help`.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCleanup, onExit, pinSelf, stopAll, which } from './lib/proc.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { GATEWAY_VARIANTS, defaultCases, defaultGatewayEntry, resolveCase } from './lib/proxies.mjs';
import { nginxAvailable, NGINX_MISSING } from './lib/nginx.mjs';
import { pickClosedLoopTool } from './lib/load.mjs';
import { FIXED_DEFAULT_PRODUCTS, SCENARIOS } from './lib/scenarios.mjs';
import { RIG_CPU, disturbance, measureRep, repWarnings, sanityCheck } from './lib/measure.mjs';
import { describeMachine } from './lib/machine.mjs';
import { coreBusy, coreTimes, cpuDelta, cpuSnapshot, pidTree } from './lib/cpu.mjs';
import { addRatios, summarise, timestamp, toMarkdown, toSvg } from './lib/report.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: node bench/run.mjs [options]      (or: npm run bench -- [options])

End-to-end benchmark of the Fengling gateway beside nginx and HAProxy, in one run,
with the method of /work/shared/BENCH.md (details: docs/benchmarks.md).

Rig: one nginx worker as the upstream on CPU 0 (100 B at any path, 64 KiB at /large,
POST sink at /post, keepalive_requests 1e9); the load generator also on CPU 0; each
1-worker proxy pinned alone to CPU 1 (taskset -c 1); N-worker proxies unpinned.
For each case and rep: warm-up (unrecorded), then the measured run; reps are
interleaved case by case (A B C A B C) and medians are reported.

Options:
  --cases LIST        comma list of cases (default: ${defaultCases([1]).join(',')}
                      plus the N-worker ones of --workers). Forms:
                        upstream-direct   wrk straight to the upstream (the rig's ceiling)
                        nginx-<N>w        nginx, N worker processes, upstream keepalive 64
                        haproxy-<N>t      HAProxy, nbthread N, http-reuse always
                        floor-1w          bench/floor/relay.mjs: a bare uWS + net relay doing the
                                          same job, the architecture's floor (-thread: served
                                          from a worker thread, as the gateway is)
                        gateway-<N>w      node dist/cli/gateway.js with GATEWAY_WORKERS=N
                        gateway-<N>w-<v>  a gateway variant, v one of:
${Object.entries(GATEWAY_VARIANTS).filter(([k]) => k).map(([k, v]) => `                          ${k.padEnd(10)} ${v.describe}`).join('\n')}
  --scenario LIST     comma list, or "all" (default: plain):
${Object.entries(SCENARIOS).map(([k, v]) => `                        ${k.padEnd(8)} ${v.describe}`).join('\n')}
                      "fixed" runs upstream-direct, nginx-* and gateway-* of the case list
                      unless --cases is given.
  --workers N[,M]     also run nginx-Nw, haproxy-Nt, gateway-Nw (unpinned, both cores shared)
  --reps N            measured repetitions per case (default 3)
  --warmup S          unrecorded warm-up seconds before every measured rep (default 5)
  --duration S        measured seconds per rep (default 10)
  --connections N     concurrent connections (default 50)
  --rate N            total req/s of the fixed scenario (default 5000: -c50 --rps=100)
  --max-other P       a rep is "disturbed" when processes outside the rig (someone's build
                      or tests on this shared machine) used more than P% of a core during
                      it, or when CPU 1 spent more than P+5% outside a pinned proxy
                      (default 5)
  --retries N         re-measure a disturbed rep up to N times, each after waiting (up to
                      60 s) for a quiet second, keeping the least disturbed attempt
                      (default 2; 0 = never)
  --quick             smoke run: --reps 1 --warmup 2 --duration 3 (explicit flags win)
  --tool wrk|autocannon   closed-loop load generator (default wrk; autocannon if wrk is
                      missing — it saturates at ~15-16k req/s here, ratios then unreliable)
  --gateway PATH      gateway entry point (default dist/cli/gateway.js; not built = skipped)
  --gateway-b PATH    entry point of a second build for the cases ending in @b, to compare
                      two commits in one interleaved run, e.g.
                        git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/
                        (cd /tmp/before && npx tsc -p .)
                        node bench/run.mjs --cases gateway-1w,gateway-1w@b --gateway-b \\
                          /tmp/before/dist/cli/gateway.js
  --gateway-env K=V   extra environment for the gateway (repeatable)
  --out DIR           results directory (default bench/results)
  --no-write          print the table only, write no files
  --keep-tmp          keep the generated configs and logs (the path is printed)
  -h, --help          this text

Output: the Markdown table on stdout; bench/results/<timestamp>-<scenario>.md and .json,
bench/results/latest.md and latest.svg (latest-<scenarios>.md/.svg for other scenarios than plain). Columns are explained at the bottom of the table
and in docs/benchmarks.md. Absolute numbers move ±20% between runs on shared machines:
compare ratios from one run, never numbers from different runs.
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      cases: { type: 'string' },
      scenario: { type: 'string', default: 'plain' },
      workers: { type: 'string', multiple: true },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '50' },
      rate: { type: 'string', default: '5000' },
      retries: { type: 'string', default: '2' },
      'max-other': { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      tool: { type: 'string' },
      gateway: { type: 'string' },
      'gateway-b': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const int = (name, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const q = values.quick;
  const workers = (values.workers ?? []).flatMap((w) => w.split(',')).map((w) => int('workers', w, 1));
  const scenarios = values.scenario === 'all' ? Object.keys(SCENARIOS) : values.scenario.split(',').map((s) => s.trim());
  for (const s of scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(', ')}, all)`);
  if (values.tool && !['wrk', 'autocannon'].includes(values.tool)) throw new Error('--tool must be wrk or autocannon');
  const gatewayEnv = {};
  for (const kv of values['gateway-env'] ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) throw new Error(`--gateway-env expects K=V, got '${kv}'`);
    gatewayEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    help: values.help,
    casesGiven: values.cases != null,
    cases: values.cases != null ? values.cases.split(',').map((c) => c.trim()).filter(Boolean) : defaultCases([1, ...workers]),
    scenarios,
    reps: int('reps', values.reps ?? (q ? 1 : 3), 1),
    warmup: int('warmup', values.warmup ?? (q ? 2 : 5), 0),
    duration: int('duration', values.duration ?? (q ? 3 : 10), 1),
    connections: int('connections', values.connections, 1),
    rate: int('rate', values.rate, 1),
    retries: int('retries', values.retries, 0),
    maxOther: int('max-other', values['max-other'], 0) / 100,
    quick: q,
    tool: values.tool,
    gatewayEntry: resolve(repoRoot, values.gateway ?? defaultGatewayEntry(repoRoot)),
    gatewayEntryB: values['gateway-b'] ? resolve(repoRoot, values['gateway-b']) : null,
    gatewayEnv,
    out: resolve(repoRoot, values.out ?? 'bench/results'),
    write: !values['no-write'],
    keepTmp: values['keep-tmp'],
  };
}

const log = (s) => process.stderr.write(`[bench] ${s}\n`);

/** SIGSTOP / SIGCONT every process of these running cases (whole process trees: nginx's workers too). */
function signalAll(procs, signal) {
  for (const p of procs) {
    for (const root of p.pids) {
      for (const pid of pidTree(root)) {
        try { process.kill(pid, signal); } catch { /* exited */ }
      }
    }
  }
}
const fmtRep = (r) => `${Math.round(r.rps).toLocaleString('en-US')} req/s, p50 ${r.p50Ms?.toFixed(2)} ms, p99 ${r.p99Ms?.toFixed(2)} ms${Number.isFinite(r.proxyUsPerReq) ? `, proxy ${r.proxyUsPerReq.toFixed(1)} µs/req (sys ${r.proxySysUsPerReq?.toFixed(1)}, ${Math.round(r.proxyCoreFraction * 100)}% core)` : ''}, TCP opens ${r.tcpOpens}`;

/**
 * Measure one rep; when processes outside the rig used more than --max-other of a core
 * (someone's build on this shared machine), wait and measure again, up to --retries
 * times, keeping the least disturbed attempt. Retries are reported in the rep.
 */
async function measureDisturbanceAware(scenario, kase, running, ctx, label) {
  let best = null;
  let attempts = 0;
  for (let attempt = 0; attempt <= ctx.opts.retries; attempt++) {
    if (attempt > 0) {
      const ours = [process.pid, ctx.upstream.pid, ...running.pids];
      const quiet = await waitQuiet(ours, ctx.opts.maxOther, QUIET_WAIT_MS);
      log(`${label}: ${quiet ? 'machine quiet again' : `still busy after ${QUIET_WAIT_MS / 1000} s`}, measuring again`);
    }
    const r = await measureRep(scenario, kase, running, ctx);
    attempts++;
    const d = disturbance(kase, r, ctx.opts.maxOther);
    r.disturbed = d;
    // How far from clean: used to keep the least disturbed attempt.
    r.disturbanceScore = Math.max(r.otherCpuFraction, (r.proxyCoreForeign ?? 0) - 0.05, r.stealFraction);
    log(`${label}: ${fmtRep(r)}${d ? ` — DISTURBED: ${d}` : ''}`);
    if (!best || r.disturbanceScore < best.disturbanceScore) best = r;
    if (!d) break;
  }
  best.attempts = attempts;
  return best;
}

/** How long a retry waits for the other processes to calm down. */
const QUIET_WAIT_MS = 60000;

/**
 * Resolve true once a 1 s window in which the machine, minus our (idle) processes, was busy
 * at most `threshold` of a core (processes, interrupts and softirq all count); false after
 * timeoutMs.
 */
async function waitQuiet(ours, threshold, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const core0 = coreTimes();
    const ours0 = cpuSnapshot(ours);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    const wall = (Date.now() - t0) / 1000;
    const busy = Object.values(coreBusy(core0, coreTimes())).reduce((a, b) => a + b, 0);
    if (busy - cpuDelta(ours0, cpuSnapshot(ours)) / wall <= threshold) return true;
  }
  return false;
}

function readTail(file) {
  try { return readFileSync(file, 'utf8').slice(-4000); } catch { return '(no log)'; }
}

async function main() {
  const argv = process.argv.slice(2);
  let opts;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${e.message}\n\n${HELP}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const cases = opts.cases.map(resolveCase); // throws on an unknown name, before starting anything
  installCleanup();
  const notes = [];
  if (!pinSelf(RIG_CPU)) notes.push('taskset not available: nothing is pinned, CPU figures are not comparable.');
  if (!nginxAvailable()) {
    process.stderr.write(`${NGINX_MISSING}: the upstream is nginx, nothing can run.\n`);
    process.exit(1);
  }
  const tool = pickClosedLoopTool(opts.tool);
  if (!tool) throw new Error('neither wrk nor autocannon found (apt-get install wrk, or npm install)');
  if (tool === 'autocannon') {
    notes.push(`Load generator: autocannon${opts.tool ? '' : ' (wrk not installed: apt-get install wrk)'}. autocannon saturates its own core at ~15-16k req/s on this kind of machine, below what nginx proxies: req/s and ratios of fast proxies are then unreliable.`);
  }
  if (opts.scenarios.includes('fixed') && !which('h2load')) {
    notes.push('h2load not installed (apt-get install nghttp2-client): the fixed scenario is skipped.');
    opts.scenarios = opts.scenarios.filter((s) => s !== 'fixed');
  }
  const meta = describeMachine(argv, repoRoot, opts.gatewayEntryB);
  const tmpRoot = mkdtempSync(join(tmpdir(), 'fengling-bench-'));
  if (!opts.keepTmp) onExit(() => rmSync(tmpRoot, { recursive: true, force: true }));
  log(`temp dir ${tmpRoot}; load generator ${tool}; ${opts.reps} rep(s), warm-up ${opts.warmup} s, measure ${opts.duration} s, -c${opts.connections}`);

  const upstream = await startUpstream(tmpRoot, { cpus: RIG_CPU });
  log(`upstream nginx (pid ${upstream.pid}) on ${upstream.url}, CPU ${RIG_CPU}`);

  // Start every case once; they stay up (idle when not measured) for the whole run.
  const ctxBase = { tmpRoot, upstream, gatewayEntry: opts.gatewayEntry, gatewayEntryB: opts.gatewayEntryB, gatewayEnv: opts.gatewayEnv, repoRoot };
  const running = new Map();
  const skipped = new Map();
  for (const kase of cases) {
    const reason = kase.skipReason(ctxBase);
    if (reason) {
      skipped.set(kase.name, reason);
      log(`${kase.name}: SKIPPED — ${reason}`);
      continue;
    }
    try {
      const r = await kase.start(ctxBase);
      running.set(kase.name, r);
      log(`${kase.name}: up on ${r.url} (pid ${r.pids.join(',') || '—'}, ${kase.cpus == null ? 'unpinned' : `CPU ${kase.cpus}`})`);
    } catch (e) {
      // The first line says what happened; the last line of the child's output usually says why.
      const lines = e.message.split('\n').map((l) => l.trim()).filter(Boolean);
      const why = lines.length > 1 ? ` … ${lines[lines.length - 1]}` : '';
      skipped.set(kase.name, `failed to start: ${lines[0]}${why}`.replace(/\|/g, '/'));
      log(`${kase.name}: FAILED to start — ${e.message}`);
    }
  }

  const result = {
    meta,
    options: { ...opts, tool, gatewayEntry: relative(repoRoot, opts.gatewayEntry), gatewayEntryB: opts.gatewayEntryB },
    notes: [...notes],
    scenarios: [],
  };
  for (const [name, reason] of skipped) result.notes.push(`${name} skipped: ${reason}`);

  for (const scenarioName of opts.scenarios) {
    const scenario = SCENARIOS[scenarioName];
    const selected = scenario.kind === 'fixed' && !opts.casesGiven
      ? cases.filter((c) => FIXED_DEFAULT_PRODUCTS.has(c.product))
      : cases;
    const s = { name: scenarioName, describe: scenario.describe, kind: scenario.kind, rate: opts.rate, notes: [], cases: [] };
    for (const kase of selected) {
      const entry = { name: kase.name, product: kase.product, workers: kase.workers, cpus: kase.cpus, describe: kase.describe, reps: [], skipped: skipped.get(kase.name) ?? null };
      if (!entry.skipped) entry.skipped = await sanityCheck(scenario, kase, running.get(kase.name));
      if (entry.skipped && !skipped.has(kase.name)) log(`${scenarioName}/${kase.name}: SKIPPED — ${entry.skipped}`);
      s.cases.push(entry);
    }
    const active = s.cases.filter((c) => !c.skipped);
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const entry of active) {
        if (entry.skipped) continue; // crashed in an earlier rep
        const kase = selected.find((k) => k.name === entry.name);
        const proc = running.get(kase.name);
        let r;
        // Every other proxy is frozen while this case is measured: idle cases still run
        // timers (and a tracing case exports its spans), and the 1-worker cases share CPU 1.
        const others = [...running.entries()].filter(([name]) => name !== kase.name).map(([, p]) => p);
        signalAll(others, 'SIGSTOP');
        try {
          r = await measureDisturbanceAware(scenario, kase, proc, { tool, opts, tmpDir: tmpRoot, upstream }, `${scenarioName} rep ${rep}/${opts.reps} ${kase.name}`);
        } catch (e) {
          s.notes.push(`${kase.name}, rep ${rep}: measurement failed: ${e.message.split('\n')[0]}`);
          log(`ERROR ${kase.name}, rep ${rep}: ${e.message}`);
        }
        signalAll(others, 'SIGCONT');
        if (!proc.alive()) {
          entry.skipped = `crashed during rep ${rep} (log: ${proc.logFile}; use --keep-tmp to keep it)`;
          s.notes.push(`${kase.name}: ${entry.skipped}${entry.reps.length ? '; figures are from the reps before' : ''}`);
          log(`ERROR ${kase.name} exited during rep ${rep}; its log ends with:\n${readTail(proc.logFile)}`);
          continue;
        }
        if (!r) continue;
        entry.reps.push(r);
        for (const w of repWarnings(kase, r, opts.connections, opts.maxOther)) {
          const note = `${kase.name}, rep ${rep}: ${w}`;
          s.notes.push(note);
          log(`WARNING ${note}`);
        }
      }
    }
    for (const c of s.cases) if (c.reps.length) c.summary = summarise(c.reps);
    addRatios(s);
    result.scenarios.push(s);
  }

  await Promise.all([...running.values()].map((r) => r.stop()));
  await upstream.stop();

  const md = toMarkdown(result);
  process.stdout.write(`${md}\n`);
  if (opts.write) {
    mkdirSync(opts.out, { recursive: true });
    const scenarios = opts.scenarios.join('+');
    const base = join(opts.out, `${timestamp(new Date(meta.date))}-${scenarios}`);
    const json = JSON.stringify(result, null, 2);
    const svg = toSvg(result);
    writeFileSync(`${base}.md`, md);
    writeFileSync(`${base}.json`, json);
    writeFileSync(`${base}.svg`, svg);
    // One "latest" per scenario set: a fixed-rate run must not replace the closed-loop table
    // that the README and docs/performance.md describe (bench/results/latest.md).
    const latest = scenarios === 'plain' ? 'latest' : `latest-${scenarios}`;
    writeFileSync(join(opts.out, `${latest}.md`), md);
    writeFileSync(join(opts.out, `${latest}.svg`), svg);
    log(`wrote ${relative(repoRoot, base)}.{md,json,svg}, ${latest}.md, ${latest}.svg`);
  }
  if (opts.keepTmp) log(`kept ${tmpRoot}`);
}

main().catch(async (e) => {
  process.stderr.write(`[bench] error: ${e.stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});
