/**
 * Redis goes away (SIGKILL) and comes back: the instances keep serving with zero failed
 * requests, then converge on every change written while they were cut off. An instance that
 * starts while Redis is down serves its saved state, or is not ready when it has none.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import type { ControlPlaneStore } from '../../src/control-plane/store.js';
import type { GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import {
  baseConfig, route, sleep, startRedis, startRedisGateway, startTraffic, status, waitConverged, waitFor, writer,
  type RedisServer,
} from './support.js';

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
    await sleep(1_500);
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
    for (const gw of gateways) {
      for (let i = 0; i < 5; i++) expect(await status(gw, `/during/${i}`)).toBe(200);
      await gw.waitForLog((l) => l.msg === 'Redis reconnected; resyncing');
    }
    const { sent, failures } = await traffic.stop();
    expect(sent).toBeGreaterThan(50);
    expect(failures).toEqual([]);
  }, 30_000);

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
