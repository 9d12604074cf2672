import { describe, expect, it } from 'vitest';
import { applyAndValidate, applyChange, diffConfigs, EMPTY_CHANGE, isEmptyChange } from '../../src/config/diff.js';
import { configHash } from '../../src/config/canonical.js';
import { validateConfig } from '../../src/config/validate.js';
import { checkReferences, resolveReferences } from '../../src/config/secret-ref.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { errorsOf, expectError, expectValid, validInput } from './helpers.js';

function withPolicy(jwt: Record<string, unknown> = {}): any {
  const input = validInput();
  input.authPolicies = [{
    id: 'users-jwt',
    jwt: { issuer: 'https://id.example.com', audiences: ['users-api'], jwksUri: 'https://id.example.com/.well-known/jwks.json', algorithms: ['RS256'], ...jwt },
  }];
  input.routes[0].authPolicy = 'users-jwt';
  return input;
}

function valid(input: unknown): GatewayConfig {
  const r = validateConfig(input);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('validateConfig: auth policies', () => {
  it('validate_acceptsTheIssueExample_andEveryOptionalField', () => {
    expectValid(withPolicy({
      clockToleranceSeconds: 30, requiredScopes: ['users:read'], claimsToHeaders: { sub: 'X-User-Id', tenant: 'X-Tenant-Id', 'org.id': 'X-Org' },
      requiredRoles: ['admin'], rolesClaim: 'realm_access.roles', requiredClaims: ['tenant'], forwardAuthorization: true, realm: 'users',
      maxTokenBytes: 8192, issuer: ['https://a.example', 'https://b.example'],
      jwksRefresh: { intervalSeconds: 600, minIntervalSeconds: 60, maxIntervalSeconds: 3600, unknownKidCooldownSeconds: 30, timeoutMs: 5000, maxStaleSeconds: 86400 },
      tokenCache: { maxEntries: 10000, maxTtlSeconds: 300, negativeTtlSeconds: 10 },
    }));
  });

  it('validate_acceptsKeysFromFilesEnvAndSecretReferences', () => {
    const input = withPolicy({ algorithms: ['HS256'], keys: [{ secret: '${JWT_SECRET}', encoding: 'base64' }, { env: 'JWT_JWK', kid: 'k2' }] });
    delete input.authPolicies[0].jwt.jwksUri;
    expectValid(input);
    const rsa = withPolicy({ keys: [{ file: '${CREDENTIALS_DIRECTORY}/jwt.pem', alg: 'RS256' }] });
    delete rsa.authPolicies[0].jwt.jwksUri;
    expectValid(rsa);
  });

  it('validate_rejectsAlgNone_andUnknownAlgorithms', () => {
    expectError(withPolicy({ algorithms: ['none'] }), 'authPolicies[0].jwt.algorithms[0]', 'must be one of: RS256');
    expectError(withPolicy({ algorithms: ['RS256', 'RS256'] }), 'authPolicies[0].jwt.algorithms[1]', 'duplicate algorithm RS256');
  });

  it('validate_rejectsHmacMixedWithAsymmetric_orWithAJwksUri_keyConfusion', () => {
    expectError(withPolicy({ algorithms: ['RS256', 'HS256'] }), 'authPolicies[0].jwt.algorithms', 'invites key confusion');
    expectError(withPolicy({ algorithms: ['HS256'] }), 'authPolicies[0].jwt.jwksUri', 'needs a shared secret');
    const secretForRsa = withPolicy({ keys: [{ secret: '${S}' }] });
    delete secretForRsa.authPolicies[0].jwt.jwksUri;
    expectError(secretForRsa, 'authPolicies[0].jwt.keys[0].secret', 'verifies only HS256');
  });

  it('validate_rejectsLiteralSecrets_withoutEchoingThem', () => {
    const input = withPolicy({ algorithms: ['HS256'], keys: [{ secret: 'hunter2-is-my-password' }] });
    delete input.authPolicies[0].jwt.jwksUri;
    const errors = errorsOf(input);
    expect(errors.find((e) => e.path === 'authPolicies[0].jwt.keys[0].secret')?.message).toContain('never belongs in the configuration');
    expect(JSON.stringify(errors)).not.toContain('hunter2');
  });

  it('validate_rejectsBadKeySources', () => {
    const input = withPolicy({ keys: [{}, { file: 'a', env: 'B' }, { env: '1BAD' }, { file: '${bad-name}/k.pem' }, { env: 'X', encoding: 'base64' }, { env: 'Y', alg: 'ES256' }] });
    delete input.authPolicies[0].jwt.jwksUri;
    expectError(input, 'authPolicies[0].jwt.keys[0]', 'needs one key source');
    expectError(input, 'authPolicies[0].jwt.keys[1]', 'several key sources');
    expectError(input, 'authPolicies[0].jwt.keys[2].env', 'must be an environment variable name');
    expectError(input, 'authPolicies[0].jwt.keys[3].file', 'not a valid environment variable reference');
    expectError(input, 'authPolicies[0].jwt.keys[4].encoding', 'applies only to a secret');
    expectError(input, 'authPolicies[0].jwt.keys[5].alg', "not in the policy's algorithms");
  });

  it('validate_needsExactlyOneKeySource', () => {
    const none = withPolicy();
    delete none.authPolicies[0].jwt.jwksUri;
    expectError(none, 'authPolicies[0].jwt', 'needs a key source');
    expectError(withPolicy({ keys: [{ env: 'K' }] }), 'authPolicies[0].jwt', 'either jwksUri or keys');
  });

  it('validate_checksJwksUri', () => {
    expectError(withPolicy({ jwksUri: 'id.example.com/jwks' }), 'authPolicies[0].jwt.jwksUri', 'absolute http or https URL');
    expectError(withPolicy({ jwksUri: 'ftp://id.example.com/jwks' }), 'authPolicies[0].jwt.jwksUri', 'https or http');
    expectError(withPolicy({ jwksUri: 'https://u:p@id.example.com/jwks' }), 'authPolicies[0].jwt.jwksUri', 'credentials');
    expectError(withPolicy({ jwksUri: 'https://id.example.com/jwks#x' }), 'authPolicies[0].jwt.jwksUri', 'fragment');
  });

  it('validate_checksClaimMappings', () => {
    const input = withPolicy({ claimsToHeaders: { sub: 'Authorization', 'a..b': 'X-A', tenant: 'X-T', org: 'x-t', host: 'Host', bad: 'X Bad' } });
    expectError(input, 'authPolicies[0].jwt.claimsToHeaders.sub', 'managed by the gateway');
    expectError(input, 'authPolicies[0].jwt.claimsToHeaders["a..b"]', 'not a claim path');
    expectError(input, 'authPolicies[0].jwt.claimsToHeaders.org', 'already mapped from claim "tenant"');
    expectError(input, 'authPolicies[0].jwt.claimsToHeaders.host', 'managed by the gateway');
    expect(errorsOf(input).some((e) => e.path === 'authPolicies[0].jwt.claimsToHeaders.bad')).toBe(true);
  });

  it('validate_checksScopesRolesPathsAndRefreshBounds', () => {
    const input = withPolicy({ requiredScopes: ['a b'], requiredRoles: ['x y'], rolesClaim: '.roles', requiredClaims: ['ok', 'a.'], jwksRefresh: { minIntervalSeconds: 600, maxIntervalSeconds: 60 } });
    expectError(input, 'authPolicies[0].jwt.requiredScopes[0]', 'whitespace');
    expectError(input, 'authPolicies[0].jwt.requiredRoles[0]', 'whitespace');
    expectError(input, 'authPolicies[0].jwt.rolesClaim', 'not a claim path');
    expectError(input, 'authPolicies[0].jwt.requiredClaims[1]', 'not a claim path');
    expectError(input, 'authPolicies[0].jwt.jwksRefresh.minIntervalSeconds', 'must not exceed maxIntervalSeconds');
    const staticRefresh = withPolicy({ keys: [{ env: 'K' }], jwksRefresh: {} });
    delete staticRefresh.authPolicies[0].jwt.jwksUri;
    expectError(staticRefresh, 'authPolicies[0].jwt.jwksRefresh', 'only to a policy with a jwksUri');
  });

  it('validate_requiresIssuerAndAudiences_andBoundsNumbers', () => {
    const input = withPolicy({ clockToleranceSeconds: 601, maxTokenBytes: 10 });
    delete input.authPolicies[0].jwt.issuer;
    delete input.authPolicies[0].jwt.audiences;
    expectError(input, 'authPolicies[0].jwt.issuer', 'is required');
    expectError(input, 'authPolicies[0].jwt.audiences', 'is required');
    expectError(input, 'authPolicies[0].jwt.clockToleranceSeconds', 'from 0 to 600');
    expectError(input, 'authPolicies[0].jwt.maxTokenBytes', 'from 256 to 65536');
  });

  it('validate_rejectsDuplicatePolicyIds_andRoutesNamingUnknownPolicies', () => {
    const input = withPolicy();
    input.authPolicies.push({ ...input.authPolicies[0] });
    input.routes[1].authPolicy = 'nope';
    expectError(input, 'authPolicies[1].id', 'duplicate auth policy id "users-jwt"');
    expectError(input, 'routes[1].authPolicy', 'refers to unknown auth policy "nope" (known auth policies: users-jwt)');
    const none = validInput();
    none.routes[0].authPolicy = 'ghost';
    expectError(none, 'routes[0].authPolicy', 'no authPolicies are defined');
  });
});

describe('diff: auth policies', () => {
  it('diff_changedPolicy_isUpsertedWhole_removedIsDeleted', () => {
    const a = valid(withPolicy());
    const changed = withPolicy({ clockToleranceSeconds: 5 });
    const b = valid(changed);
    expect(diffConfigs(a, b)).toEqual({ ...EMPTY_CHANGE, upsertAuthPolicies: [b.authPolicies![0]] });
    const without = validInput();
    const c = valid(without);
    expect(diffConfigs(a, c)).toMatchObject({ deleteAuthPolicies: ['users-jwt'], upsertRoutes: [c.routes[0]] });
    expect(isEmptyChange(diffConfigs(a, valid(withPolicy())))).toBe(true);
  });

  it('applyChange_roundTripsPolicies_andHashesSeeThem', () => {
    const a = valid(validInput());
    const b = valid(withPolicy());
    const applied = applyChange(a, diffConfigs(a, b));
    expect(configHash(applied)).toBe(configHash(b));
    expect(configHash(b)).not.toBe(configHash(valid(withPolicy({ clockToleranceSeconds: 1 }))));
    expect(applyChange(b, diffConfigs(b, a)).authPolicies).toBeUndefined();
  });

  it('applyAndValidate_reportsPolicyErrorsAtTheirPlaceInTheChange', () => {
    const a = valid(validInput());
    const result = applyAndValidate(a, { ...EMPTY_CHANGE, upsertAuthPolicies: [{ id: 'x', jwt: { issuer: 'i', audiences: ['a'], algorithms: ['none'] } } as never] });
    expect(!result.ok && result.errors.map((e) => e.path)).toEqual(['change.upsertAuthPolicies[0].jwt', 'change.upsertAuthPolicies[0].jwt.algorithms[0]']);
    const both = applyAndValidate(a, { ...EMPTY_CHANGE, upsertAuthPolicies: [valid(withPolicy()).authPolicies![0]], deleteAuthPolicies: ['users-jwt'] });
    expect(!both.ok && both.errors[0].message).toContain('both upserted and deleted');
  });

  it('applyAndValidate_acceptsChangesWithoutPolicyLists', () => {
    const a = valid(validInput());
    const { upsertAuthPolicies: _u, deleteAuthPolicies: _d, ...legacy } = EMPTY_CHANGE;
    expect(applyAndValidate(a, legacy).ok).toBe(true);
    expect(isEmptyChange(legacy)).toBe(true);
  });
});

describe('secret references', () => {
  it('references_areCheckedForSyntax_andResolvedByName', () => {
    expect(checkReferences('${A}/x/${B_1}')).toEqual([]);
    expect(checkReferences('${1A}')[0]).toContain('not a valid environment variable reference');
    expect(checkReferences('${A')[0]).toContain('unterminated');
    expect(resolveReferences('${A}:${B}', { A: 'x', B: 'y' })).toEqual({ ok: true, value: 'x:y' });
    expect(resolveReferences('${A}:${B}', { A: 'x' })).toEqual({ ok: false, missing: 'B' });
  });
});
