#!/usr/bin/env node
/**
 * Propagation benchmark (npm run bench:propagation): 3 gateway instances x 2 workers on one
 * redis-server; changes are published through gatewayctl's code path (ControlPlaneStore from
 * dist/). For each change:
 *   served  = time from the commit (the Lua script publishes the message as it returns) until
 *             a request for the new route answers 200 on every instance, three times in a row
 *             on fresh connections (which the kernel spreads over the workers);
 *   acked   = time until every worker of every instance reports the version in the heartbeats.
 * Then the time to apply one route change with 100, 10,000 and 100,000 routes loaded, and the
 * figures each instance logs while it loads those snapshots (compile on piscina, diff, table
 * write, the primary's event-loop delay).
 *
 * Options (env): CHANGES (default 200), SIZES (default 100,10000,100000), SIZE_CHANGES (default 20).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { Redis } from 'ioredis';
import { ControlPlaneStore } from '../../dist/control-plane/store.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHANGES = Number(process.env.CHANGES ?? 200);
const SIZES = (process.env.SIZES ?? '100,10000,100000').split(',').map(Number);
const SIZE_CHANGES = Number(process.env.SIZE_CHANGES ?? 20);
const INSTANCES = 3;
const WORKERS = 2;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => {
  const s = netServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)];
  return { n: v.length, p50: at(0.5), p99: at(0.99), max: v[v.length - 1] };
}
const fmt = (s) => `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms (n=${s.n})`;

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  child.on('error', () => { console.error('redis-server is not on PATH'); process.exit(1); });
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await client.ping();
  return { port, url: `redis://127.0.0.1:${port}`, child, client };
}

function startGateway(redisUrl, id) {
  return freePort().then((port) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/gateway.js')], {
      env: {
        ...process.env, REDIS_URL: redisUrl, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', GATEWAY_WORKERS: String(WORKERS),
        GATEWAY_METRICS_PORT: '0', GATEWAY_INSTANCE_ID: id, GATEWAY_HEARTBEAT_TTL_MS: '3000', LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const logs = [];
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try { logs.push(JSON.parse(line)); } catch { /* not JSON */ }
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway ${id} exited with ${code}`)));
    resolve({ id, port, child, logs });
  }));
}

const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1, connections: 64 });
async function statusOf(port, path) {
  try {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: fresh, reset: true });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

/** ms until `path` answers 200 three times in a row on every gateway. */
async function timeServed(gateways, path, t0, timeoutMs = 30_000) {
  const streak = new Map(gateways.map((g) => [g.port, 0]));
  for (;;) {
    await Promise.all(gateways.map(async (g) => {
      if (streak.get(g.port) >= 3) return;
      streak.set(g.port, (await statusOf(g.port, path)) === 200 ? streak.get(g.port) + 1 : 0);
    }));
    if ([...streak.values()].every((n) => n >= 3)) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${path} not served within ${timeoutMs} ms`);
  }
}

async function timeAcked(store, ids, version, t0, timeoutMs = 60_000) {
  for (;;) {
    const beats = await store.instances();
    const done = ids.every((id) => {
      const b = beats.find((x) => x.id === id);
      return b && b.workers.length === WORKERS && b.workers.every((w) => w.appliedVersion >= version);
    });
    if (done) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`version ${version} not acknowledged within ${timeoutMs} ms`);
    await sleep(1);
  }
}

function route(id, path) {
  return { id, cluster: 'backend', match: { path } };
}

async function main() {
  const upstream = createServer((req, res) => res.end('ok'));
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = upstream.address().port;
  const redis = await startRedis();
  const store = new ControlPlaneStore(redis.client, { writer: 'bench' });
  const cluster = { id: 'backend', destinations: [{ id: 'u', address: `http://127.0.0.1:${upstreamPort}` }] };
  await store.update(() => ({ routes: [route('stable', '/stable')], clusters: [cluster] }));
  const gateways = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => startGateway(redis.url, `bench-${i}`)));
  const ids = gateways.map((g) => g.id);
  await timeServed(gateways, '/stable', performance.now());
  const lines = [];
  const say = (l) => { console.log(l); lines.push(l); };
  say(`# Propagation benchmark, ${new Date().toISOString()}`);
  say('');
  say(`${INSTANCES} instances x ${WORKERS} workers, one redis-server, loopback; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); node ${process.version}`);
  say('');

  // 1. Propagation of single-route changes.
  let current = await store.read();
  const served = [];
  const acked = [];
  for (let i = 0; i < CHANGES; i++) {
    const r = route(`c${i}`, `/c/${i}`);
    const next = { ...current.config, routes: [...current.config.routes, r] };
    const change = { upsertRoutes: [r], deleteRoutes: [], upsertClusters: [], deleteClusters: [] };
    const undo = { upsertRoutes: [], deleteRoutes: [r.id], upsertClusters: [], deleteClusters: [] };
    const result = await store.commit(current, next, { change, undo });
    const t0 = performance.now();
    if (!result.ok) throw new Error('conflict');
    served.push(await timeServed(gateways, `/c/${i}`, t0));
    acked.push(await timeAcked(store, ids, result.version, t0));
    current = { ...current, epoch: result.epoch, version: result.version, config: next };
  }
  say(`## ${CHANGES} changes published through ControlPlaneStore (gatewayctl's code path)`);
  say('');
  say(`- served on every instance (3 fresh connections in a row each): ${fmt(stats(served))}`);
  say(`- acknowledged by every worker (heartbeats): ${fmt(stats(acked))}`);
  say('');

  // 2. One route change with N routes loaded.
  say('## One route change with N routes loaded');
  say('');
  say('| routes loaded | snapshot load: compile on piscina (ms) | diff (ms) | table write (ms) | primary event-loop delay max / p99 (ms) | one-route change served p50 / p99 / max |');
    
  say('|---|---|---|---|---|---|');
  for (const size of SIZES) {
    const bulk = Array.from({ length: size }, (_, i) => route(`b${i}`, `/bulk/${i}/{**rest}`));
    const config = { routes: [route('stable', '/stable'), ...bulk], clusters: [cluster] };
    const before = gateways.map((g) => g.logs.length);
    const loadResult = await store.commit(current, config);
    if (!loadResult.ok) throw new Error('conflict');
    current = { epoch: loadResult.epoch, version: loadResult.version, config, errors: [] };
    await timeAcked(store, ids, loadResult.version, performance.now(), 300_000);
    for (const l of gateways.flatMap((g, i) => g.logs.slice(before[i]).filter((x) => x.msg === 'resynced from the snapshot'))) console.error(JSON.stringify(l));
    const loads = gateways.map((g, i) => g.logs.slice(before[i]).find((l) => l.msg === 'resynced from the snapshot' && l.version === loadResult.version)).filter(Boolean);
    const worst = (k) => (loads.length === 0 ? 'n/a (inline patch)' : Math.max(...loads.map((l) => l[k] ?? 0)));
    const times = [];
    for (let i = 0; i < SIZE_CHANGES; i++) {
      const r = route(`s${size}-${i}`, `/s/${size}/${i}`);
      const next = { ...current.config, routes: [...current.config.routes, r] };
      const result = await store.commit(current, next, {
        change: { upsertRoutes: [r], deleteRoutes: [], upsertClusters: [], deleteClusters: [] },
        undo: { upsertRoutes: [], deleteRoutes: [r.id], upsertClusters: [], deleteClusters: [] },
      });
      const t0 = performance.now();
      times.push(await timeServed(gateways, `/s/${size}/${i}`, t0));
      current = { ...current, version: result.version, config: next };
    }
    const s = stats(times);
    say(`| ${size.toLocaleString('en')} | ${worst('compiledMs')} | ${worst('diffMs')} | ${worst('tableWriteMs')} | ${worst('eventLoopDelayMaxMs')} / ${worst('eventLoopDelayP99Ms')} | ${s.p50.toFixed(2)} / ${s.p99.toFixed(2)} / ${s.max.toFixed(2)} ms |`);
  }
  say('');
  say('Snapshot-load columns: the worst of the three instances, from their `resynced from the snapshot` log lines.');
  say('A snapshot this large travels without its change on the channel (MAX_INLINE_CHANGE_BYTES), so every instance resyncs.');

  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `propagation-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}Z.md`);
  writeFileSync(file, lines.join('\n') + '\n');
  console.log(`\nwritten: ${file}`);

  for (const g of gateways) g.child.kill('SIGTERM');
  await sleep(500);
  redis.client.disconnect();
  redis.child.kill('SIGKILL');
  upstream.close();
  await fresh.close();
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
