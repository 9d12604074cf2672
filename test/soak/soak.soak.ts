/**
 * Soak: `npm run test:soak` (not part of `npm test`). SOAK_SECONDS (default 600) of paced
 * keep-alive traffic (SOAK_RATE, default 500 req/s) through two instances of two workers
 * sharing one real redis-server, with a configuration change every second (route, cluster and
 * destination edits in turn, on the route that carries the traffic) and Redis killed and
 * restarted with its data in the middle.
 *
 * What must hold: zero failed requests; each instance's RSS at the end within RSS_GROWTH of
 * its level after warm-up; no growth in open file descriptors; both instances on the last
 * version at the end. The summary is printed and written to bench/results/soak-latest.md.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import type { ControlPlaneStore } from '../../src/control-plane/store.js';
import {
  sleep, startRedis, startRedisGateway, waitConverged, waitFor, writer, type RedisServer,
} from '../control-plane/support.js';
import type { GatewayProcess } from '../support/gateway.js';
import { startLoad } from '../support/load.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 500);
/** Samples before this are warm-up; the reference level is the median of the next WINDOW. */
const WARMUP_MS = Math.min(60_000, SECONDS * 100);
const WINDOW_MS = Math.min(30_000, SECONDS * 100);
const SAMPLE_MS = 2_000;
const REDIS_DOWN_MS = Math.min(10_000, SECONDS * 50);
/** Allowed RSS growth from the warm level to the end level, and fd growth (slack for pooled sockets). */
const RSS_GROWTH = 0.10;
const FD_SLACK = 8;
const REPORT = new URL('../../bench/results/soak-latest.md', import.meta.url);

interface Sample { readonly at: number; readonly rssKiB: number; readonly fds: number }

function sampleProcess(pid: number, at: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
  return { at, rssKiB, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * The configuration after k changes. Each change moves exactly one thing, in turn: a route
 * edit (k % 3 = 1: a response header on the traffic route, and a side route that comes and
 * goes), a cluster edit (k % 3 = 2: the balancing policy of the traffic cluster), a
 * destination edit (k % 3 = 0: a third destination comes and goes, the second's weight moves).
 */
function configAt(k: number, ports: readonly number[]): GatewayConfig {
  const policies = ['round-robin', 'least-requests', 'power-of-two-choices', 'weighted-round-robin'] as const;
  const routeEdits = Math.floor((k + 2) / 3);
  const clusterEdits = Math.floor((k + 1) / 3);
  const destinationEdits = Math.floor(k / 3);
  return {
    routes: [
      { id: 'soak', cluster: 'soak', match: { path: '/soak/{**rest}' }, transforms: [{ responseHeader: 'x-soak-route', set: String(routeEdits) }] },
      ...(routeEdits % 2 === 0 ? [{ id: 'side', cluster: 'soak', match: { path: '/side/{**rest}' } }] : []),
    ],
    clusters: [{
      id: 'soak', loadBalancing: policies[clusterEdits % policies.length],
      destinations: [
        { id: 'u0', address: `http://127.0.0.1:${ports[0]}` },
        { id: 'u1', address: `http://127.0.0.1:${ports[1]}`, weight: 1 + (destinationEdits % 4) },
        ...(destinationEdits % 2 === 1 ? [{ id: 'u2', address: `http://127.0.0.1:${ports[2]}` }] : []),
      ],
    }],
  };
}

describe('soak', () => {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;
  const upstreams: Upstream[] = [];
  const gateways: GatewayProcess[] = [];

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    client?.disconnect();
    await redis?.stop();
    for (const u of upstreams) await u.close();
  });

  it(`soak_${SECONDS}s_twoInstancesOfTwoWorkers_configChangeEverySecond_redisRestartMidway_zeroFailures_noGrowth`, async () => {
    redis = await startRedis({ persistent: true });
    for (let i = 0; i < 3; i++) upstreams.push(await startUpstream((_req, res) => res.end('ok')));
    const ports = upstreams.map((u) => u.port);
    let store: ControlPlaneStore;
    ({ store, client } = writer(redis));
    await store.update(() => configAt(0, ports));
    for (const id of ['soak-a', 'soak-b']) gateways.push(await startRedisGateway(redis, { id, workers: 2 }));

    const started = Date.now();
    const load = startLoad(gateways.flatMap((g) => Array.from({ length: 8 }, () => `${g.url}/soak/x`)), {
      concurrency: 16, ratePerSecond: RATE, check: (b) => (b.toString() === 'ok' ? null : b.toString().slice(0, 80)),
    });

    // One configuration change a second; writes that fail while Redis is down are counted.
    let k = 0;
    let committed = 0;
    let failedWrites = 0;
    let lastVersion = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        const tick = Date.now();
        try {
          const next = configAt(k + 1, ports);
          const r = await store.update(() => next, { retries: 2 });
          if (r.kind === 'committed') {
            committed++;
            k++;
            lastVersion = r.version;
          }
        } catch {
          failedWrites++;
        }
        await sleep(Math.max(0, 1_000 - (Date.now() - tick)));
      }
    })();

    const samples = new Map<string, Sample[]>(gateways.map((g) => [g.url, []]));
    const sampling = setInterval(() => {
      for (const g of gateways) samples.get(g.url)!.push(sampleProcess(g.child.pid!, Date.now() - started));
    }, SAMPLE_MS);

    // Redis killed in the middle, restarted with its data.
    await sleep(SECONDS * 500);
    const killedAt = Date.now() - started;
    await redis.kill();
    await sleep(REDIS_DOWN_MS);
    await redis.restart();
    const restartedAt = Date.now();
    const versionAtRestart = (await store.version()).version;
    // Writes go on meanwhile: converged = both instances (every worker) at or past that version.
    await waitFor('both instances to resync after the restart', async () => {
      const beats = await store.instances();
      return beats.length === 2 && beats.every((b) => b.appliedVersion >= versionAtRestart && b.workers.every((w) => w.appliedVersion >= versionAtRestart));
    }, 30_000);
    const resyncedMs = Date.now() - restartedAt;
    await sleep(Math.max(0, SECONDS * 1_000 - (Date.now() - started)));

    writing = false;
    await writes;
    clearInterval(sampling);
    const report = await load.stop();
    const finalVersion = (await store.version()).version;
    await waitConverged(store, ['soak-a', 'soak-b'], finalVersion, 15_000);

    const memory = gateways.map((g) => {
      const s = samples.get(g.url)!;
      const warm = s.filter((x) => x.at >= WARMUP_MS && x.at < WARMUP_MS + WINDOW_MS);
      const end = s.filter((x) => x.at >= s[s.length - 1].at - WINDOW_MS);
      return {
        instance: g.url,
        rssWarmMiB: Math.round(median(warm.map((x) => x.rssKiB)) / 102.4) / 10,
        rssEndMiB: Math.round(median(end.map((x) => x.rssKiB)) / 102.4) / 10,
        rssPeakMiB: Math.round(Math.max(...s.map((x) => x.rssKiB)) / 102.4) / 10,
        fdsWarm: median(warm.map((x) => x.fds)),
        fdsEnd: median(end.map((x) => x.fds)),
        fdsMax: Math.max(...s.map((x) => x.fds)),
      };
    });
    const seconds = report.durationMs / 1000;
    const summary = {
      date: new Date().toISOString(), seconds: Math.round(seconds), targetRate: RATE, achievedRate: Math.round(report.sent / seconds),
      sent: report.sent, ok: report.ok, failed: report.failures.length, refused: report.refused,
      configChangesCommitted: committed, writesFailedWhileRedisDown: failedWrites, finalVersion, lastVersionWritten: lastVersion,
      redisKilledAtS: Math.round(killedAt / 1000), redisDownMs: REDIS_DOWN_MS, convergedAfterRestartMs: resyncedMs,
    };
    const md = [
      '# Soak: latest run',
      '',
      `\`SOAK_SECONDS=${SECONDS} npm run test:soak\` — ${summary.date}. Two instances × two workers, one redis-server,`,
      `${RATE} req/s target over 16 keep-alive connections, a configuration change a second, Redis killed`,
      `at ${summary.redisKilledAtS} s for ${REDIS_DOWN_MS / 1000} s and restarted with its data. Machine shared with other jobs.`,
      '',
      '| figure | value |',
      '|---|---|',
      ...Object.entries(summary).map(([key, v]) => `| ${key} | ${v} |`),
      '',
      `Memory and handles per instance process (median of ${WINDOW_MS / 1000} s windows, sampled every ${SAMPLE_MS / 1000} s; warm = after ${WARMUP_MS / 1000} s of warm-up):`,
      '',
      '| instance | RSS warm MiB | RSS end MiB | RSS peak MiB | fds warm | fds end | fds max |',
      '|---|---|---|---|---|---|---|',
      ...memory.map((m, i) => `| ${i === 0 ? 'soak-a' : 'soak-b'} | ${m.rssWarmMiB} | ${m.rssEndMiB} | ${m.rssPeakMiB} | ${m.fdsWarm} | ${m.fdsEnd} | ${m.fdsMax} |`),
      '',
      report.failures.length ? `Failures (first 20):\n\n${report.failures.slice(0, 20).map((f) => `- ${f.at} ms ${f.url}: ${f.what}`).join('\n')}\n` : 'No failed request.',
      '',
    ].join('\n');
    console.log(md);
    writeFileSync(REPORT, md);

    expect(report.failures).toEqual([]);
    expect(report.refused).toBe(0);
    expect(summary.achievedRate).toBeGreaterThan(RATE * 0.5);
    expect(committed).toBeGreaterThan(SECONDS * 0.5);
    for (const m of memory) {
      expect(m.rssEndMiB).toBeLessThanOrEqual(m.rssWarmMiB * (1 + RSS_GROWTH));
      expect(m.fdsEnd).toBeLessThanOrEqual(m.fdsWarm + FD_SLACK);
    }
  }, (SECONDS + 180) * 1_000);
});
