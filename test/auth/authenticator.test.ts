import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createAuthenticatorFactory, authStats } from '../../src/auth/index.js';
import type { AuthOutcome, RouteAuthenticator } from '../../src/auth/types.js';
import type { AuthPolicyConfig, JwtPolicyConfig } from '../../src/config/types.js';
import { AUDIENCE, claimsNow, ecKey, hmacSecret, ISSUER, memoryLog, rawToken, rsaKey, sign, type TestKey } from './support.js';

let rsa: TestKey;
let otherRsa: TestKey;
let ec: TestKey;
let secret: Uint8Array;

beforeAll(async () => {
  [rsa, otherRsa, ec, secret] = await Promise.all([rsaKey('r1'), rsaKey('r2'), ecKey('e1'), hmacSecret()]);
});

const open: RouteAuthenticator[] = [];
afterEach(() => { for (const a of open.splice(0)) a.close(); });

function policy(jwt: Partial<JwtPolicyConfig>, id = 'p'): AuthPolicyConfig {
  return { id, jwt: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256'], keys: [{ env: 'TEST_RSA_PEM' }], ...jwt } as JwtPolicyConfig };
}

function make(p: AuthPolicyConfig, extra: { now?: () => number; env?: NodeJS.ProcessEnv } = {}) {
  const mem = memoryLog();
  const env = extra.env ?? { TEST_RSA_PEM: rsa.spkiPem, TEST_EC_JWK: JSON.stringify(ec.publicJwk), TEST_HS: Buffer.from(secret).toString('base64url') };
  const auth = createAuthenticatorFactory({ log: mem.log, env, now: extra.now })(p);
  open.push(auth);
  return { auth, ...mem };
}

async function judge(auth: RouteAuthenticator, values: string[]): Promise<AuthOutcome> {
  return await auth.check(values);
}

const bearer = (t: string) => [`Bearer ${t}`];

function expectFailure(outcome: AuthOutcome, status: number, description?: string): void {
  expect(outcome.ok).toBe(false);
  if (outcome.ok) return;
  expect(outcome.status).toBe(status);
  if (description !== undefined) expect(outcome.detail).toBe(description);
}

describe('JwtAuthenticator with static keys', () => {
  it('check_acceptsValidRs256Token_fromPemInEnvironment_andMapsClaims', async () => {
    const { auth } = make(policy({ claimsToHeaders: { sub: 'X-User-Id', 'org.id': 'X-Org', tenant: 'X-Tenant-Id', perms: 'X-Perms' } }));
    const token = await sign(rsa, { claims: { org: { id: 42 }, perms: ['a', 'b'] } });
    const outcome = await judge(auth, bearer(token));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.setHeaders).toEqual(['x-user-id', 'user-1', 'x-org', '42', 'x-perms', '["a","b"]']);
    expect([...outcome.removeHeaders].sort()).toEqual(['authorization', 'x-org', 'x-perms', 'x-tenant-id', 'x-user-id']);
  });

  it('check_keepsAuthorization_whenForwardAuthorizationIsTrue', async () => {
    const { auth } = make(policy({ forwardAuthorization: true, claimsToHeaders: { sub: 'X-User-Id' } }));
    const outcome = await judge(auth, bearer(await sign(rsa)));
    expect(outcome.ok && [...outcome.removeHeaders]).toEqual(['x-user-id']);
  });

  it('check_acceptsEs256_fromJwkInEnvironment', async () => {
    const { auth } = make(policy({ algorithms: ['ES256'], keys: [{ env: 'TEST_EC_JWK' }] }));
    expect((await judge(auth, bearer(await sign(ec)))).ok).toBe(true);
  });

  it('check_acceptsHs256_fromSecretReference_withEncoding', async () => {
    const { auth } = make(policy({ algorithms: ['HS256'], keys: [{ secret: '${TEST_HS}', encoding: 'base64url' }] }));
    const token = await sign({ alg: 'HS256', privateKey: secret });
    expect((await judge(auth, bearer(token))).ok).toBe(true);
  });

  it('compile_failsClosedWith503_whenTheSecretVariableIsMissing_loggingTheNameNotTheValue', async () => {
    const { auth, lines } = make(policy({ algorithms: ['HS256'], keys: [{ secret: '${NOT_SET_ANYWHERE}' }] }), { env: { OTHER: 'x' } });
    expectFailure(await judge(auth, bearer(await sign({ alg: 'HS256', privateKey: secret }))), 503);
    expect(JSON.stringify(lines)).toContain('NOT_SET_ANYWHERE');
  });

  it('compile_failsClosed_whenTheKeyFileIsMissing_orHoldsNoKey', async () => {
    const missing = make(policy({ keys: [{ file: '/nonexistent/key.pem' }] }));
    expectFailure(await judge(missing.auth, bearer(await sign(rsa))), 503);
    expect(JSON.stringify(missing.lines)).toContain('/nonexistent/key.pem');
    const garbage = make(policy({ keys: [{ env: 'G' }] }), { env: { G: 'not a key' } });
    expectFailure(await judge(garbage.auth, bearer(await sign(rsa))), 503);
  });

  it('compile_failsClosed_whenAHmacSecretIsShorterThanTheHash', async () => {
    const { auth, lines } = make(policy({ algorithms: ['HS256'], keys: [{ secret: '${SHORT}' }] }), { env: { SHORT: 'too-short' } });
    expectFailure(await judge(auth, bearer(rawToken({ alg: 'HS256' }, claimsNow(), 'c2ln'))), 503);
    expect(JSON.stringify(lines)).not.toContain('too-short');
  });

  it('check_rejectsAlgNone_withOrWithoutSignature', async () => {
    const { auth } = make(policy({}));
    expectFailure(await judge(auth, bearer(rawToken({ alg: 'none' }, claimsNow()))), 401, 'malformed token');
    expectFailure(await judge(auth, bearer(rawToken({ alg: 'none' }, claimsNow(), 'AAAA'))), 401, 'algorithm not allowed');
  });

  it('check_rejectsHs256SignedWithTheRsaPublicKey_keyConfusion', async () => {
    // The classic attack: the public PEM used as an HMAC secret. Even when HS256 were allowed,
    // an RSA key is never imported for it.
    const forged = await new SignJWT(claimsNow()).setProtectedHeader({ alg: 'HS256', kid: 'r1' }).sign(Buffer.from(rsa.spkiPem));
    const { auth } = make(policy({}));
    expectFailure(await judge(auth, bearer(forged)), 401, 'algorithm not allowed');
  });

  it('check_rejectsExpiredNotYetValidWrongIssuerWrongAudienceAndNoExp', async () => {
    const { auth } = make(policy({ clockToleranceSeconds: 5 }));
    expectFailure(await judge(auth, bearer(await sign(rsa, { expiresIn: -60 }))), 401, 'token expired');
    expectFailure(await judge(auth, bearer(await sign(rsa, { claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }))), 401, 'token not yet valid');
    expectFailure(await judge(auth, bearer(await sign(rsa, { issuer: 'https://evil.example' }))), 401, 'issuer not accepted');
    expectFailure(await judge(auth, bearer(await sign(rsa, { audience: 'other-api' }))), 401, 'audience not accepted');
    expectFailure(await judge(auth, bearer(await sign(rsa, { noExp: true }))), 401, 'token has no exp claim');
    expectFailure(await judge(auth, bearer(await sign(rsa, { claims: { iat: Math.floor(Date.now() / 1000) + 3600 } }))), 401, 'token issued in the future');
  });

  it('check_acceptsWithinClockTolerance', async () => {
    const { auth } = make(policy({ clockToleranceSeconds: 120 }));
    expect((await judge(auth, bearer(await sign(rsa, { expiresIn: -60 })))).ok).toBe(true);
  });

  it('check_rejectsTamperedPayloadAndSignature_andAnotherKeysSignature', async () => {
    const { auth } = make(policy({}));
    const token = await sign(rsa);
    const [h, p, s] = token.split('.');
    const payload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })).toString('base64url');
    expectFailure(await judge(auth, bearer(`${h}.${payload}.${s}`)), 401, 'signature verification failed');
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    expectFailure(await judge(auth, bearer(`${h}.${p}.${flipped}`)), 401, 'signature verification failed');
    expectFailure(await judge(auth, bearer(await sign({ ...otherRsa, kid: 'r1' }))), 401, 'signature verification failed');
  });

  it('check_answers403_forMissingScopeRoleOrClaim_withInsufficientScopeChallenge', async () => {
    const { auth } = make(policy({ requiredScopes: ['users:read'], requiredRoles: ['admin'], rolesClaim: 'realm_access.roles', requiredClaims: ['tenant'] }));
    const ok = await sign(rsa, { claims: { scope: 'openid users:read', realm_access: { roles: ['admin'] }, tenant: 't' } });
    expect((await judge(auth, bearer(ok))).ok).toBe(true);
    const scp = await sign(rsa, { claims: { scp: ['users:read'], realm_access: { roles: ['admin'] }, tenant: 't' } });
    expect((await judge(auth, bearer(scp))).ok).toBe(true);
    const noScope = await judge(auth, bearer(await sign(rsa, { claims: { scope: 'openid', realm_access: { roles: ['admin'] }, tenant: 't' } })));
    expectFailure(noScope, 403, 'missing a required scope');
    expect(!noScope.ok && noScope.wwwAuthenticate).toBe('Bearer realm="p", error="insufficient_scope", error_description="missing a required scope", scope="users:read"');
    expectFailure(await judge(auth, bearer(await sign(rsa, { claims: { scope: 'users:read', realm_access: { roles: ['user'] }, tenant: 't' } }))), 403, 'missing a required role');
    expectFailure(await judge(auth, bearer(await sign(rsa, { claims: { scope: 'users:read', realm_access: { roles: ['admin'] } } }))), 403, 'missing a required claim');
  });

  it('check_missingOrForeignScheme_is401WithoutErrorCode_perRfc6750', async () => {
    const { auth } = make(policy({ realm: 'users' }));
    for (const values of [[], ['Basic dXNlcjpwYXNz']]) {
      const outcome = await judge(auth, values);
      expectFailure(outcome, 401);
      expect(!outcome.ok && outcome.code).toBe('AUTH_MISSING');
      expect(!outcome.ok && outcome.wwwAuthenticate).toBe('Bearer realm="users"');
    }
  });

  it('check_rejectsTwoAuthorizationHeaders_malformedAndOversizedTokens_synchronously', async () => {
    const { auth } = make(policy({ maxTokenBytes: 1024 }));
    const token = await sign(rsa);
    const results = [
      auth.check([`Bearer ${token}`, `Bearer ${token}`]),
      auth.check(['Bearer']),
      auth.check(['Bearer not-a-jwt']),
      auth.check(['Bearer a.b']),
      auth.check([`Bearer ${'a'.repeat(600)}.${'b'.repeat(600)}.c`]),
      auth.check([`Bearer ${'x'.repeat(5_000_000)}`]),
    ];
    for (const r of results) {
      expect(r).not.toBeInstanceOf(Promise);
      expectFailure(r as AuthOutcome, 401);
    }
    expect((results[0] as { wwwAuthenticate: string }).wwwAuthenticate).toContain('error="invalid_request"');
    expect((results[4] as { detail: string }).detail).toBe('token too large');
  });

  it('failures_neverEchoTheToken', async () => {
    const { auth } = make(policy({}));
    const token = await sign(rsa, { issuer: 'https://evil.example', claims: { sub: 'secret-subject' } });
    const outcome = await judge(auth, bearer(token));
    expect(JSON.stringify(outcome)).not.toContain('secret-subject');
    expect(JSON.stringify(outcome)).not.toContain(token.split('.')[1]);
  });
});

describe('JwtAuthenticator verdict cache', () => {
  it('check_servesARepeatedTokenSynchronously_fromTheCache', async () => {
    const { auth } = make(policy({ claimsToHeaders: { sub: 'X-User-Id' } }), {});
    const token = await sign(rsa);
    const first = auth.check(bearer(token));
    expect(first).toBeInstanceOf(Promise);
    const verdict = await first;
    const second = auth.check(bearer(token));
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toBe(verdict);
    const stats = authStats().get('p')!;
    expect(stats.cacheHits).toBe(1);
    expect(stats.verifications).toBe(1);
    expect(stats.accepted).toBe(2);
  });

  it('check_neverServesAVerdictPastTheTokensExp', async () => {
    let now = Date.now();
    const { auth } = make(policy({ clockToleranceSeconds: 0 }), { now: () => now });
    const token = await sign(rsa, { expiresIn: 5 });
    expect((await judge(auth, bearer(token))).ok).toBe(true);
    now += 6000;
    const later = auth.check(bearer(token));
    expect(later).toBeInstanceOf(Promise);
  });

  it('check_sharesOneVerification_betweenConcurrentRequestsWithTheSameToken', async () => {
    const { auth } = make(policy({}, 'shared'));
    const token = await sign(rsa);
    const all = await Promise.all([auth.check(bearer(token)), auth.check(bearer(token)), auth.check(bearer(token))]);
    expect(all.every((o) => o.ok)).toBe(true);
    expect(authStats().get('shared')!.verifications).toBe(1);
  });

  it('check_remembersARejectedTokenBriefly_soAFloodCostsNoVerification', async () => {
    let now = Date.now();
    const { auth } = make(policy({ tokenCache: { negativeTtlSeconds: 2 } }, 'neg'), { now: () => now });
    const bad = await sign(rsa, { issuer: 'https://evil.example' });
    expectFailure(await judge(auth, bearer(bad)), 401);
    const again = auth.check(bearer(bad));
    expect(again).not.toBeInstanceOf(Promise);
    now += 3000;
    expect(auth.check(bearer(bad))).toBeInstanceOf(Promise);
  });

  it('check_withCacheDisabled_verifiesEveryTime', async () => {
    const { auth } = make(policy({ tokenCache: { maxEntries: 0 } }, 'nocache'));
    const token = await sign(rsa);
    await judge(auth, bearer(token));
    expect(auth.check(bearer(token))).toBeInstanceOf(Promise);
  });
});
