/**
 * Destination health decided by the console reaches the balancers through Redis (K8S-02):
 * a destination marked down stops receiving requests, marked up receives them again; when a
 * cluster's every destination is down its `whenAllDown` setting decides (503 or fail open).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../src/config/types.js';
import type { ControlPlaneStore } from '../../src/control-plane/store.js';
import type { GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import { runCtl, sleep, startRedis, startRedisGateway, startTraffic, waitFor, writer, type RedisServer } from './support.js';

describe('control plane: destination health from the console', () => {
  let redis: RedisServer;
  let ups: Upstream[] = [];
  let stable: Upstream;
  let store: ControlPlaneStore;
  let client: Redis;
  let gateways: GatewayProcess[] = [];

  function config(): GatewayConfig {
    const dests = ups.map((u, i) => ({ id: `d${i}`, address: `http://127.0.0.1:${u.port}` }));
    return {
      routes: [
        { id: 'stable', cluster: 'stable', match: { path: '/stable/{**rest}' } },
        { id: 'closed', cluster: 'closed', match: { path: '/closed/{**rest}' } },
        { id: 'open', cluster: 'open', match: { path: '/open/{**rest}' } },
      ],
      clusters: [
        { id: 'stable', destinations: [{ id: 's0', address: `http://127.0.0.1:${stable.port}` }] },
        { id: 'closed', loadBalancing: 'round-robin', whenAllDown: 'fail-closed', destinations: dests },
        { id: 'open', loadBalancing: 'round-robin', whenAllDown: 'fail-open', destinations: dests.slice(0, 1) },
      ],
    };
  }

  /** Which upstreams answered `n` requests to `path` on every gateway (by upstream index; -1 = not 200). */
  async function spread(path: string, n = 24): Promise<Map<number, number>> {
    const seen = new Map<number, number>();
    for (const gw of gateways) {
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${gw.url}${path}`);
        const body = await res.text();
        const key = res.status === 200 ? ups.findIndex((u) => u.port === (JSON.parse(body) as { port: number }).port) : -res.status;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    return seen;
  }

  beforeAll(async () => {
    redis = await startRedis();
    stable = await startUpstream();
    ups = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
    ({ store, client } = writer(redis));
    await store.update(() => config());
    gateways = await Promise.all(['gw-h1', 'gw-h2'].map((id) => startRedisGateway(redis, { id })));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    client?.disconnect();
    await redis?.stop();
    await Promise.all([stable, ...ups].map((u) => u?.close()));
  });

  it('destinationMarkedDown_receivesNoRequests_untilMarkedUpAgain', async () => {
    const traffic = startTraffic(gateways);
    expect([...(await spread('/closed/x')).keys()].sort()).toEqual([0, 1, 2]);
    const ctl = await runCtl(['health', 'set', 'closed/d1', 'down', '--reason', 'readiness probe failed'], { REDIS_URL: redis.url });
    expect(ctl.code).toBe(0);
    await waitFor('d1 to stop receiving requests', async () => !(await spread('/closed/x', 6)).has(1));
    const after = await spread('/closed/x');
    expect(after.has(1)).toBe(false);
    expect([...after.keys()].sort()).toEqual([0, 2]);
    await store.setHealth('closed', 'd1', 'up');
    await waitFor('d1 to receive requests again', async () => (await spread('/closed/x', 6)).has(1));
    const { failures } = await traffic.stop();
    expect(failures).toEqual([]);
  });

  it('everyDestinationDown_failClosedAnswers503_failOpenUsesThemAnyway', async () => {
    for (let i = 0; i < ups.length; i++) await store.setHealth('closed', `d${i}`, 'down', 'test');
    await store.setHealth('open', 'd0', 'down', 'test');
    await waitFor('fail-closed cluster to answer 503', async () => {
      const s = await spread('/closed/x', 4);
      return s.size === 1 && s.get(-503) === 4 * gateways.length;
    });
    const res = await fetch(`${gateways[0].url}/closed/x`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('NO_DESTINATION');
    expect([...(await spread('/open/x')).keys()]).toEqual([0]);
    for (let i = 0; i < ups.length; i++) await store.setHealth('closed', `d${i}`, 'up');
    await store.setHealth('open', 'd0', 'up');
    await waitFor('the cluster to serve again', async () => !(await spread('/closed/x', 4)).has(-503));
  });

  it('healthReportedBeforeTheDestinationExists_appliesWhenItIsCreated', async () => {
    const extra = await startUpstream();
    try {
      await store.setHealth('closed', 'late', 'down', 'not started yet');
      const r = await store.update((c) => ({
        ...c.config,
        clusters: c.config.clusters.map((cl) => (cl.id === 'closed' ? { ...cl, destinations: [...cl.destinations, { id: 'late', address: `http://127.0.0.1:${extra.port}` }] } : cl)),
      }));
      expect(r.kind).toBe('committed');
      await sleep(300);
      await spread('/closed/x', 12);
      expect(extra.seen.length).toBe(0);
      await store.setHealth('closed', 'late', 'up');
      await waitFor('the new destination to receive requests', async () => {
        await spread('/closed/x', 8);
        return extra.seen.length > 0;
      });
    } finally {
      await extra.close();
    }
  });

  it('healthMessageLost_isRecoveredFromTheHash_byAntiEntropy', async () => {
    // Written to the hash only, no message on the channel: the hint is lost.
    await client.hset(store.keys.health, 'closed/d2', JSON.stringify({ protocol: 1, cluster: 'closed', destination: 'd2', state: 'down', reason: 'silent', at: new Date().toISOString(), by: 'test' }));
    await waitFor('d2 to stop receiving requests', async () => !(await spread('/closed/x', 6)).has(2), 5_000);
    await store.setHealth('closed', 'd2', 'up');
  });
});
