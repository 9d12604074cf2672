/**
 * Compiling an auth policy: the configuration with every default applied and every per-request
 * structure (claim paths, header tables, the removal set) built once, when the policy row
 * changes, never per request.
 */
import type { AuthPolicyConfig, JwtAlgorithm } from '../config/types.js';
import { claimPath, compileClaimHeaders, type ClaimHeader, type ClaimPath } from './claims.js';
import { HeaderNameSet } from '../transforms/headers.js';

/** The defaults of every optional field, in one place (docs/security.md lists them; a test checks). */
export const JWT_DEFAULTS = Object.freeze({
  clockToleranceSeconds: 30,
  rolesClaim: 'roles',
  forwardAuthorization: false,
  maxTokenBytes: 8192,
  jwksRefresh: Object.freeze({
    minIntervalSeconds: 60,
    maxIntervalSeconds: 3600,
    unknownKidCooldownSeconds: 30,
    timeoutMs: 5000,
    maxStaleSeconds: 86_400,
  }),
  tokenCache: Object.freeze({
    maxEntries: 10_000,
    maxTtlSeconds: 300,
    negativeTtlSeconds: 10,
  }),
});

export interface CompiledJwtPolicy {
  readonly id: string;
  readonly realm: string;
  readonly issuer: string | string[];
  readonly audiences: string[];
  readonly algorithms: readonly JwtAlgorithm[];
  readonly clockToleranceSeconds: number;
  readonly maxTokenBytes: number;
  readonly requiredClaims: readonly ClaimPath[];
  readonly requiredScopes: readonly string[];
  readonly requiredRoles: readonly string[];
  readonly rolesClaim: ClaimPath;
  readonly claimHeaders: readonly ClaimHeader[];
  /** Lower-case names the pipeline drops from the client's request: mapped headers, and `authorization` unless forwarded. */
  readonly removeHeaders: ReadonlySet<string>;
  readonly cacheMaxEntries: number;
  readonly cacheMaxTtlMs: number;
  readonly negativeTtlMs: number;
}

export function compilePolicy(policy: AuthPolicyConfig): CompiledJwtPolicy {
  const jwt = policy.jwt;
  const claimHeaders = compileClaimHeaders(jwt.claimsToHeaders);
  const remove = new HeaderNameSet(claimHeaders.map((c) => c.header));
  if (!(jwt.forwardAuthorization ?? JWT_DEFAULTS.forwardAuthorization)) remove.add('authorization');
  const cache = { ...JWT_DEFAULTS.tokenCache, ...jwt.tokenCache };
  return {
    id: policy.id,
    realm: jwt.realm ?? policy.id,
    issuer: typeof jwt.issuer === 'string' ? jwt.issuer : [...jwt.issuer],
    audiences: [...jwt.audiences],
    algorithms: jwt.algorithms,
    clockToleranceSeconds: jwt.clockToleranceSeconds ?? JWT_DEFAULTS.clockToleranceSeconds,
    maxTokenBytes: jwt.maxTokenBytes ?? JWT_DEFAULTS.maxTokenBytes,
    requiredClaims: (jwt.requiredClaims ?? []).map(claimPath),
    requiredScopes: jwt.requiredScopes ?? [],
    requiredRoles: jwt.requiredRoles ?? [],
    rolesClaim: claimPath(jwt.rolesClaim ?? JWT_DEFAULTS.rolesClaim),
    claimHeaders,
    removeHeaders: remove,
    cacheMaxEntries: cache.maxEntries,
    cacheMaxTtlMs: cache.maxTtlSeconds * 1000,
    negativeTtlMs: cache.negativeTtlSeconds * 1000,
  };
}
