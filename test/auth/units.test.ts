import { describe, expect, it } from 'vitest';
import { isCompactJws, readBearer } from '../../src/auth/bearer.js';
import { claimAt, claimHeaders, claimPath, compileClaimHeaders, grantedScopes, sanitise } from '../../src/auth/claims.js';
import { KeySet } from '../../src/auth/key-set.js';
import { parseMaterial, readKeyMaterial } from '../../src/auth/key-material.js';
import { seeded } from '../support/random.js';
import { TokenCache, tokenKey } from '../../src/auth/token-cache.js';
import { Challenges } from '../../src/auth/outcomes.js';
import { describeJoseError } from '../../src/auth/jwt-authenticator.js';
import { ecKey, rsaKey } from './support.js';

describe('claims', () => {
  it('claimAt_readsNestedPaths_andDottedNamesWhole', () => {
    const claims = { org: { id: 7, name: 'acme' }, 'https://x.example/roles': ['a'], list: [1] };
    expect(claimAt(claims, claimPath('org.id'))).toBe(7);
    expect(claimAt(claims, claimPath('https://x.example/roles'))).toEqual(['a']);
    expect(claimAt(claims, claimPath('org.missing'))).toBeUndefined();
    expect(claimAt(claims, claimPath('list.0'))).toBeUndefined();
    expect(claimAt(claims, claimPath('nope'))).toBeUndefined();
  });

  it('claimHeaders_jsonEncodesNonStrings_skipsAbsentClaims', () => {
    const mapping = compileClaimHeaders({ sub: 'X-User-Id', admin: 'X-Admin', org: 'X-Org', absent: 'X-Absent', nil: 'X-Nil' });
    expect(claimHeaders({ sub: 'u', admin: true, org: { id: 1 }, nil: null }, mapping)).toEqual(['x-user-id', 'u', 'x-admin', 'true', 'x-org', '{"id":1}']);
  });

  it('sanitise_removesCrLfAndControls_andKeepsNonAsciiText', () => {
    expect(sanitise('a\r\nX-Injected: 1')).toBe('aX-Injected: 1');
    expect(sanitise('tab\tok\u0000\u007f')).toBe('tab\tok');
    // Non-ASCII text stays text; the head is written as UTF-8, where U+010A (a bare LF if
    // cut to one byte) is C4 8A: no byte of it is a control character.
    const out = sanitise('\u010a\u00e9');
    expect(out).toBe('\u010a\u00e9');
    expect([...Buffer.from(out, 'utf8')].every((b) => b >= 0x80)).toBe(true);
  });

  it('grantedScopes_readsScopeStringAndScpArray', () => {
    expect([...grantedScopes({ scope: 'a  b', scp: ['c', 5] })]).toEqual(['a', 'b', 'c']);
    expect(grantedScopes({ scp: 'd e' }).has('e')).toBe(true);
  });
});

describe('readBearer', () => {
  it('readBearer_acceptsAnyCaseOfTheScheme', () => {
    expect(readBearer(['bearer a.b.c'], 100)).toEqual({ kind: 'token', token: 'a.b.c' });
    expect(readBearer(['BEARER  a.b.c '], 100)).toEqual({ kind: 'token', token: 'a.b.c' });
  });
  it('readBearer_classifiesFailures', () => {
    expect(readBearer([], 100).kind).toBe('missing');
    expect(readBearer(['Basic x'], 100).kind).toBe('missing');
    expect(readBearer(['Bearer a.b.c', 'Bearer a.b.c'], 100).kind).toBe('ambiguous');
    expect(readBearer(['Bearer '], 100).kind).toBe('malformed');
    expect(isCompactJws('a.b.')).toBe(false);
    expect(isCompactJws('a.b.c!')).toBe(false);
    expect(isCompactJws('a.b.c')).toBe(true);
    expect(readBearer([`Bearer ${'a'.repeat(90)}.b.c`], 80).kind).toBe('oversized');
  });
});

describe('TokenCache', () => {
  it('cache_expiresEntriesAtTheirDeadline', () => {
    const c = new TokenCache<number>(10, 1000);
    c.set('a', 1, 100);
    expect(c.get('a', 99)).toBe(1);
    expect(c.get('a', 100)).toBeUndefined();
    expect(c.size).toBe(0);
  });
  it('cache_evictsLeastRecentlyUsed_atTheEntryBound', () => {
    const c = new TokenCache<number>(2, 1000);
    c.set('a', 1, 1e9);
    c.set('b', 2, 1e9);
    c.get('a', 0);
    c.set('c', 3, 1e9);
    expect(c.get('b', 0)).toBeUndefined();
    expect(c.get('a', 0)).toBe(1);
    expect(c.get('c', 0)).toBe(3);
  });
  it('cache_isBoundedByKeyCharacters_tooAndIgnoresHugeKeys', () => {
    const c = new TokenCache<number>(100, 10);
    c.set('aaaaa', 1, 1e9);
    c.set('bbbbb', 2, 1e9);
    c.set('ccccc', 3, 1e9);
    expect(c.size).toBe(2);
    c.set('x'.repeat(11), 4, 1e9);
    expect(c.get('x'.repeat(11), 0)).toBeUndefined();
    c.set('ccccc', 5, 1e9);
    expect(c.get('ccccc', 0)).toBe(5);
    c.clear();
    expect(c.size).toBe(0);
  });
  it('cache_withZeroEntries_storesNothing', () => {
    const c = new TokenCache<number>(0, 0);
    c.set('a', 1, 1e9);
    expect(c.get('a', 0)).toBeUndefined();
  });
  it('cache_neverGivesOneTokensVerdictToAnother_thatEndsTheSame', () => {
    // A forged payload under a copied signature: same length, same last characters (so the
    // same key), a different token. The verdict is the first token's alone.
    const signature = 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    const genuine = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${signature}`;
    const forged = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyb290eSJ9.${signature}`;
    expect(tokenKey(forged)).toBe(tokenKey(genuine));
    const c = new TokenCache<string>(10, 1000);
    c.set(genuine, 'alice', 1e9);
    expect(c.get(forged, 0)).toBeUndefined();
    expect(c.get(genuine, 0)).toBe('alice');
  });
  it('cache_tokensWhoseKeysCollide_takeTurns_andTheCharacterBoundStaysExact', () => {
    // Two unrelated tokens with the same key (found by search: 30-bit keys collide within
    // ~2^15 random tokens).
    const random = seeded(11);
    const byKey = new Map<number, string>();
    let pair: [string, string] | null = null;
    while (pair === null) {
      const t = Array.from({ length: 20 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(random() * 36)]).join('');
      const other = byKey.get(tokenKey(t));
      if (other !== undefined && other !== t) pair = [other, t];
      else byKey.set(tokenKey(t), t);
    }
    const [first, second] = pair;
    const c = new TokenCache<number>(10, 45);
    c.set(first, 1, 1e9);
    c.set(second, 2, 1e9);
    expect(c.size).toBe(1);
    expect(c.get(first, 0)).toBeUndefined();
    expect(c.get(second, 0)).toBe(2);
    // 20 characters held, not 40: two more 12-character tokens fit under 45, a third evicts.
    c.set('x'.repeat(12), 3, 1e9);
    c.set('y'.repeat(12), 4, 1e9);
    expect(c.size).toBe(3);
    c.set('z'.repeat(12), 5, 1e9);
    expect(c.get(second, 0)).toBeUndefined();
    expect(c.size).toBe(3);
  });
});

describe('KeySet', () => {
  it('keySet_neverImportsAnRsaKeyForHmac_orAnEcKeyForRsa', async () => {
    const rsa = await rsaKey('r');
    const ec = await ecKey('e');
    const { set } = await KeySet.create([rsa.publicJwk, ec.publicJwk].map(({ alg: _a, ...j }) => j), ['HS256', 'RS256', 'ES256']);
    expect(set.candidates('HS256', undefined)).toHaveLength(0);
    expect(set.candidates('RS256', undefined)).toHaveLength(1);
    expect(set.candidates('ES256', 'e')).toHaveLength(1);
    expect(set.candidates('ES256', 'r')).toHaveLength(0);
    expect(set.knows('r')).toBe(true);
  });
  it('keySet_skipsEncryptionKeysWeakRsaAndShortSecrets_withReasons', async () => {
    const rsa = await rsaKey('r');
    const { set, skipped } = await KeySet.create([
      { ...rsa.publicJwk, use: 'enc' },
      { ...rsa.publicJwk, kid: 'ops', key_ops: ['encrypt'] },
      { kty: 'RSA', kid: 'weak', n: Buffer.alloc(128, 1).toString('base64url'), e: 'AQAB' },
      { kty: 'oct', kid: 'short', k: Buffer.from('short').toString('base64url') },
      { kty: 'EC', kid: 'p384', crv: 'P-384', x: 'AA', y: 'AA' },
    ], ['RS256', 'HS256', 'ES256']);
    expect(set.size).toBe(0);
    expect(skipped.join('\n')).toMatch(/use is "enc"[\s\S]*key_ops[\s\S]*2048[\s\S]*at least 32 bytes[\s\S]*fits none/);
  });
});

describe('key material', () => {
  it('parseMaterial_readsPemJwkAndJwkSet', async () => {
    const rsa = await rsaKey('r');
    expect(parseMaterial(rsa.spkiPem)![0].kty).toBe('RSA');
    expect(parseMaterial(JSON.stringify(rsa.publicJwk))![0].kid).toBe('r');
    expect(parseMaterial(JSON.stringify({ keys: [rsa.publicJwk, rsa.publicJwk] }))).toHaveLength(2);
    expect(parseMaterial('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----')).toBeNull();
    expect(parseMaterial('plain text')).toBeNull();
  });
  it('readKeyMaterial_appliesKidAndAlg_andResolvesFilePathReferences', async () => {
    const rsa = await rsaKey('r');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    writeFileSync(join(dir, 'k.pem'), rsa.spkiPem);
    const result = readKeyMaterial([{ file: '${KEY_DIR}/k.pem', kid: 'file-key', alg: 'RS256' }], { KEY_DIR: dir });
    expect(result.ok && result.jwks[0]).toMatchObject({ kty: 'RSA', kid: 'file-key', alg: 'RS256' });
    const missing = readKeyMaterial([{ file: '${NO_DIR}/k.pem' }], {});
    expect(!missing.ok && missing.problem).toContain('NO_DIR');
    const noEnv = readKeyMaterial([{ env: 'NO_KEY' }], {});
    expect(!noEnv.ok && noEnv.problem).toContain('NO_KEY');
  });
});

describe('challenges and error descriptions', () => {
  it('challenges_areMemoisedAndFrozen', () => {
    const c = new Challenges('r');
    expect(c.invalid('x')).toBe(c.invalid('x'));
    expect(Object.isFrozen(c.unavailable('y'))).toBe(true);
    expect(c.forbidden('z').wwwAuthenticate).toBe('Bearer realm="r", error="insufficient_scope", error_description="z"');
  });
  it('describeJoseError_neverUsesTheErrorMessage', () => {
    expect(describeJoseError({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'sub', reason: 'check_failed', message: 'secret' })).toBe('invalid claims');
    expect(describeJoseError({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' })).toBe('algorithm not allowed');
    expect(describeJoseError({ code: 'ERR_JWS_INVALID' })).toBe('malformed token');
    expect(describeJoseError(new TypeError('boom'))).toBe('token could not be verified');
  });
});
