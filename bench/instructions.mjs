/**
 * User-space instructions per request, counted by valgrind's callgrind: the measurement to
 * steer small changes by, where the load bench cannot see them (its req/s and CPU figures move
 * 10-20% from run to run on these shared machines; an instruction count repeats within ~1%).
 *
 * For each build (--gateway, and --gateway-b when given) and each case: start the upstream
 * nginx, start `valgrind --tool=callgrind node <gateway>` with the case's configuration (the
 * cases of bench/run.mjs: gateway-1w, gateway-1w-trace100, ...), send --warmup requests so V8
 * has compiled the hot path, then --reps times: zero the counters, send --requests requests
 * (h2load, --connections connections, 10 by default), dump. Reported: instructions per request (every thread of the
 * process, user space only: no kernel, no waiting), median and range of the reps.
 *
 * It counts work, not time: a change that moves work into the kernel, or makes the CPU wait on
 * memory, does not show here; the load bench (bench/run.mjs) says what a request costs.
 *
 * Usage (after `npm run build`; needs valgrind, nginx and h2load: apt-get install valgrind
 * nginx-light nghttp2-client):
 *   node bench/instructions.mjs [--cases gateway-1w,gateway-1w-trace100] [--gateway-b PATH]
 *                               [--requests 5000] [--warmup 20000] [--reps 5] [--keep DIR]
 *                               [--functions 30] [--connections 10]
 *
 * Case floor-1w[-thread] counts bench/floor/relay.mjs, the architecture's floor (docs/benchmarks.md),
 * and nginx-1w the bench's nginx proxy (one process, no master): each once whatever --gateway-b.
 *
 * --connections 1 sends one request at a time: every request then wakes the event loop alone,
 * as at a moderate fixed rate; the difference from the default shows the per-wake-up work.
 *
 * --keep DIR keeps each case's last rep's dump as DIR/<case>-<build>.callgrind, for
 * `callgrind_annotate` (functions by instructions; V8's generated code shows as addresses);
 * with --functions also the perf map and /proc/<pid>/maps that name those addresses
 * (`node bench/callers.mjs` lists who calls a function, by name).
 *
 * --functions N starts the gateway with `node --perf-basic-prof` and prints, for each case and
 * build, the N functions with the most instructions of their own per request in the last rep,
 * JavaScript named from the perf map (`*name` = optimized code). Where two builds run, a
 * column per build and their difference, to see what a change moved.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gatewayConfigYaml } from './lib/gateway-config.mjs';
import { installCleanup, freePort, sleep, startProcess, stopAll, usageOf, versionOf, which, waitReady } from './lib/proc.mjs';
import { floorArgs, GATEWAY_VARIANTS, gatewayEnv, nginxProxyBody } from './lib/proxies.mjs';
import { nginxArgs, nginxConf } from './lib/nginx.mjs';
import { dumpTotal, LAYERS, layerOf, mappingStarts, namedSelfCosts, readPerfMap } from './lib/callgrind.mjs';
import { startUpstream } from './lib/upstream.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'gateway-1w,gateway-1w-trace100' },
    gateway: { type: 'string' },
    'gateway-b': { type: 'string' },
    requests: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '20000' },
    reps: { type: 'string', default: '5' },
    keep: { type: 'string' },
    functions: { type: 'string' },
    connections: { type: 'string', default: '10' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${usageOf(import.meta.url)}\n`);
  process.exit(0);
}
for (const bin of ['valgrind', 'callgrind_control', 'nginx', 'h2load']) {
  if (!which(bin)) {
    process.stderr.write(`${bin} is not installed (apt-get install valgrind nginx-light nghttp2-client)\n`);
    process.exit(2);
  }
}

const builds = [['A', resolve(repoRoot, values.gateway ?? 'dist/cli/gateway.js')]];
if (values['gateway-b']) builds.push(['B', resolve(repoRoot, values['gateway-b'])]);
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const reps = Number(values.reps);
// --perf-basic-prof also turns on V8's log (isolate-*.log in the working directory): sent nowhere.
const perfFlags = values.functions ? ['--perf-basic-prof', '--no-logfile-per-isolate', '--logfile=/dev/null'] : [];

/**
 * A case: `start(dir, port, entry)` -> { argv, env } of the process to count; `readyPath` it
 * answers on when up; `request` (plainPath, headers) of the load; `node` (its generated code is
 * named by a perf map); `once` (the same whatever the build: counted for build A only).
 */
function caseOf(name) {
  if (name === 'nginx-1w') {
    return {
      name, once: true, node: false, readyPath: '/', request: {},
      // nginx as bench/run.mjs's nginx-1w, in one process (no master) so that one dump holds it all.
      start: async (dir, port) => ({
        argv: ['nginx', ...nginxArgs(dir, nginxConf(dir, { workers: 1, body: nginxProxyBody(port, upstream.port, 1) }), ' master_process off;')],
        env: process.env,
      }),
    };
  }
  if (name === 'floor-1w' || name === 'floor-1w-thread') {
    return {
      name, once: true, node: true, readyPath: '/', request: {},
      start: async (dir, port) => ({
        argv: [process.execPath, ...perfFlags, ...floorArgs(repoRoot, port, upstream.port, name === 'floor-1w-thread')],
        env: process.env,
      }),
    };
  }
  const m = /^gateway-1w(?:-([a-z0-9]+))?$/.exec(name);
  if (!m || !((m[1] ?? '') in GATEWAY_VARIANTS)) throw new Error(`unknown case '${name}' (gateway-1w, gateway-1w-<variant>, floor-1w[-thread] or nginx-1w of bench/run.mjs)`);
  const variant = GATEWAY_VARIANTS[m[1] ?? ''];
  return {
    name, once: false, node: true, readyPath: '/readyz', request: variant.request ?? {},
    async start(dir, port, entry) {
      const configPath = join(dir, 'gateway.yaml');
      writeFileSync(configPath, gatewayConfigYaml(upstream.url, variant.config));
      return { argv: [process.execPath, ...perfFlags, entry], env: await gatewayEnv({ upstream }, variant, 1, port, configPath) };
    },
  };
}
const cases = values.cases.split(',').map((c) => c.trim()).filter(Boolean).map(caseOf);

installCleanup();
const tmpRoot = mkdtempSync(join(tmpdir(), 'fengling-instr-'));
const log = (s) => process.stderr.write(`[instructions] ${s}\n`);
const upstream = await startUpstream(tmpRoot);
log(`upstream nginx on ${upstream.url}; ${requests} requests per rep after ${warmup} warm-up, ${reps} reps`);

function h2load(url, n, headers = {}) {
  const args = ['--h1', '-n', String(n), '-c', values.connections];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const out = execFileSync('h2load', [...args, url], { encoding: 'utf8', timeout: 600_000 });
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out);
  if (!done || Number(done[2]) !== n) throw new Error(`h2load: not all ${n} requests succeeded:\n${out}`);
}

/** The callgrind dump files of `prefix`, newest last. */
const dumps = (dir) => readdirSync(dir).filter((f) => f.startsWith('cg.') && /\.\d+$/.test(f)).map((f) => join(dir, f))
  .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);

const results = [];
/** `${case}|${build}` -> Map<function, self instructions of the last rep> (--functions). */
const functionCosts = new Map();
/** `${case}|${build}` -> Map<layer (callgrind.mjs LAYERS), self instructions of the last rep> (--functions). */
const layerCosts = new Map();
for (const c of cases) {
  // The floor and nginx are the same whatever the gateway build: counted once.
  for (const [label, entry] of c.once ? builds.slice(0, 1) : builds) {
    const dir = join(tmpRoot, `${c.name}-${label}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const { argv, env } = await c.start(dir, port, entry);
    const gw = startProcess(`${c.name} ${label}`, 'valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.%p')}`, ...argv], {
      env, cwd: repoRoot, logFile: join(dir, 'stdout.log'),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitReady(gw, `${url}${c.readyPath}`, 300_000);
    const path = c.request.plainPath ?? '/';
    const headers = c.request.headers ?? {};
    h2load(`${url}${path}`, warmup, headers);
    const perRequest = [];
    let lastDump = null;
    for (let rep = 0; rep < reps; rep++) {
      execFileSync('callgrind_control', ['-z', String(gw.pid)], { stdio: 'ignore' });
      h2load(`${url}${path}`, requests, headers);
      const before = dumps(dir).length;
      execFileSync('callgrind_control', ['-d', String(gw.pid)], { stdio: 'ignore' });
      let file = null;
      for (let i = 0; i < 100 && file === null; i++) {
        const all = dumps(dir);
        if (all.length > before && /^summary: /m.test(readFileSync(all[all.length - 1], 'utf8'))) file = all[all.length - 1];
        else await sleep(100);
      }
      if (file === null) throw new Error('callgrind wrote no dump');
      lastDump = file;
      const ir = dumpTotal(readFileSync(file, 'utf8'));
      perRequest.push(ir / requests);
      log(`${c.name} ${label} rep ${rep + 1}: ${Math.round(ir / requests).toLocaleString('en-US')} instructions per request`);
    }
    const procMaps = values.functions && c.node ? readFileSync(`/proc/${gw.pid}/maps`, 'utf8') : '';
    await gw.stop();
    if (values.functions) {
      const mapFile = c.node ? `/tmp/perf-${gw.pid}.map` : null;
      // One row per function across builds: paths relative to each build's root, no line:column
      // (a change above a function moves it).
      const root = `file://${resolve(dirname(entry), '../..')}/`;
      const costs = new Map();
      const layers = new Map(LAYERS.map((layer) => [layer, 0]));
      for (const [name, cost] of namedSelfCosts(readFileSync(lastDump, 'utf8'), readPerfMap(mapFile), mappingStarts(procMaps))) {
        const layer = layerOf(name);
        layers.set(layer, layers.get(layer) + cost);
        const key = name.startsWith('JS:') ? name.replace(root, '').replace(/:\d+:\d+$/, '') : name;
        costs.set(key, (costs.get(key) ?? 0) + cost);
      }
      functionCosts.set(`${c.name}|${label}`, costs);
      layerCosts.set(`${c.name}|${label}`, layers);
      if (values.keep) {
        // The names of generated code, to read the dump's callers and callees with.
        mkdirSync(values.keep, { recursive: true });
        if (mapFile) copyFileSync(mapFile, join(values.keep, `${c.name}-${label}.perf-map`));
        writeFileSync(join(values.keep, `${c.name}-${label}.proc-maps`), procMaps);
      }
      if (mapFile) rmSync(mapFile, { force: true });
    }
    if (values.keep) {
      mkdirSync(values.keep, { recursive: true });
      copyFileSync(lastDump, join(values.keep, `${c.name}-${label}.callgrind`));
    }
    const sorted = [...perRequest].sort((a, b) => a - b);
    results.push({ name: c.name, label, entry, median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] });
  }
}
await stopAll();
rmSync(tmpRoot, { recursive: true, force: true });

const commitOf = (entry) => versionOf('git', ['-C', dirname(entry), 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const lines = [
  `node bench/instructions.mjs --cases ${values.cases} --requests ${requests} --warmup ${warmup} --reps ${reps} --connections ${values.connections}`,
  ...builds.map(([label, entry]) => `build ${label}: ${entry} (commit ${commitOf(entry)})`),
  '',
  '| case | build | instructions per request (median) | range of the reps |',
  '|---|---|---:|---:|',
  ...results.map((r) => `| ${r.name} | ${r.label} | ${fmt(r.median)} | ${fmt(r.min)}-${fmt(r.max)} |`),
];
if (values.functions) {
  // Where each case's instructions go, by layer: the project's code against what the
  // architecture brings (docs/benchmarks.md, "The architecture's floor").
  const columns = cases.flatMap((c) => (c.once ? builds.slice(0, 1) : builds).map(([label]) => `${c.name}|${label}`));
  lines.push('', 'instructions per request by layer (last rep)', '',
    `| layer | ${columns.map((k) => k.replace('|', ' ')).join(' | ')} |`,
    `|---|${columns.map(() => '---:|').join('')}`,
    ...LAYERS.map((layer) => `| ${layer} | ${columns.map((k) => fmt(layerCosts.get(k).get(layer) / requests)).join(' | ')} |`),
    `| total | ${columns.map((k) => fmt([...layerCosts.get(k).values()].reduce((a, b) => a + b, 0) / requests)).join(' | ')} |`);
  const top = Number(values.functions);
  for (const c of cases) {
    const caseBuilds = c.once ? builds.slice(0, 1) : builds;
    const costs = caseBuilds.map(([label]) => functionCosts.get(`${c.name}|${label}`));
    const names = new Set();
    for (const m of costs) for (const [name] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) names.add(name);
    const perRequest = (m, name) => (m.get(name) ?? 0) / requests;
    const rows = [...names].sort((a, b) => Math.max(...costs.map((m) => perRequest(m, b))) - Math.max(...costs.map((m) => perRequest(m, a))));
    lines.push('', `${c.name}: instructions per request in the function itself (last rep)`, '',
      `| function | ${caseBuilds.map(([label]) => `build ${label}`).join(' | ')}${caseBuilds.length > 1 ? ' | B - A' : ''} |`,
      `|---|${caseBuilds.map(() => '---:|').join('')}${caseBuilds.length > 1 ? '---:|' : ''}`,
      ...rows.map((name) => {
        const v = costs.map((m) => perRequest(m, name));
        return `| ${name.replace(/\|/g, '\\|')} | ${v.map(fmt).join(' | ')}${v.length > 1 ? ` | ${fmt(v[1] - v[0])} |` : ' |'}`;
      }));
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
