import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeysError, parseAdminKeys } from '../../src/management/admin-keys.js';
import { simpleConfig, startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import { startRedis, startRedisGateway, waitFor, writer, type RedisServer } from '../control-plane/support.js';

// Keys are generated per run: nothing secret lives in the tree.
const ADMIN = randomBytes(24).toString('base64url');
const READER = randomBytes(24).toString('base64url');
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

function keysFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fengling-keys-'));
  const path = join(dir, 'admin-keys');
  writeFileSync(path, `# admin (stored as its hash)\nsha256:${sha(ADMIN)}\n${READER} ro\n`);
  return path;
}

async function call(gw: GatewayProcess, method: string, path: string, opts: { key?: string; body?: unknown; ifMatch?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${gw.url}/api/gateway/${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, json: text ? JSON.parse(text) as Record<string, unknown> : null };
}

describe('admin keys', () => {
  it('parse_acceptsPlainAndHashedKeys_andMarksReadOnly', () => {
    const keys = parseAdminKeys(`# comment\n\nsha256:${sha(ADMIN)}\n${READER} ro\n${'x'.repeat(20)} rw\n`, 'keys');
    expect(keys.size).toBe(3);
    expect(keys.verify(ADMIN)).toBe('admin');
    expect(keys.verify(READER)).toBe('read-only');
    expect(keys.verify('x'.repeat(20))).toBe('admin');
    expect(keys.verify('nope')).toBeNull();
    expect(keys.verify(`${ADMIN}x`)).toBeNull();
  });

  it('parse_reportsEveryBadLine_withItsLineNumber', () => {
    expect(() => parseAdminKeys('short\nsha256:zz\nkey-that-is-long-enough maybe\n', 'f')).toThrowError(AdminKeysError);
    try {
      parseAdminKeys('short\nsha256:zz\nkey-that-is-long-enough maybe\n', 'f');
    } catch (err) {
      const m = (err as Error).message;
      expect(m).toContain('f:1: a key must be at least 16 characters');
      expect(m).toContain('f:2: sha256: must be followed by 64 hex digits');
      expect(m).toContain('f:3: expected "KEY [rw|ro]"');
    }
  });
});

describe('management API on a file-configured instance', () => {
  let up: Upstream;
  let off: GatewayProcess;
  let on: GatewayProcess;

  beforeAll(async () => {
    up = await startUpstream();
    off = await startGateway({ workers: 1, config: simpleConfig([up.port]) });
    on = await startGateway({ workers: 2, config: simpleConfig([up.port]), env: { GATEWAY_ADMIN_KEYS_FILE: keysFile() } });
  });
  afterAll(async () => {
    await off?.stop();
    await on?.stop();
    await up?.close();
  });

  it('isOff_404_andWarned_whenNoCredentialIsConfigured', async () => {
    expect((await call(off, 'GET', 'status', { key: ADMIN })).status).toBe(404);
    expect(off.logs.some((l) => String(l.msg).includes('management API (/api/gateway/*) is off'))).toBe(true);
  });

  const endpoints: Array<[string, string, unknown?]> = [
    ['GET', 'status'], ['GET', 'routes'], ['GET', 'clusters'], ['GET', 'config'],
    ['POST', 'config/validate', simpleConfig([1])], ['PUT', 'config', simpleConfig([1])],
    ['PATCH', 'config', { deleteRoutes: ['all'] }], ['POST', 'reload'],
  ];
  for (const [method, path, body] of endpoints) {
    it(`${method} ${path}: 401 without or with a wrong credential`, async () => {
      const none = await call(on, method, path, { body });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="fengling-management"');
      expect((await call(on, method, path, { key: 'wrong-key-wrong-key', body })).status).toBe(401);
    });
  }

  it('readOnlyKey_reads_butCannotWrite', async () => {
    for (const path of ['status', 'routes', 'clusters', 'config']) expect((await call(on, 'GET', path, { key: READER })).status).toBe(200);
    expect((await call(on, 'POST', 'config/validate', { key: READER, body: simpleConfig([1]) })).status).toBe(200);
    expect((await call(on, 'PUT', 'config', { key: READER, body: simpleConfig([1]) })).status).toBe(403);
    expect((await call(on, 'PATCH', 'config', { key: READER, body: { deleteRoutes: ['all'] } })).status).toBe(403);
    expect((await call(on, 'POST', 'reload', { key: READER })).status).toBe(403);
  });

  it('adminKey_readsStatusRoutesClustersAndConfig', async () => {
    const status = await call(on, 'GET', 'status', { key: ADMIN });
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ version: 1, converged: true });
    expect((status.json!.workers as unknown[]).length).toBe(2);
    const config = await call(on, 'GET', 'config', { key: ADMIN });
    expect(config.headers.get('etag')).toBe('"1"');
    expect((config.json!.config as { routes: Array<{ id: string }> }).routes[0].id).toBe('all');
    const clusters = await call(on, 'GET', 'clusters', { key: ADMIN });
    expect(clusters.json).toMatchObject({ clusters: [{ id: 'backend', destinations: [{ id: 'd0', health: 'up', inFlight: 0 }] }] });
  });

  it('validate_returnsEveryErrorWithItsPath', async () => {
    const r = await call(on, 'POST', 'config/validate', { key: ADMIN, body: { routes: [{ id: 'a', cluster: 'x', match: { path: 'no' } }], clusters: [] } });
    expect(r.status).toBe(422);
    const paths = (r.json!.errors as Array<{ path: string }>).map((e) => e.path);
    expect(paths).toContain('routes[0].match.path');
    expect(paths).toContain('routes[0].cluster');
  });

  it('writes_answer409_whenTheConfigurationComesFromAFile', async () => {
    const r = await call(on, 'PUT', 'config', { key: ADMIN, body: simpleConfig([up.port]) });
    expect(r.status).toBe(409);
    expect(r.json!.code).toBe('MANAGEMENT_FILE_SOURCE');
  });

  it('reload_rereadsTheFile', async () => {
    expect((await call(on, 'POST', 'reload', { key: ADMIN })).status).toBe(202);
    await on.waitForLog((l) => l.msg === 'configuration unchanged');
  });

  it('unknownEndpoint_is404_afterAuthentication', async () => {
    expect((await call(on, 'GET', 'nothing', { key: ADMIN })).status).toBe(404);
  });
});

describe('management API writes through Redis', () => {
  let redis: RedisServer;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let up: Upstream;

  beforeAll(async () => {
    redis = await startRedis();
    up = await startUpstream();
    const w = writer(redis);
    await w.store.update(() => simpleConfig([up.port]));
    w.client.disconnect();
    const env = { GATEWAY_ADMIN_KEYS_FILE: keysFile() };
    a = await startRedisGateway(redis, { id: 'mgmt-a', env });
    b = await startRedisGateway(redis, { id: 'mgmt-b', env });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await up?.close();
    await redis?.stop();
  });

  it('put_publishesANewVersion_thatEveryInstanceApplies', async () => {
    const before = await call(a, 'GET', 'config', { key: ADMIN });
    const v = (before.json as { version: number }).version;
    const next = simpleConfig([up.port], { route: { match: { path: '/v2/{**rest}' } } });
    const r = await call(a, 'PUT', 'config', { key: ADMIN, body: next, ifMatch: `"${v}"` });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ version: v + 1, changed: true });
    // Applied by the other instance too: never by this instance alone.
    await waitFor('instance b at the new version', async () => (await fetch(`${b.url}/v2/x`)).status === 200);
    expect((await fetch(`${b.url}/x`)).status).toBe(404);
  });

  it('put_withAStaleIfMatch_is409_andWritesNothing', async () => {
    const current = (await call(a, 'GET', 'config', { key: ADMIN })).json as { version: number };
    const r = await call(a, 'PUT', 'config', { key: ADMIN, body: simpleConfig([up.port]), ifMatch: `"${current.version - 1}"` });
    expect(r.status).toBe(409);
    expect(r.json!.code).toBe('MANAGEMENT_CONFLICT');
    expect(r.headers.get('etag')).toBe(`"${current.version}"`);
    expect(((await call(a, 'GET', 'config', { key: ADMIN })).json as { version: number }).version).toBe(current.version);
  });

  it('patch_appliesAChange_onTopOfTheCurrentVersion', async () => {
    const r = await call(b, 'PATCH', 'config', { key: ADMIN, body: { upsertRoutes: [{ id: 'extra', cluster: 'backend', match: { path: '/extra/{**rest}' } }] } });
    expect(r.status).toBe(200);
    await waitFor('extra route on a', async () => (await fetch(`${a.url}/extra/y`)).status === 200);
    const bad = await call(b, 'PATCH', 'config', { key: ADMIN, body: { deleteClusters: ['backend'] } });
    expect(bad.status).toBe(422);
  });

  it('patch_carriesManagementAuth_throughRedis_toEveryInstance', async () => {
    const r = await call(a, 'PATCH', 'config', { key: ADMIN, body: {
      upsertAuthPolicies: [{ id: 'sso', jwt: { issuer: 'https://sso.test', audiences: ['gw'], algorithms: ['RS256'], jwksUri: 'http://127.0.0.1:9/jwks' } }],
      upsertManagementAuth: [{ id: 'staff', authPolicy: 'sso', adminRole: 'gateway-admin' }],
    } });
    expect(r.status).toBe(200);
    await waitFor('instance b to hold the entry', async () => {
      const c = (await call(b, 'GET', 'config', { key: ADMIN })).json as { config: { managementAuth?: Array<{ id: string }> } };
      return c.config.managementAuth?.[0]?.id === 'staff';
    });
  });

  it('everyWrite_isAudited_inTheLogAndInRedis', async () => {
    await a.waitForLog((l) => l.msg === 'management write');
    const w = writer(redis);
    try {
      const entries = (await w.client.lrange(`${w.store.keys.prefix}audit`, 0, -1)).map((t) => JSON.parse(t) as { action: string; actor: string; version: number });
      expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['put-config', 'patch-config']));
      expect(entries.every((e) => e.actor.startsWith('admin-key(admin)@'))).toBe(true);
    } finally {
      w.client.disconnect();
    }
  });
});

describe('management API with admin JWTs (managementAuth)', () => {
  let up: Upstream;
  let gw: GatewayProcess;
  const secret = randomBytes(48).toString('base64url');
  const key = new TextEncoder().encode(secret);
  const token = async (claims: Record<string, unknown>, signWith = key) => {
    const { SignJWT } = await import('jose');
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://sso.test').setAudience('gateway-admin')
      .setIssuedAt().setExpirationTime('10m').sign(signWith);
  };

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway({
      workers: 2,
      env: { MGMT_JWT_SECRET: secret },
      config: {
        ...simpleConfig([up.port]),
        authPolicies: [{ id: 'sso', jwt: { issuer: 'https://sso.test', audiences: ['gateway-admin'], algorithms: ['HS256'], keys: [{ secret: '${MGMT_JWT_SECRET}' }] } }],
        managementAuth: [{ id: 'staff', authPolicy: 'sso', adminRole: 'gateway-admin', readOnlyRole: 'gateway-viewer' }],
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('isOn_withoutAdminKeys_whenTheConfigurationNamesAdminJwts', async () => {
    expect((await call(gw, 'GET', 'status')).status).toBe(401);
  });

  it('adminRole_readsAndWrites', async () => {
    const t = await token({ sub: 'alice', roles: ['gateway-admin'] });
    expect((await call(gw, 'GET', 'status', { key: t })).status).toBe(200);
    // Authorised to write: the file source then refuses the write itself.
    const put = await call(gw, 'PUT', 'config', { key: t, body: simpleConfig([up.port]) });
    expect(put.status).toBe(409);
    expect(put.json!.code).toBe('MANAGEMENT_FILE_SOURCE');
  });

  it('readOnlyRole_readsButCannotWrite', async () => {
    const t = await token({ sub: 'bob', roles: ['gateway-viewer'] });
    expect((await call(gw, 'GET', 'config', { key: t })).status).toBe(200);
    const reload = await call(gw, 'POST', 'reload', { key: t });
    expect(reload.status).toBe(403);
    expect(reload.json!.code).toBe('MANAGEMENT_FORBIDDEN');
  });

  it('aValidTokenWithoutEitherRole_is403', async () => {
    const r = await call(gw, 'GET', 'status', { key: await token({ sub: 'eve', roles: ['other'] }) });
    expect(r.status).toBe(403);
  });

  it('aForgedOrExpiredToken_is401', async () => {
    const forged = await token({ sub: 'mallory', roles: ['gateway-admin'] }, new TextEncoder().encode(randomBytes(48).toString('base64url')));
    expect((await call(gw, 'GET', 'status', { key: forged })).status).toBe(401);
    const { SignJWT } = await import('jose');
    const expired = await new SignJWT({ roles: ['gateway-admin'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://sso.test')
      .setAudience('gateway-admin').setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(key);
    expect((await call(gw, 'GET', 'status', { key: expired })).status).toBe(401);
  });
});
