/**
 * Redis goes away (SIGKILL, for OUTAGE_MS) and comes back, with its data or empty: two
 * instances of two workers keep serving with zero failed requests, then converge on every
 * change written while they were cut off, or on the new lineage a writer starts in the empty
 * Redis. An instance that starts while Redis is down serves its saved state, or is not ready
 * when it has none. Convergence times are printed for docs/reliability.md.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import type { ControlPlaneStore } from '../../src/control-plane/store.js';
import type { GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import {
  baseConfig, route, runCtl, sleep, startRedis, startRedisGateway, startTraffic, status, waitConverged, waitFor, writer,
  type RedisServer,
} from './support.js';

/** How long Redis stays down in the outage tests. */
const OUTAGE_MS = 10_000;

/** Milliseconds from the newest history entry's write (the writer's clock, this host) to now. */
async function sinceLastWrite(store: ControlPlaneStore): Promise<number> {
  const [newest] = await store.history(1);
  return Date.now() - Date.parse(newest.at);
}

/** The first log line matching `pred` among those logged after `mark` (an index into gw.logs). */
function logAfter(gw: GatewayProcess, mark: number, pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
  return gw.waitForLog((l) => gw.logs.indexOf(l) >= mark && pred(l), timeoutMs);
}

describe('control plane: Redis outages', () => {
  let redis: RedisServer;
  let stable: Upstream;
  let other: Upstream;
  let store: ControlPlaneStore;
  let client: Redis;
  const gateways: GatewayProcess[] = [];
  const stateDirs = { 'gw-a': mkdtempSync(join(tmpdir(), 'fengling-state-')), 'gw-b': mkdtempSync(join(tmpdir(), 'fengling-state-')) };

  const add = (r: GatewayConfig['routes'][number]) => (current: { config: GatewayConfig }): GatewayConfig =>
    ({ ...current.config, routes: [...current.config.routes, r] });

  beforeAll(async () => {
    redis = await startRedis({ persistent: true });
    stable = await startUpstream();
    other = await startUpstream();
    ({ store, client } = writer(redis));
    await store.update(() => baseConfig(stable.port, other.port, [route('before', '/before')]));
    for (const id of ['gw-a', 'gw-b'] as const) gateways.push(await startRedisGateway(redis, { id, stateDir: stateDirs[id] }));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    client?.disconnect();
    await redis?.stop();
    await stable?.close();
    await other?.close();
  });

  it('redisKilled_instancesKeepServing_thenConvergeOnEveryChangeWrittenMeanwhile', async () => {
    const traffic = startTraffic(gateways);
    await redis.kill();
    await sleep(OUTAGE_MS);
    for (const gw of gateways) expect(await status(gw, '/before')).toBe(200);
    // The restarted server keeps its data (append-only file); five changes land at once,
    // while the instances are still in their reconnect backoff.
    await redis.restart();
    let version = 0;
    for (let i = 0; i < 5; i++) {
      const r = await store.update(add(route(`during${i}`, `/during/${i}`)));
      expect(r.kind).toBe('committed');
      version = (r as { version: number }).version;
    }
    await waitConverged(store, ['gw-a', 'gw-b'], version, 15_000);
    const convergedMs = await sinceLastWrite(store);
    for (const gw of gateways) {
      for (let i = 0; i < 5; i++) expect(await status(gw, `/during/${i}`)).toBe(200);
      await gw.waitForLog((l) => l.msg === 'Redis reconnected; resyncing');
    }
    const { sent, failures } = await traffic.stop();
    console.log(`[outage] Redis killed ${OUTAGE_MS} ms, restarted with its data: ${JSON.stringify({ sent, failed: failures.length, convergedMsAfterLastWrite: convergedMs })}`);
    expect(sent).toBeGreaterThan(50);
    expect(failures).toEqual([]);
  }, 60_000);

  it('redisRestartedEmpty_instancesKeepTheirConfiguration_thenFollowTheNewLineageAWriterPublishes', async () => {
    const before = await store.read();
    const marks = gateways.map((g) => g.logs.length);
    const traffic = startTraffic(gateways);
    await redis.kill();
    await sleep(OUTAGE_MS);
    await redis.restart({ empty: true });
    expect((await store.read()).epoch).toBeNull();
    // Back on an empty Redis: each instance resyncs, finds nothing, keeps what it serves.
    await Promise.all(gateways.map((g, i) => logAfter(g, marks[i], (l) => l.msg === 'Redis holds no configuration; keeping what is applied (not ready if nothing is)')));
    for (const gw of gateways) {
      expect(await status(gw, '/during/4')).toBe(200);
      expect(await status(gw, '/readyz')).toBe(200);
    }
    // They register again in the new Redis, still on the old lineage.
    await waitFor('both instances to beat in the empty Redis', async () => {
      const beats = await store.instances();
      return beats.length === 2 && beats.every((b) => b.epoch === before.epoch && b.appliedVersion === before.version);
    });
    // A writer (gatewayctl, as a console or an operator would) publishes: a new epoch, version 1.
    const dir = mkdtempSync(join(tmpdir(), 'fengling-ctl-'));
    const file = join(dir, 'gateway.json');
    // The old configuration without its route `before`, plus `after-empty`.
    const routes = [...before.config.routes.filter((r) => r.id !== 'before'), route('after-empty', '/after-empty')];
    writeFileSync(file, JSON.stringify({ ...before.config, routes }));
    const ctl = await runCtl(['apply', '-f', file], { REDIS_URL: redis.url });
    expect(ctl.code).toBe(0);
    const after = await store.read();
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.version).toBe(1);
    await waitConverged(store, ['gw-a', 'gw-b'], 1, 15_000);
    const convergedMs = await sinceLastWrite(store);
    const beats = await store.instances();
    expect(beats.map((b) => b.epoch)).toEqual([after.epoch, after.epoch]);
    // The new lineage is applied whole: its new route is served, the one it dropped is gone.
    for (const gw of gateways) {
      expect(await status(gw, '/after-empty')).toBe(200);
      expect(await status(gw, '/before')).toBe(404);
      expect(await status(gw, '/during/4')).toBe(200);
    }
    const { sent, failures } = await traffic.stop();
    console.log(`[outage] Redis killed ${OUTAGE_MS} ms, restarted empty: ${JSON.stringify({ sent, failed: failures.length, convergedMsAfterWrite: convergedMs })}`);
    expect(sent).toBeGreaterThan(50);
    expect(failures).toEqual([]);
  }, 60_000);

  it('coldStart_withRedisDown_servesTheSavedSnapshot_thenFollowsRedisWhenItReturns', async () => {
    const gwB = gateways.pop()!;
    await gwB.stop();
    const version = (await store.read()).version;
    await redis.kill();
    const cold = await startRedisGateway(redis, { id: 'gw-b-cold', stateDir: stateDirs['gw-b'] });
    gateways.push(cold);
    const traffic = startTraffic([cold]);
    expect(await status(cold, '/during/4')).toBe(200);
    await cold.waitForLog((l) => l.msg === 'started from the saved state; will resync when Redis answers' && l.version === version);
    await redis.restart();
    const r = await store.update(add(route('after-cold', '/after-cold')));
    await waitConverged(store, ['gw-b-cold'], (r as { version: number }).version, 15_000);
    expect(await status(cold, '/after-cold')).toBe(200);
    const { failures } = await traffic.stop();
    expect(failures).toEqual([]);
  }, 30_000);

  it('coldStart_withRedisDown_andNoSavedState_isNotReadyUntilRedisAnswers', async () => {
    await redis.kill();
    const empty = await startRedisGateway(redis, { id: 'gw-empty', stateDir: mkdtempSync(join(tmpdir(), 'fengling-state-')), waitReady: false });
    gateways.push(empty);
    await empty.waitForLog((l) => l.msg === 'fengling gateway started', 15_000);
    expect(await status(empty, '/readyz')).toBe(503);
    // Routed requests say why, too: no configuration yet, not "no route".
    const r = await fetch(`${empty.url}/during/0`);
    expect(r.status).toBe(503);
    expect((await r.json() as { code: string }).code).toBe('NOT_READY');
    await redis.restart();
    await waitFor('the instance to become ready', async () => (await status(empty, '/readyz')) === 200, 15_000);
    expect(await status(empty, '/during/0')).toBe(200);
  }, 30_000);
});
