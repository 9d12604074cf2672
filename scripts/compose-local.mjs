#!/usr/bin/env node
/**
 * The compose stack without Docker: reads docker/compose.yaml and docker/Dockerfile and starts
 * the same services as local processes on 127.0.0.1, waits until the gateways are ready (with
 * the image's own HEALTHCHECK command), sends requests through every gateway, prints a summary
 * and stops everything.
 *
 *   node scripts/compose-local.mjs            # start, check, summary, stop (exit 0 = all good)
 *   node scripts/compose-local.mjs --keep     # ... and keep running until Ctrl-C
 *   node scripts/compose-local.mjs --no-prometheus
 *
 * Needs `npm run build` (dist/) and redis-server/redis-cli on PATH; Prometheus runs when a
 * `prometheus` binary is on PATH and is skipped with a note otherwise.
 *
 * How a container becomes a process (what Docker would do, done by hand):
 * - our image (services with `build:`): the Dockerfile's ENV, then the service's
 *   `environment`; the service's `command`, else the Dockerfile's CMD; cwd = the repository
 *   root (the image's WORKDIR holds the same dist/ and config/); `node` = this node;
 * - other images: IMAGES below names the local program and the changes a host needs;
 * - every exposed container port gets a free host port: `service:port` in any argument,
 *   variable or mounted text file becomes `127.0.0.1:hostPort`, and a `*PORT` variable or a
 *   `--port`/`-p` argument naming the service's own exposed port becomes the host port;
 * - a `*HOST` variable of 0.0.0.0 becomes 127.0.0.1 (nothing listens beyond loopback);
 * - bind mounts are copied to a temporary folder with those rewrites; named volumes and the
 *   image's VOLUMEs are empty temporary folders;
 * - depends_on conditions are honoured (service_healthy runs the healthcheck command,
 *   service_completed_successfully waits for exit 0). Restart policies are not.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const COMPOSE_FILE = join(ROOT, 'docker', 'compose.yaml');
export const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile');

/** Third-party images: the local program that plays the image's entrypoint, and host changes. */
const IMAGES = [
  {
    image: /^redis:/,
    program: 'redis-server',
    entrypoint: [],
    local: (args, ctx) => [...args, '--bind', '127.0.0.1', '--dir', ctx.scratch],
  },
  {
    image: /^prom\/prometheus:/,
    program: 'prometheus',
    entrypoint: ['prometheus'],
    local: (args, ctx) => args.map((a) => a.startsWith('--storage.tsdb.path=') ? `--storage.tsdb.path=${ctx.scratch}` : a),
  },
];

// ---------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------

/**
 * The runtime (last) stage of a Dockerfile: WORKDIR, ENV, VOLUME, EXPOSE, CMD and the
 * HEALTHCHECK command. CMD and HEALTHCHECK must be exec form (a JSON array): a shell form
 * would put /bin/sh between the runtime and node, and SIGTERM would not reach node.
 */
export function parseDockerfile(text) {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let stage = null;
  for (const line of lines) {
    const [, instruction, rest] = /^(\S+)\s*(.*)$/.exec(line);
    const op = instruction.toUpperCase();
    if (op === 'FROM') {
      stage = { from: rest, workdir: '/', env: {}, volumes: [], expose: [], cmd: null, cmdForm: null, healthcheck: null, user: null, stopSignal: null };
      continue;
    }
    if (stage === null) continue;
    switch (op) {
      case 'WORKDIR': stage.workdir = rest; break;
      case 'USER': stage.user = rest; break;
      case 'STOPSIGNAL': stage.stopSignal = rest; break;
      case 'EXPOSE': stage.expose.push(...rest.split(/\s+/).map((p) => p.replace(/\/tcp$/, ''))); break;
      case 'VOLUME': stage.volumes.push(...(rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/))); break;
      case 'ENV':
        for (const m of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
          stage.env[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
        }
        break;
      case 'CMD':
        stage.cmdForm = rest.startsWith('[') ? 'exec' : 'shell';
        stage.cmd = stage.cmdForm === 'exec' ? JSON.parse(rest) : ['/bin/sh', '-c', rest];
        break;
      case 'HEALTHCHECK': {
        const m = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(rest);
        if (m === null) { stage.healthcheck = null; break; }
        const options = Object.fromEntries([...m[1].matchAll(/--([a-z-]+)=(\S+)/g)].map((o) => [o[1], o[2]]));
        stage.healthcheck = { options, test: m[2].startsWith('[') ? JSON.parse(m[2]) : ['/bin/sh', '-c', m[2]] };
        break;
      }
      default: break;
    }
  }
  if (stage === null) throw new Error('no FROM in the Dockerfile');
  return stage;
}

// ---------------------------------------------------------------------------------------
// Compose file -> process specifications
// ---------------------------------------------------------------------------------------

export function loadCompose(file = COMPOSE_FILE) {
  return parseYaml(readFileSync(file, 'utf8'), { merge: true });
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

function onPath(program) {
  return spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).status === 0;
}

/** Services in an order where every service comes after the ones it depends on. */
function startOrder(services) {
  const order = [];
  const seen = new Set();
  const visit = (name, trail) => {
    if (seen.has(name)) return;
    if (trail.includes(name)) throw new Error(`depends_on cycle: ${[...trail, name].join(' -> ')}`);
    for (const dep of Object.keys(dependsOn(services[name]))) visit(dep, [...trail, name]);
    seen.add(name);
    order.push(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
  return order;
}

/** depends_on as { service: condition }, from either of its two compose forms. */
function dependsOn(service) {
  const d = service.depends_on ?? {};
  return Array.isArray(d) ? Object.fromEntries(d.map((n) => [n, 'service_started'])) : Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v?.condition ?? 'service_started']));
}

/**
 * Plans every service: argv, env, cwd, healthcheck, and the rewrites above. Allocates the
 * host ports and temporary folders; starts nothing.
 */
export async function planStack({ compose = loadCompose(), dockerfile = parseDockerfile(readFileSync(DOCKERFILE, 'utf8')), scratch, prometheus = 'auto' } = {}) {
  const services = compose.services;
  const ports = new Map(); // "service:containerPort" -> hostPort
  for (const [name, svc] of Object.entries(services)) {
    for (const p of svc.expose ?? []) ports.set(`${name}:${p}`, await freePort());
  }
  const names = Object.keys(services).map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const hostPortRe = new RegExp(`(?<![\\w.-])(${names}):(\\d+)\\b`, 'g');
  const rewriteHosts = (s) => s.replace(hostPortRe, (all, svc, p) => (ports.has(`${svc}:${p}`) ? `127.0.0.1:${ports.get(`${svc}:${p}`)}` : all));

  const composeDir = dirname(COMPOSE_FILE);
  const plans = [];
  const skipped = [];
  for (const name of startOrder(services)) {
    const svc = services[name];
    const own = (p) => ports.get(`${name}:${p}`);
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });

    // Mounts: container path -> local path.
    const mounts = [];
    const ours = svc.build !== undefined;
    if (ours) {
      for (const v of dockerfile.volumes) {
        const local = join(dir, `volume${v.replaceAll('/', '_')}`);
        mkdirSync(local, { recursive: true });
        mounts.push([v, local]);
      }
    }
    for (const spec of svc.volumes ?? []) {
      const [source, target] = String(spec).split(':');
      let local;
      if (source.startsWith('.') || source.startsWith('/')) {
        local = join(dir, `mount${target.replaceAll('/', '_')}`);
        copyRewritten(resolve(composeDir, source), local, rewriteHosts);
      } else {
        local = join(dir, `volume-${source}`);
        mkdirSync(local, { recursive: true });
      }
      const at = mounts.findIndex(([t]) => t === target);
      if (at >= 0) mounts.splice(at, 1);
      mounts.push([target, local]);
    }
    const rewritePaths = (s) => {
      for (const [target, local] of mounts) {
        if (s === target || s.startsWith(`${target}/`)) return local + s.slice(target.length);
        const eq = s.indexOf(`=${target}`);
        if (eq >= 0 && (s.length === eq + 1 + target.length || s[eq + 1 + target.length] === '/')) return s.slice(0, eq + 1) + local + s.slice(eq + 1 + target.length);
      }
      return s;
    };
    const rewrite = (s) => rewritePaths(rewriteHosts(String(s)));

    // Environment.
    const env = {};
    for (const [k, v] of Object.entries({ ...(ours ? dockerfile.env : {}), ...normaliseEnv(svc.environment) })) {
      let value = rewrite(v);
      if (/PORT$/.test(k) && own(value) !== undefined) value = String(own(value));
      if (/HOST$/.test(k) && value === '0.0.0.0') value = '127.0.0.1';
      env[k] = value;
    }
    const rewriteArgs = (args) => args.map((a, i) => {
      const s = String(a);
      if ((args[i - 1] === '--port' || args[i - 1] === '-p') && own(s) !== undefined) return String(own(s));
      const listen = /^(--[\w.-]+=):(\d+)$/.exec(s);
      if (listen && own(listen[2]) !== undefined) return `${listen[1]}127.0.0.1:${own(listen[2])}`;
      return rewrite(s);
    });

    // Command.
    let argv;
    let program;
    let healthcheck = null;
    if (ours) {
      argv = rewriteArgs(svc.command ?? dockerfile.cmd);
      program = argv[0];
      if (svc.healthcheck?.disable !== true) {
        healthcheck = svc.healthcheck?.test ? rewriteArgs(composeTest(svc.healthcheck.test)) : (dockerfile.healthcheck ? rewriteArgs(dockerfile.healthcheck.test) : null);
      }
    } else {
      const image = IMAGES.find((i) => i.image.test(svc.image));
      if (!image) throw new Error(`service ${name}: no local program for image ${svc.image} (add it to IMAGES in scripts/compose-local.mjs)`);
      program = image.program;
      if (!onPath(program) || (program === 'prometheus' && prometheus === false)) {
        skipped.push({ name, why: prometheus === false && program === 'prometheus' ? 'turned off (--no-prometheus)' : `${program} is not on PATH` });
        continue;
      }
      argv = image.local(rewriteArgs([...image.entrypoint, ...(svc.command ?? [])]), { scratch: dir });
      if (argv[0] !== program) argv.unshift(program);
      if (svc.healthcheck?.test && svc.healthcheck.disable !== true) healthcheck = rewriteArgs(composeTest(svc.healthcheck.test));
    }
    if (argv[0] === 'node') argv = [process.execPath, ...argv.slice(1)];
    if (healthcheck?.[0] === 'node') healthcheck = [process.execPath, ...healthcheck.slice(1)];
    plans.push({
      name, argv, env, cwd: ROOT, healthcheck, dependsOn: dependsOn(svc), dir,
      gateway: ours && svc.command === undefined,
      ports: Object.fromEntries((svc.expose ?? []).map((p) => [String(p), own(p)])),
    });
  }
  // A skipped service cannot be waited for: drop it from the others' depends_on.
  const planned = new Set(plans.map((p) => p.name));
  for (const p of plans) for (const dep of Object.keys(p.dependsOn)) if (!planned.has(dep)) delete p.dependsOn[dep];
  return { plans, skipped, ports };
}

function normaliseEnv(environment) {
  if (!environment) return {};
  if (Array.isArray(environment)) return Object.fromEntries(environment.map((e) => { const i = e.indexOf('='); return [e.slice(0, i), e.slice(i + 1)]; }));
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** A compose healthcheck `test` as argv: ["CMD", ...] runs as is, ["CMD-SHELL", s] under sh. */
function composeTest(test) {
  if (typeof test === 'string') return ['sh', '-c', test];
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['sh', '-c', test[1]];
  throw new Error(`healthcheck test ${JSON.stringify(test)} is not supported`);
}

/** Copy a file or folder, rewriting `service:port` in the text files. */
function copyRewritten(source, target, rewrite) {
  if (statSync(source).isDirectory()) {
    mkdirSync(target, { recursive: true });
    for (const entry of readdirSync(source)) copyRewritten(join(source, entry), join(target, entry), rewrite);
    return;
  }
  if (/\.(ya?ml|json|mjs|js|conf|txt)$/.test(source)) writeFileSync(target, rewrite(readFileSync(source, 'utf8')));
  else cpSync(source, target);
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function runOnce(argv, { env, cwd, timeoutMs }) {
  return new Promise((resolveRun) => {
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); resolveRun({ code: -1, out: String(err) }); });
    child.once('close', (code) => { clearTimeout(timer); resolveRun({ code, out }); });
  });
}

/**
 * Starts the stack; resolves once every service is started and every service with a
 * healthcheck is healthy. Always call `stop()` (also after a rejection: use `stack.stop`
 * from the `onStack` callback, which is called before anything starts).
 */
export async function startStack({ log = () => {}, prometheus = 'auto', readyTimeoutMs = 45_000, onStack } = {}) {
  const scratch = mkdtempSync(join(tmpdir(), 'fengling-compose-local-'));
  const procs = new Map(); // name -> { child, exited, logFile }
  let stopping = false;
  const stack = {
    scratch,
    plans: [],
    skipped: [],
    procs,
    plan: (name) => stack.plans.find((p) => p.name === name),
    url: (name, port) => `http://127.0.0.1:${stack.plan(name).ports[String(port)]}`,
    async stop({ keepFiles = false } = {}) {
      stopping = true;
      for (const name of [...procs.keys()].reverse()) {
        const { child, exited } = procs.get(name);
        if (child.exitCode !== null || child.signalCode !== null) continue;
        child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
        if (!done) { child.kill('SIGKILL'); await exited; }
      }
      if (!keepFiles) rmSync(scratch, { recursive: true, force: true });
    },
    logOf: (name) => { try { return readFileSync(join(scratch, name, 'output.log'), 'utf8'); } catch { return ''; } },
  };
  onStack?.(stack);
  const { plans, skipped } = await planStack({ scratch, prometheus });
  stack.plans = plans;
  stack.skipped = skipped;
  for (const s of skipped) log(`skip ${s.name}: ${s.why}`);

  const deadline = Date.now() + readyTimeoutMs;
  const healthy = new Map();
  const waitHealthy = (plan) => {
    if (!healthy.has(plan.name)) {
      healthy.set(plan.name, (async () => {
        for (;;) {
          const r = await runOnce(plan.healthcheck, { env: plan.env, cwd: plan.cwd, timeoutMs: 3_000 });
          if (r.code === 0) return;
          if (procs.get(plan.name).child.exitCode !== null) throw new Error(`${plan.name} exited (${procs.get(plan.name).child.exitCode}) before it was healthy:\n${stack.logOf(plan.name).slice(-2000)}`);
          if (Date.now() > deadline) throw new Error(`${plan.name} not healthy within ${readyTimeoutMs} ms (last check: ${r.out.trim() || `exit ${r.code}`}):\n${stack.logOf(plan.name).slice(-2000)}`);
          await sleep(200);
        }
      })());
    }
    return healthy.get(plan.name);
  };

  for (const plan of plans) {
    for (const [dep, condition] of Object.entries(plan.dependsOn)) {
      const depPlan = stack.plan(dep);
      if (condition === 'service_healthy' && depPlan.healthcheck) await waitHealthy(depPlan);
      if (condition === 'service_completed_successfully') {
        const code = await Promise.race([procs.get(dep).exited, sleep(Math.max(0, deadline - Date.now())).then(() => 'timeout')]);
        if (code !== 0) throw new Error(`${dep} did not complete successfully (${code}):\n${stack.logOf(dep).slice(-2000)}`);
      }
    }
    if (stopping) throw new Error('stopped');
    const logFile = join(plan.dir, 'output.log');
    const out = createWriteStream(logFile);
    const child = spawn(plan.argv[0], plan.argv.slice(1), { env: { ...process.env, ...plan.env }, cwd: plan.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    const exited = new Promise((r) => {
      child.once('error', (err) => { out.write(`spawn failed: ${err}\n`); r(-1); });
      child.once('exit', (code, signal) => r(code ?? signal));
    });
    procs.set(plan.name, { child, exited, logFile });
    log(`start ${plan.name}: ${plan.argv.map((a) => a.replace(ROOT + '/', '')).join(' ').slice(0, 160)}${Object.keys(plan.ports).length ? `  (ports ${Object.entries(plan.ports).map(([c, h]) => `${c}->${h}`).join(', ')})` : ''}`);
  }
  await Promise.all(plans.filter((p) => p.healthcheck).map(waitHealthy));
  return stack;
}

// ---------------------------------------------------------------------------------------
// Checks: traffic through every gateway, versions, Prometheus
// ---------------------------------------------------------------------------------------

/** Prometheus text -> value of an unlabelled family (or undefined). */
function metricValue(text, family) {
  const m = new RegExp(`^${family}(?:\\{\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Sends `perPath` requests per path through every gateway (127.0.0.1 only), reads each
 * gateway's fengling_config_version and `gatewayctl status`, and Prometheus's view when it runs.
 */
export async function checkStack(stack, { perPath = 5, paths = ['/api/users/1', '/api/orders/2', '/'] } = {}) {
  const gateways = stack.plans.filter((p) => p.gateway);
  const report = { gateways: [], status: null, health: {}, destinations: [], prometheus: null };
  for (const gw of gateways) {
    const traffic = gw.ports[gw.env.GATEWAY_PORT] ? gw.env.GATEWAY_PORT : Object.values(gw.ports)[0];
    const base = `http://127.0.0.1:${gw.env.GATEWAY_PORT ?? traffic}`;
    const entry = { name: gw.name, url: base, requests: 0, ok: 0, byService: {}, failures: [], configVersion: undefined, workerVersions: [] };
    for (const path of paths) {
      for (let i = 0; i < perPath; i++) {
        entry.requests++;
        try {
          const r = await fetch(base + path, { signal: AbortSignal.timeout(5_000) });
          const body = await r.text();
          const service = r.headers.get('x-demo-service') ?? '(none)';
          entry.byService[service] = (entry.byService[service] ?? 0) + 1;
          if (r.status === 200) entry.ok++;
          else entry.failures.push(`${path}: ${r.status} ${body.slice(0, 200)}`);
        } catch (err) {
          entry.failures.push(`${path}: ${err.message}`);
        }
      }
    }
    if (gw.env.GATEWAY_METRICS_PORT && gw.env.GATEWAY_METRICS_PORT !== '0') {
      const text = await (await fetch(`http://127.0.0.1:${gw.env.GATEWAY_METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      entry.configVersion = metricValue(text, 'fengling_config_version');
      entry.workerVersions = [...text.matchAll(/^fengling_worker_config_version\{worker="(\d+)"\} (\S+)$/gm)].map((m) => Number(m[2]));
    }
    report.gateways.push(entry);
  }
  const console = stack.plans.find((p) => p.argv.some((a) => a.endsWith('gatewayctl.js')));
  if (console) {
    const ctl = console.argv.find((a) => a.endsWith('gatewayctl.js'));
    const ctlRun = (...args) => runOnce([process.execPath, ctl, ...args], { env: console.env, cwd: ROOT, timeoutMs: 10_000 });
    const r = await ctlRun('status', '-o', 'json');
    try { report.status = JSON.parse(r.out); } catch { report.status = { error: r.out.trim() }; }
    // The console's health watch reports each destination after --rise successful probes.
    const config = JSON.parse((await ctlRun('get', '-o', 'json')).out);
    const destinations = config.clusters.flatMap((c) => c.destinations.map((d) => `${c.id}/${d.id}`));
    const until = Date.now() + 15_000;
    for (;;) {
      const list = (await ctlRun('health', 'list')).out.trim().split('\n').filter((l) => / (up|down) /.test(l));
      report.health = Object.fromEntries(list.map((l) => l.split(/\s+/).slice(0, 2)));
      if (destinations.every((d) => d in report.health) || Date.now() > until) break;
      await sleep(500);
    }
    report.destinations = destinations;
  }
  const prom = stack.plans.find((p) => p.argv[0] === 'prometheus');
  if (prom) {
    const base = `http://127.0.0.1:${Object.values(prom.ports)[0]}`;
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        const targets = await (await fetch(`${base}/api/v1/targets`, { signal: AbortSignal.timeout(3_000) })).json();
        const rules = await (await fetch(`${base}/api/v1/rules`, { signal: AbortSignal.timeout(3_000) })).json();
        const active = targets.data.activeTargets.map((t) => ({ instance: t.labels.instance, health: t.health, error: t.lastError }));
        const groups = rules.data.groups.map((g) => ({ name: g.name, rules: g.rules.length, unhealthy: g.rules.filter((r) => r.health !== 'ok' && r.health !== 'unknown').map((r) => `${r.name}: ${r.lastError}`) }));
        report.prometheus = { url: base, targets: active, groups };
        if ((active.length > 0 && active.every((t) => t.health === 'up')) || Date.now() > until) break;
      } catch (err) {
        report.prometheus = { url: base, error: err.message };
        if (Date.now() > until) break;
      }
      await sleep(500);
    }
  }
  return report;
}

export function formatReport(stack, report) {
  const lines = ['', 'compose-local summary'];
  for (const s of stack.skipped) lines.push(`  ${s.name}: skipped (${s.why})`);
  for (const g of report.gateways) {
    lines.push(`  ${g.name} ${g.url}: ${g.ok}/${g.requests} answered 200, by upstream ${JSON.stringify(g.byService)}, config version ${g.configVersion ?? '?'} (workers ${g.workerVersions.join(', ') || '?'})`);
    for (const f of g.failures.slice(0, 5)) lines.push(`    failed: ${f}`);
  }
  if (report.status?.instances) {
    lines.push(`  gatewayctl status: Redis at version ${report.status.redis?.version}; ${report.status.instances.map((i) => `${i.id} v${i.appliedVersion}${i.drift.length ? ` DRIFT ${i.drift.join(', ')}` : ''}`).join('; ')}`);
  } else if (report.status) {
    lines.push(`  gatewayctl status: ${JSON.stringify(report.status)}`);
  }
  if (report.destinations.length) {
    lines.push(`  console health: ${report.destinations.map((d) => `${d}=${report.health[d] ?? 'not reported'}`).join(', ')}`);
  }
  if (report.prometheus) {
    const p = report.prometheus;
    lines.push(p.error ? `  prometheus ${p.url}: ${p.error}` : `  prometheus ${p.url}: targets ${p.targets.map((t) => `${t.instance}=${t.health}`).join(', ')}; rule groups ${p.groups.map((g) => `${g.name}(${g.rules}${g.unhealthy.length ? `, unhealthy: ${g.unhealthy.join('; ')}` : ''})`).join(', ')}`);
  }
  return lines.join('\n');
}

/** True when every gateway answered every request with 200 and all report one config version. */
export function reportPasses(report) {
  const versions = new Set(report.gateways.map((g) => g.configVersion));
  return report.gateways.length >= 2 && report.gateways.every((g) => g.failures.length === 0 && g.ok === g.requests && g.workerVersions.every((v) => v === g.configVersion))
    && versions.size === 1 && !versions.has(undefined);
}

// ---------------------------------------------------------------------------------------

async function main(argv) {
  const keep = argv.includes('--keep');
  const prometheus = argv.includes('--no-prometheus') ? false : 'auto';
  let stack;
  const stopOnce = async (code) => {
    if (stack) await stack.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void stopOnce(130));
  process.once('SIGTERM', () => void stopOnce(143));
  try {
    await startStack({ log: (l) => console.log(l), prometheus, onStack: (s) => { stack = s; } });
    const report = await checkStack(stack);
    console.log(formatReport(stack, report));
    const ok = reportPasses(report);
    console.log(ok ? '\nOK: every request passed through every gateway; all report the same configuration version' : '\nFAILED (logs: ' + stack.scratch + ')');
    if (keep) {
      console.log('\n--keep: running until Ctrl-C. Gateways: ' + report.gateways.map((g) => g.url).join(' ') + (report.prometheus ? `  Prometheus: ${report.prometheus.url}` : ''));
      await new Promise(() => {});
    }
    if (stack) await stack.stop({ keepFiles: !ok });
    process.exit(ok ? 0 : 1);
  } catch (err) {
    console.error(`compose-local: ${err.message}`);
    if (stack) {
      console.error(`logs kept in ${stack.scratch}`);
      await stack.stop({ keepFiles: true });
    }
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
