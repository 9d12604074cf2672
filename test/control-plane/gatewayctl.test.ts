/** gatewayctl as an operator uses it: real process, real Redis. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { controlPlaneKeys } from '../../src/control-plane/keys.js';
import { freePort } from '../support/gateway.js';
import { runCtl, startRedis, type RedisServer } from './support.js';

describe('gatewayctl', () => {
  let redis: RedisServer;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'gatewayctl-'));
  const file = (name: string, config: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config));
    return path;
  };
  const v1 = { routes: [{ id: 'a', cluster: 'c', match: { path: '/a' } }], clusters: [{ id: 'c', destinations: [{ id: 'd', address: 'http://127.0.0.1:9' }] }] };
  const v2 = { ...v1, routes: [...v1.routes, { id: 'b', cluster: 'c', match: { path: '/b' } }] };

  beforeAll(async () => {
    redis = await startRedis();
    env = { REDIS_URL: redis.url };
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('help_isAvailableOnEveryCommand', async () => {
    for (const cmd of ['apply', 'get', 'history', 'rollback', 'status', 'health']) {
      const r = await runCtl([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`gatewayctl ${cmd}`);
    }
    expect((await runCtl(['--help'])).code).toBe(0);
    expect((await runCtl(['frobnicate'])).code).toBe(2);
  });

  it('apply_publishesOneVersion_printsTheDiff_andNothingWhenIdentical', async () => {
    const dry = await runCtl(['apply', '-f', file('v1.json', v1), '--dry-run'], env);
    expect(dry.stdout).toContain('+ route a');
    expect(dry.stdout).toContain('dry run');
    const first = await runCtl(['apply', '-f', file('v1.json', v1)], env);
    expect(first.stdout).toContain('published version 1');
    const second = await runCtl(['apply', '-f', file('v2.json', v2)], env);
    expect(second.stdout).toContain('+ route b');
    expect(second.stdout).toContain('published version 2');
    const same = await runCtl(['apply', '-f', file('v2.json', v2)], env);
    expect(same.stdout).toContain('no changes');
    const history = await runCtl(['history'], env);
    expect(history.stdout.split('\n').filter((l) => /^\d+ /.test(l)).map((l) => l.split(/\s+/)[0])).toEqual(['2', '1']);
  });

  it('get_printsTheConfigurationAsYamlOrJson', async () => {
    const yaml = await runCtl(['get', 'routes'], env);
    expect(yaml.stdout).toMatch(/^# Redis configuration version \d+/);
    expect(yaml.stdout).toContain('id: b');
    const json = JSON.parse((await runCtl(['get', '-o', 'json'], env)).stdout) as typeof v2;
    expect(json.routes.map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('rollback_publishesTheOldContentAsANewVersion', async () => {
    const r = await runCtl(['rollback', '1'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('- route b');
    expect(r.stdout).toMatch(/published version 3/);
    const json = JSON.parse((await runCtl(['get', '-o', 'json'], env)).stdout) as typeof v2;
    expect(json.routes.map((x) => x.id)).toEqual(['a']);
    expect((await runCtl(['history'], env)).stdout).toContain('rollback to 1');
    const gone = await runCtl(['rollback', '99'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('HISTORY_UNAVAILABLE');
  });

  it('badFile_listsEveryErrorWithItsFieldPath_andPublishesNothing', async () => {
    const bad = { routes: [{ id: 'a', cluster: 'missing', match: { path: 'no-slash' } }], clusters: [{ id: 'c', destinations: [{ id: 'd', address: 'ftp://x' }] }] };
    const r = await runCtl(['apply', '-f', file('bad.json', bad)], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('routes[0].cluster');
    expect(r.stderr).toContain('routes[0].match.path');
    expect(r.stderr).toContain('clusters[0].destinations[0].address');
  });

  it('malformedVersionKey_refusesToWrite_withACodedError_untilRepaired', async () => {
    const client = new Redis(redis.url);
    const key = controlPlaneKeys().version;
    const good = await client.get(key);
    try {
      for (const bad of ['-3', 'abc', '1.5']) {
        await client.set(key, bad);
        // Before: '-3' published version -2 (which no instance accepts), 'abc' failed inside the commit script.
        const r = await runCtl(['apply', '-f', file('v2b.json', v2)], env);
        expect(r.code, bad).toBe(1);
        expect(r.stderr).toMatch(/^CONTROL_MESSAGE_INVALID: the version key holds .* not a whole number/);
        expect(await client.get(key)).toBe(bad);
      }
    } finally {
      await client.set(key, good!);
      client.disconnect();
    }
    expect((await runCtl(['apply', '-f', file('v2b.json', v2)], env)).code).toBe(0);
  });

  it('redisUnreachable_isOneLine_andExitCode4', async () => {
    const r = await runCtl(['status'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^REDIS_UNREACHABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  it('healthSet_andList_roundTrip', async () => {
    expect((await runCtl(['health', 'set', 'c/d', 'down', '--reason', 'maintenance'], env)).code).toBe(0);
    expect((await runCtl(['health', 'list'], env)).stdout).toMatch(/c\/d\s+down .*maintenance/);
    expect((await runCtl(['health', 'set', 'c', 'down'], env)).code).toBe(2);
  });
});
