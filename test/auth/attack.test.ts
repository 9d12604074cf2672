/**
 * The attack suite (issue 4): a running gateway with two real worker threads, a real upstream
 * that echoes what it received, and real JWKS servers on 127.0.0.1. Every attack gets its
 * proper status, never a 500, and the token never shows in a body or a log line.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { freePort, startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import { AUDIENCE, claimsNow, ISSUER, rawToken, rsaKey, sign, sleep, startJwksServer, type JwksServer, type TestKey } from './support.js';

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** One request over a fresh socket, with headers exactly as given (duplicates included). */
function request(port: number, path: string, headers: Array<[string, string]> = []): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d) => { data += d; });
    s.on('error', reject);
    s.on('close', () => {
      const end = data.indexOf('\r\n\r\n');
      const head = data.slice(0, end).split('\r\n');
      const status = Number(head[0]?.split(' ')[1] ?? 0);
      const h: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        h[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status, headers: h, body: data.slice(end + 4) });
    });
    const lines = [`GET ${path} HTTP/1.1`, 'host: gw.test', 'connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
    s.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

const bearer = (token: string): Array<[string, string]> => [['authorization', `Bearer ${token}`]];

describe('attack suite against a running gateway', () => {
  let up: Upstream;
  let jwks: JwksServer;
  let staleJwks: JwksServer;
  let gw: GatewayProcess;
  let k1: TestKey;
  let k2: TestKey;
  const tokensSent: string[] = [];
  const statuses: number[] = [];

  async function call(path: string, headers: Array<[string, string]> = []): Promise<RawResponse> {
    for (const [k, v] of headers) if (k === 'authorization') tokensSent.push(v.slice(7));
    const r = await request(gw.port, path, headers);
    statuses.push(r.status);
    return r;
  }

  beforeAll(async () => {
    [k1, k2] = await Promise.all([rsaKey('k1'), rsaKey('k2')]);
    up = await startUpstream();
    jwks = await startJwksServer([k1.publicJwk]);
    staleJwks = await startJwksServer([k1.publicJwk]);
    const deadPort = await freePort();
    const jwt = (jwksUri: string, extra: Record<string, unknown> = {}) => ({
      issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256'], jwksUri,
      claimsToHeaders: { sub: 'X-User-Id', tenant: 'X-Tenant-Id', 'org.id': 'X-Org' }, ...extra,
    });
    gw = await startGateway({
      workers: 2,
      config: {
        authPolicies: [
          { id: 'users', jwt: jwt(jwks.url, { requiredScopes: ['users:read'], maxTokenBytes: 2048, jwksRefresh: { unknownKidCooldownSeconds: 1 } }) },
          { id: 'stale', jwt: jwt(staleJwks.url, { jwksRefresh: { intervalSeconds: 1 } }) },
          { id: 'cold', jwt: jwt(`http://127.0.0.1:${deadPort}/jwks.json`, { jwksRefresh: { timeoutMs: 500 } }) },
        ],
        routes: [
          { id: 'users', cluster: 'backend', match: { path: '/api/{**rest}' }, authPolicy: 'users' },
          { id: 'stale', cluster: 'backend', match: { path: '/stale/{**rest}' }, authPolicy: 'stale' },
          { id: 'cold', cluster: 'backend', match: { path: '/cold/{**rest}' }, authPolicy: 'cold' },
          { id: 'open', cluster: 'backend', match: { path: '/open/{**rest}' } },
        ],
        clusters: [{ id: 'backend', destinations: [{ id: 'd0', address: `http://127.0.0.1:${up.port}` }] }],
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await Promise.all([up?.close(), jwks?.close(), staleJwks?.close()]);
  });

  const good = () => sign(k1, { claims: { scope: 'users:read', tenant: 'acme', org: { id: 7 } } });

  it('validToken_isForwarded_withVerifiedIdentityHeaders_andWithoutAuthorization', async () => {
    const r = await call('/api/me', [...bearer(await good()), ['x-user-id', 'spoofed-admin'], ['X-Org', 'evil']]);
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body).headers;
    expect(seen['x-user-id']).toBe('user-1');
    expect(seen['x-tenant-id']).toBe('acme');
    expect(seen['x-org']).toBe('7');
    expect(seen.authorization).toBeUndefined();
  });

  it('clientSentIdentityHeader_isRemoved_evenWhenTheTokenLacksTheClaim', async () => {
    const token = await sign(k1, { claims: { scope: 'users:read' } });
    const r = await call('/api/me', [...bearer(token), ['x-tenant-id', 'other-tenant'], ['x-tenant-id', 'again']]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).headers['x-tenant-id']).toBeUndefined();
  });

  it('missingToken_is401_withAChallengeWithoutErrorCode', async () => {
    const r = await call('/api/me');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="users"');
    expect(JSON.parse(r.body).code).toBe('AUTH_MISSING');
  });

  it('algNone_is401', async () => {
    for (const sig of ['', 'AAAA']) {
      const r = await call('/api/me', bearer(rawToken({ alg: 'none', typ: 'JWT' }, claimsNow({ scope: 'users:read' }), sig)));
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toContain('error="invalid_token"');
    }
  });

  it('hs256SignedWithTheRsaPublicKey_is401', async () => {
    const forged = await new SignJWT(claimsNow({ scope: 'users:read' })).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(Buffer.from(k1.spkiPem));
    const r = await call('/api/me', bearer(forged));
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('error_description="algorithm not allowed"');
  });

  it('expired_notYetValid_wrongIssuer_wrongAudience_are401_withTheirDescriptions', async () => {
    const cases: Array<[Promise<string>, string]> = [
      [sign(k1, { expiresIn: -3600, claims: { scope: 'users:read' } }), 'token expired'],
      [sign(k1, { claims: { scope: 'users:read', nbf: Math.floor(Date.now() / 1000) + 3600 } }), 'token not yet valid'],
      [sign(k1, { issuer: 'https://evil.example', claims: { scope: 'users:read' } }), 'issuer not accepted'],
      [sign(k1, { audience: 'billing-api', claims: { scope: 'users:read' } }), 'audience not accepted'],
    ];
    for (const [token, description] of cases) {
      const r = await call('/api/me', bearer(await token));
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe(`Bearer realm="users", error="invalid_token", error_description="${description}"`);
      expect(JSON.parse(r.body)).toMatchObject({ status: 401, code: 'AUTH_INVALID', detail: description });
    }
  });

  it('tamperedPayload_andTamperedSignature_are401', async () => {
    const [h, p, s] = (await good()).split('.');
    const elevated = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })).toString('base64url');
    expect((await call('/api/me', bearer(`${h}.${elevated}.${s}`))).status).toBe(401);
    const flipped = `${s.slice(0, 20)}${s[20] === 'A' ? 'B' : 'A'}${s.slice(21)}`;
    expect((await call('/api/me', bearer(`${h}.${p}.${flipped}`))).status).toBe(401);
  });

  it('missingScope_is403_insufficientScope', async () => {
    const r = await call('/api/me', bearer(await sign(k1, { claims: { scope: 'openid' } })));
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(r.headers['www-authenticate']).toContain('scope="users:read"');
  });

  it('malformedAndOversizedTokens_are401_orRefusedByTheServer_neverParsed', async () => {
    for (const t of ['garbage', 'a.b', 'a.b.c.d', '%%%.%%%.%%%']) expect((await call('/api/me', bearer(t))).status).toBe(401);
    const big = `${'a'.repeat(1500)}.${'b'.repeat(1500)}.c`;
    const r = await call('/api/me', bearer(big));
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('token too large');
    // Far beyond any header limit: the HTTP server itself refuses it; never a 500.
    const huge = await request(gw.port, '/api/me', bearer('x'.repeat(200_000))).catch(() => ({ status: 0 }));
    expect(huge.status).not.toBe(500);
    expect(huge.status === 0 || (huge.status >= 400 && huge.status < 500)).toBe(true);
  });

  it('twoAuthorizationHeaders_is401', async () => {
    const token = await good();
    const r = await call('/api/me', [...bearer(token), ...bearer(token)]);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('unknownKid_isRejected_thenAcceptedAfterTheJwksRotatesToIncludeIt', async () => {
    const rotated = await sign(k2, { claims: { scope: 'users:read' } });
    expect((await call('/api/me', bearer(rotated))).status).toBe(401);
    jwks.setKeys([k1.publicJwk, k2.publicJwk]);
    await sleep(1200); // the unknown-kid cooldown of this policy
    // Several requests so that both workers meet the new kid (each refetches once).
    for (let i = 0; i < 4; i++) {
      const token = await sign(k2, { claims: { scope: 'users:read', n: i } });
      expect((await call('/api/me', bearer(token))).status).toBe(200);
    }
  });

  it('jwksUnreachable_withCachedKeys_servesStaleKeys_andLogsIt', async () => {
    expect((await call('/stale/x', bearer(await good()))).status).toBe(200);
    await staleJwks.close();
    await sleep(1500);
    for (let i = 0; i < 4; i++) {
      const fresh = await sign(k1, { claims: { n: `stale-${i}` } });
      expect((await call('/stale/x', bearer(fresh))).status).toBe(200);
    }
    await gw.waitForLog((l) => String(l.msg).includes('serving the cached keys') && l.policy === 'stale', 5000);
  });

  it('jwksUnreachable_withoutCachedKeys_is503', async () => {
    const r = await call('/cold/x', bearer(await good()));
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).code).toBe('AUTH_UNAVAILABLE');
  });

  it('noAnswerWasA500_andNoTokenReachedABodyOrALogLine', async () => {
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    const logs = JSON.stringify(gw.logs) + gw.stderr();
    for (const t of tokensSent) {
      const signature = t.split('.')[2];
      if (signature && signature.length > 8) expect(logs).not.toContain(signature);
    }
  });
});
