import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticatorFactory, authStats } from '../../src/auth/index.js';
import { intervalFromCacheControl } from '../../src/auth/remote-jwks.js';
import type { AuthOutcome, RouteAuthenticator } from '../../src/auth/types.js';
import type { AuthPolicyConfig, JwksRefreshConfig } from '../../src/config/types.js';
import { freePort } from '../support/gateway.js';
import { AUDIENCE, ISSUER, memoryLog, rsaKey, sign, sleep, startJwksServer, type JwksServer, type TestKey } from './support.js';

let k1: TestKey;
let k2: TestKey;
beforeAll(async () => { [k1, k2] = await Promise.all([rsaKey('k1'), rsaKey('k2')]); });

const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

function policy(id: string, jwksUri: string, jwksRefresh: JwksRefreshConfig = {}): AuthPolicyConfig {
  return { id, jwt: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256'], jwksUri, jwksRefresh } };
}

function make(p: AuthPolicyConfig, now?: () => number) {
  const mem = memoryLog();
  const auth = createAuthenticatorFactory({ log: mem.log, now })(p);
  cleanup.push(() => auth.close());
  return { auth, ...mem };
}

async function server(keys: TestKey[]): Promise<JwksServer> {
  const s = await startJwksServer(keys.map((k) => k.publicJwk));
  cleanup.push(() => s.close());
  return s;
}

const check = async (auth: RouteAuthenticator, token: string): Promise<AuthOutcome> => await auth.check([`Bearer ${token}`]);

describe('RemoteJwks through the authenticator', () => {
  it('jwks_isPrefetchedAtCreation_andTheFirstRequestWaitsForIt', async () => {
    const s = await server([k1]);
    const { auth } = make(policy('pre', s.url));
    expect(s.hits()).toBe(0); // the fetch is asynchronous...
    const outcome = await check(auth, await sign(k1));
    expect(outcome.ok).toBe(true);
    expect(s.hits()).toBe(1); // ...and the request shared it
  });

  it('jwks_unknownKid_refetches_andAcceptsTheRotatedKey', async () => {
    const s = await server([k1]);
    const { auth } = make(policy('rot', s.url, { unknownKidCooldownSeconds: 0 }));
    expect((await check(auth, await sign(k1))).ok).toBe(true);
    s.setKeys([k1.publicJwk, k2.publicJwk]);
    expect((await check(auth, await sign(k2))).ok).toBe(true);
    expect(authStats().get('rot')!.jwksUnknownKidRefetches).toBe(1);
  });

  it('jwks_unknownKidFlood_fetchesAtMostOncePerCooldown', async () => {
    const s = await server([k1]);
    const { auth } = make(policy('flood', s.url, { unknownKidCooldownSeconds: 60 }));
    expect((await check(auth, await sign(k1))).ok).toBe(true);
    const hitsBefore = s.hits();
    // Prefetch happened just now: inside the cooldown, bogus kids fetch nothing.
    for (let i = 0; i < 50; i++) {
      const outcome = await check(auth, await sign({ ...k2, kid: `bogus-${i}` }));
      expect(!outcome.ok && outcome.status).toBe(401);
    }
    expect(s.hits()).toBe(hitsBefore);
    expect(authStats().get('flood')!.jwksCooldownSkips).toBe(50);
  });

  it('jwks_unreachableIssuer_servesCachedKeysStale_logsAndCounts', async () => {
    const s = await server([k1]);
    const { auth, lines } = make(policy('stale', s.url, { intervalSeconds: 1 }));
    expect((await check(auth, await sign(k1))).ok).toBe(true);
    s.setStatus(503);
    await sleep(1300);
    // A new token (not cached) still verifies with the stale keys.
    expect((await check(auth, await sign(k1, { claims: { n: 2 } }))).ok).toBe(true);
    const stats = authStats().get('stale')!;
    expect(stats.jwksFetchFailures).toBeGreaterThanOrEqual(1);
    expect(stats.jwksStaleUses).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('serving the cached keys'))).toBe(true);
    s.setStatus(null);
    await sleep(1300);
    expect(lines.some((l) => l.msg.includes('succeeded again'))).toBe(true);
  });

  it('jwks_unreachableIssuerWithoutCachedKeys_answers503', async () => {
    const deadUri = `http://127.0.0.1:${await freePort()}/jwks.json`;
    const { auth, lines } = make(policy('cold', deadUri));
    const outcome = await check(auth, await sign(k1));
    expect(!outcome.ok && outcome.status).toBe(503);
    expect(!outcome.ok && outcome.code).toBe('AUTH_UNAVAILABLE');
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('no keys'))).toBe(true);
  });

  it('jwks_badDocuments_areFailures_notKeys', async () => {
    const s = await server([]);
    const { auth } = make(policy('empty', s.url));
    expect(!(await check(auth, await sign(k1))).ok).toBe(true);
    expect(authStats().get('empty')!.jwksFetchFailures).toBe(1);
  });

  it('jwks_keysOlderThanMaxStale_areDropped_then503', async () => {
    let now = Date.now();
    const s = await server([k1]);
    const { auth } = make(policy('maxstale', s.url, { intervalSeconds: 1, maxStaleSeconds: 10 }), () => now);
    expect((await check(auth, await sign(k1))).ok).toBe(true);
    s.setStatus(500);
    await sleep(1300);
    now += 20_000;
    const outcome = await check(auth, await sign(k1, { claims: { n: 3 } }));
    expect(!outcome.ok && outcome.status).toBe(503);
  });

  it('jwks_timeout_boundsTheWaitOfAColdRequest', async () => {
    const { createServer } = await import('node:http');
    const hang = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => { hang.closeAllConnections(); hang.close(() => r(undefined)); }));
    const uri = `http://127.0.0.1:${(hang.address() as { port: number }).port}/jwks`;
    const { auth } = make(policy('slow', uri, { timeoutMs: 300 }));
    const started = Date.now();
    const outcome = await check(auth, await sign(k1));
    expect(!outcome.ok && outcome.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('jwks_rotationThatRemovesAKey_clearsCachedVerdicts', async () => {
    const s = await server([k1, k2]);
    const { auth } = make(policy('revoke', s.url, { unknownKidCooldownSeconds: 0 }));
    const t1 = await sign(k1);
    expect((await check(auth, t1)).ok).toBe(true);
    expect(auth.check([`Bearer ${t1}`])).not.toBeInstanceOf(Promise);
    s.setKeys([k2.publicJwk]);
    // An unknown kid forces a refetch; the new set differs, so verdicts are forgotten.
    await check(auth, await sign({ ...k2, kid: 'k3' }));
    const again = await check(auth, t1);
    expect(!again.ok && again.status).toBe(401);
  });
});

describe('intervalFromCacheControl', () => {
  const bounds = { minIntervalMs: 60_000, maxIntervalMs: 3_600_000 };
  it('interval_followsMaxAge_withinBounds', () => {
    expect(intervalFromCacheControl('public, max-age=600', bounds)).toBe(600_000);
    expect(intervalFromCacheControl('max-age=5', bounds)).toBe(60_000);
    expect(intervalFromCacheControl('max-age=99999999', bounds)).toBe(3_600_000);
  });
  it('interval_defaultsTo300s_withoutMaxAge', () => {
    expect(intervalFromCacheControl(null, bounds)).toBe(300_000);
    expect(intervalFromCacheControl('no-store', bounds)).toBe(300_000);
  });
});
