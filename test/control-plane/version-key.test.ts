import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneKeys } from '../../src/control-plane/keys.js';
import type { GatewayProcess } from '../support/gateway.js';
import { startRedis, startRedisGateway, writer, type RedisServer } from './support.js';

/**
 * A version key nobody can trust ('abc', written by hand or by a broken tool): Redis answered,
 * so start-up must not wait for it as if it were down, and the instance must say what is wrong.
 */
describe('a malformed version key in Redis', () => {
  let redis: RedisServer;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await redis?.stop();
  });

  it('startUp_doesNotWaitOutTheRedisStartWait_andReportsTheKey', async () => {
    const w = writer(redis);
    await w.client.set(controlPlaneKeys().version, 'abc');
    w.client.disconnect();
    const started = Date.now();
    // A start wait far longer than the test: finishing start-up early shows the first resync
    // counted as done although the key was refused.
    const gw = await startRedisGateway(redis, { id: 'gw-bad-key', waitReady: false, env: { GATEWAY_REDIS_START_WAIT_MS: '60000' } });
    gateways.push(gw);
    await gw.waitForLog((l) => l.msg === 'fengling gateway started', 20_000);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(gw.logs.some((l) => l.code === 'CONTROL_MESSAGE_INVALID')).toBe(true);
    expect(gw.logs.some((l) => String(l.msg).includes('Redis did not answer'))).toBe(false);
  }, 40_000);
});
