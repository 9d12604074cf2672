/**
 * Validation of auth policies beyond their shape (see `AuthPolicyConfig` in ./types.ts).
 *
 * What a schema cannot say, checked here so that a policy that could never verify a token, or
 * one that would be unsafe, is refused before it is served:
 * - key sources: exactly one of `file`, `env`, `secret` per key; `secret` is a `${NAME}`
 *   reference, never the secret itself (SEC-01); references are well-formed;
 * - either `jwksUri` or `keys`, and the key sources fit the algorithms: HS* (a shared secret)
 *   is never mixed with asymmetric algorithms or a JWK set URL in one policy, because a
 *   verifier that accepts both is one confused key away from accepting a token "signed" with
 *   the public key as an HMAC secret;
 * - claim paths and the header names claims are mapped to (never one the gateway manages,
 *   never the same header twice).
 * Whether a variable or a file exists is decided where the key is used, in the worker.
 */
import { describeValue, type PathSegment, type PathedError } from './field-path.js';
import { checkReferences, ENV_NAME_PATTERN, isSingleReference } from './secret-ref.js';
import { PROTECTED_HEADERS } from './transforms-check.js';

type Fields = Record<string, unknown>;

const ENV_NAME = new RegExp(ENV_NAME_PATTERN);

/** Headers a claim may not be mapped to: managed by the gateway, or the credential itself. */
export const RESERVED_CLAIM_HEADERS: ReadonlySet<string> = new Set([
  ...PROTECTED_HEADERS,
  'authorization',
  'cookie',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

const isHmac = (alg: string): boolean => alg.startsWith('HS');

export function checkAuthPolicy(policy: Fields, at: readonly PathSegment[]): PathedError[] {
  const errors: PathedError[] = [];
  const report = (segments: readonly PathSegment[], message: string): void => {
    errors.push({ segments, message });
  };
  if (!isObject(policy.jwt)) return errors;
  const jwt = policy.jwt;
  const jat = [...at, 'jwt'];

  const algorithms = Array.isArray(jwt.algorithms) ? jwt.algorithms.filter((a): a is string => typeof a === 'string') : [];
  const seen = new Set<string>();
  algorithms.forEach((alg, i) => {
    if (seen.has(alg)) report([...jat, 'algorithms', i], `duplicate algorithm ${alg}`);
    seen.add(alg);
  });
  const hmac = algorithms.filter(isHmac);
  const asymmetric = algorithms.filter((a) => !isHmac(a));
  if (hmac.length > 0 && asymmetric.length > 0) {
    report([...jat, 'algorithms'], `mixes HMAC (${hmac.join(', ')}) and asymmetric (${asymmetric.join(', ')}) algorithms, which invites key confusion; use one family per policy`);
  }

  const hasUri = typeof jwt.jwksUri === 'string';
  const keys = Array.isArray(jwt.keys) ? jwt.keys : null;
  if (hasUri && keys !== null) report(jat, 'set either jwksUri or keys, not both');
  if (!hasUri && jwt.keys === undefined) report(jat, 'needs a key source: jwksUri, or keys from files or environment variables');
  if (hasUri) {
    const problem = checkJwksUri(jwt.jwksUri as string);
    if (problem !== undefined) report([...jat, 'jwksUri'], problem);
    if (hmac.length > 0) report([...jat, 'jwksUri'], `a JWK set URL publishes public keys; ${hmac.join(', ')} needs a shared secret from keys[].secret`);
  }
  keys?.forEach((key, k) => {
    if (!isObject(key)) return;
    errors.push(...checkKey(key, [...jat, 'keys', k], algorithms));
  });

  for (const field of ['requiredClaims'] as const) {
    if (!Array.isArray(jwt[field])) continue;
    (jwt[field] as unknown[]).forEach((path, i) => {
      if (typeof path === 'string' && !isClaimPath(path)) report([...jat, field, i], claimPathMessage(path));
    });
  }
  if (typeof jwt.rolesClaim === 'string' && !isClaimPath(jwt.rolesClaim)) report([...jat, 'rolesClaim'], claimPathMessage(jwt.rolesClaim));
  for (const field of ['requiredScopes', 'requiredRoles'] as const) {
    if (!Array.isArray(jwt[field])) continue;
    (jwt[field] as unknown[]).forEach((value, i) => {
      if (typeof value === 'string' && /\s/.test(value)) report([...jat, field, i], 'must not contain whitespace (scopes and roles are single words)');
    });
  }

  if (isObject(jwt.claimsToHeaders)) {
    const headers = new Map<string, string>();
    for (const [claim, header] of Object.entries(jwt.claimsToHeaders)) {
      const cat = [...jat, 'claimsToHeaders', claim];
      if (!isClaimPath(claim)) report(cat, claimPathMessage(claim));
      if (typeof header !== 'string') continue;
      const lower = header.toLowerCase();
      if (RESERVED_CLAIM_HEADERS.has(lower)) report(cat, `"${lower}" is managed by the gateway and cannot carry a claim`);
      const first = headers.get(lower);
      if (first !== undefined) report(cat, `header "${lower}" is already mapped from claim "${first}"`);
      else headers.set(lower, claim);
    }
  }

  if (isObject(jwt.jwksRefresh)) {
    const r = jwt.jwksRefresh;
    if (typeof r.minIntervalSeconds === 'number' && typeof r.maxIntervalSeconds === 'number' && r.minIntervalSeconds > r.maxIntervalSeconds) {
      report([...jat, 'jwksRefresh', 'minIntervalSeconds'], `must not exceed maxIntervalSeconds (${r.maxIntervalSeconds})`);
    }
    if (!hasUri) report([...jat, 'jwksRefresh'], 'applies only to a policy with a jwksUri');
  }
  return errors;
}

function checkKey(key: Fields, at: readonly PathSegment[], algorithms: readonly string[]): PathedError[] {
  const errors: PathedError[] = [];
  const report = (field: string | undefined, message: string): void => {
    errors.push({ segments: field === undefined ? at : [...at, field], message });
  };
  const sources = (['file', 'env', 'secret'] as const).filter((f) => key[f] !== undefined);
  if (sources.length !== 1) {
    report(undefined, sources.length === 0
      ? 'needs one key source: file, env or secret'
      : `has several key sources (${sources.join(', ')}); give exactly one`);
  }
  if (typeof key.file === 'string') for (const p of checkReferences(key.file)) report('file', p);
  if (typeof key.env === 'string' && !ENV_NAME.test(key.env)) {
    report('env', `must be an environment variable name (letters, digits and _, not starting with a digit) (got ${describeValue(key.env)})`);
  }
  if (typeof key.secret === 'string' && !isSingleReference(key.secret)) {
    // Never echo the value: it may be the very secret that must not be in the file.
    report('secret', 'must be a reference to an environment variable, "${NAME}"; the secret itself never belongs in the configuration');
  }
  if (key.encoding !== undefined && key.secret === undefined) report('encoding', 'applies only to a secret');
  const alg = typeof key.alg === 'string' ? key.alg : undefined;
  if (alg !== undefined && algorithms.length > 0 && !algorithms.includes(alg)) {
    report('alg', `${alg} is not in the policy's algorithms (${algorithms.join(', ')})`);
  }
  if (key.secret !== undefined && algorithms.length > 0 && (alg !== undefined ? !isHmac(alg) : !algorithms.some(isHmac))) {
    report('secret', `a shared secret verifies only HS256, HS384 or HS512 (the policy allows ${algorithms.join(', ')})`);
  }
  return errors;
}

function checkJwksUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `must be an absolute http or https URL (got ${describeValue(uri)})`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must use https or http (got ${url.protocol})`;
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.hash !== '') return 'must not contain a fragment';
  return undefined;
}

/** A claim path: dot-separated names, none empty (`sub`, `org.id`, `realm_access.roles`). */
export function isClaimPath(path: string): boolean {
  return path.length > 0 && path.split('.').every((segment) => segment.length > 0);
}

function claimPathMessage(path: string): string {
  return `${describeValue(path)} is not a claim path (names separated by ".", none empty)`;
}

function isObject(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
