/**
 * JwtAuthenticator: the RouteAuthenticator of one JWT auth policy in one worker thread.
 *
 *   check(authorization values)
 *     ├─ read the bearer token (none / several / oversized / malformed: 401, synchronously)
 *     ├─ verdict cache hit (positive until min(exp, maxTtl); negative for negativeTtl): synchronous
 *     └─ verify (a promise): header → alg allow-list → keys (waiting for a JWKS fetch only when
 *        there are none, or for an unknown kid within the cooldown rules) → signature and
 *        registered claims (jose) → iat sanity → required claims, scopes, roles (403) →
 *        mapped headers. Concurrent requests with the same uncached token share one verification.
 *
 * Never throws, never rejects; a bug inside verification becomes a 401 and a log line.
 * Nothing here logs or returns the token or a claim value.
 */
import { decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Logger } from '../observability/logger.js';
import { isCompactJws, readBearer } from './bearer.js';
import { claimAt, claimHeaders, firstMissing, grantedScopes, wordsOf, type Claims } from './claims.js';
import type { KeySource } from './key-source.js';
import type { Challenges } from './outcomes.js';
import type { CompiledJwtPolicy } from './policy.js';
import type { AuthStats } from './stats.js';
import { TokenCache } from './token-cache.js';
import type { AuthOutcome, RouteAuthenticator } from './types.js';

/** A token whose kid matches several keys is tried against at most this many. */
const MAX_CANDIDATES = 4;
/** Average key budget of the verdict cache per entry: bounds memory when tokens are large. */
const CACHE_CHARS_PER_ENTRY = 2048;

export interface AuthenticatorClock {
  readonly now: () => number;
  readonly log: Pick<Logger, 'error'>;
}

export class JwtAuthenticator implements RouteAuthenticator {
  readonly #p: CompiledJwtPolicy;
  readonly #keys: KeySource;
  readonly #challenges: Challenges;
  readonly #stats: AuthStats;
  readonly #clock: AuthenticatorClock;
  readonly #allowed: ReadonlySet<string>;
  readonly #verifyOptions: JWTVerifyOptions;
  /** Verdicts of validly signed tokens: accepted, or forbidden (403). */
  readonly #verdicts: TokenCache<AuthOutcome>;
  /** Recent 401s, in a smaller cache so a flood of garbage cannot evict good verdicts. */
  readonly #rejections: TokenCache<AuthOutcome>;
  readonly #pending = new Map<string, Promise<AuthOutcome>>();
  readonly #tooLong: AuthOutcome;
  readonly #malformed: AuthOutcome;

  constructor(policy: CompiledJwtPolicy, keys: KeySource, challenges: Challenges, stats: AuthStats, clock: AuthenticatorClock) {
    this.#p = policy;
    this.#keys = keys;
    this.#challenges = challenges;
    this.#stats = stats;
    this.#clock = clock;
    this.#allowed = new Set(policy.algorithms);
    this.#verifyOptions = {
      algorithms: [...policy.algorithms],
      issuer: policy.issuer,
      audience: policy.audiences,
      clockTolerance: policy.clockToleranceSeconds,
      // A token without exp would be valid forever, and could be cached forever.
      requiredClaims: ['exp'],
    };
    const n = policy.cacheMaxEntries;
    this.#verdicts = new TokenCache(n, n * CACHE_CHARS_PER_ENTRY);
    const negative = policy.negativeTtlMs > 0 ? Math.min(n, Math.max(16, n >> 3)) : 0;
    this.#rejections = new TokenCache(negative, negative * CACHE_CHARS_PER_ENTRY);
    this.#tooLong = challenges.invalid('token too large');
    this.#malformed = challenges.invalid('malformed token');
  }

  check(authorization: readonly string[]): AuthOutcome | Promise<AuthOutcome> {
    const read = readBearer(authorization, this.#p.maxTokenBytes);
    switch (read.kind) {
      case 'missing': return this.#count(this.#challenges.missing);
      case 'ambiguous': return this.#count(this.#challenges.ambiguous);
      case 'oversized': return this.#count(this.#tooLong);
      case 'malformed': return this.#count(this.#malformed);
    }
    const token = read.token;
    const now = this.#clock.now();
    const cached = this.#verdicts.get(token, now) ?? this.#rejections.get(token, now);
    if (cached !== undefined) {
      this.#stats.cacheHits++;
      return this.#count(cached);
    }
    if (!isCompactJws(token)) return this.#count(this.#malformed);
    let pending = this.#pending.get(token);
    if (pending === undefined) {
      pending = this.#verify(token).catch((error: unknown) => {
        this.#clock.log.error({ policy: this.#p.id, err: error instanceof Error ? error.message : String(error) }, 'JWT verification failed unexpectedly');
        return this.#challenges.invalid('token could not be verified');
      }).finally(() => this.#pending.delete(token));
      this.#pending.set(token, pending);
    }
    return pending.then((outcome) => this.#count(outcome));
  }

  close(): void {
    this.#keys.close();
    this.clearCache();
  }

  /** Forget every cached verdict (the keys changed: a verdict may rest on a removed key). */
  clearCache(): void {
    this.#verdicts.clear();
    this.#rejections.clear();
  }

  async #verify(token: string): Promise<AuthOutcome> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return this.#reject(token, this.#malformed);
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !this.#allowed.has(alg)) return this.#reject(token, this.#challenges.invalid('algorithm not allowed'));
    const kid = typeof header.kid === 'string' ? header.kid : undefined;

    let set = this.#keys.current() ?? (await this.#keys.whenLoaded());
    if (set !== null && kid !== undefined && !set.knows(kid)) set = await this.#keys.refetchForUnknownKid();
    if (set === null) return this.#challenges.unavailable('verification keys are unavailable');
    const candidates = set.candidates(alg, kid);
    // Not remembered: the issuer may publish this key at its next rotation.
    if (candidates.length === 0) return this.#challenges.invalid('no key matches the token');

    this.#stats.verifications++;
    let payload: JWTPayload | null = null;
    for (let i = 0; i < candidates.length && i < MAX_CANDIDATES && payload === null; i++) {
      try {
        payload = (await jwtVerify(token, candidates[i].key, this.#verifyOptions)).payload;
      } catch (error) {
        if ((error as { code?: string }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue;
        return this.#reject(token, this.#challenges.invalid(describeJoseError(error)));
      }
    }
    if (payload === null) return this.#reject(token, this.#challenges.invalid('signature verification failed'));
    return this.#judge(token, payload);
  }

  /** A validly signed token with valid registered claims: the policy's own rules, and the mapped headers. */
  #judge(token: string, claims: JWTPayload): AuthOutcome {
    const now = this.#clock.now();
    if (typeof claims.iat === 'number' && claims.iat > now / 1000 + this.#p.clockToleranceSeconds) {
      return this.#reject(token, this.#challenges.invalid('token issued in the future'));
    }
    const c = claims as Claims;
    let outcome: AuthOutcome | null = null;
    for (const path of this.#p.requiredClaims) {
      const value = claimAt(c, path);
      if (value === undefined || value === null) {
        outcome = this.#challenges.forbidden('missing a required claim');
        break;
      }
    }
    if (outcome === null && this.#p.requiredScopes.length > 0 && firstMissing(this.#p.requiredScopes, grantedScopes(c)) !== undefined) {
      outcome = this.#challenges.forbidden('missing a required scope', this.#p.requiredScopes.join(' '));
    }
    if (outcome === null && this.#p.requiredRoles.length > 0 &&
        firstMissing(this.#p.requiredRoles, new Set(wordsOf(claimAt(c, this.#p.rolesClaim)))) !== undefined) {
      outcome = this.#challenges.forbidden('missing a required role');
    }
    outcome ??= Object.freeze({ ok: true, setHeaders: Object.freeze(claimHeaders(c, this.#p.claimHeaders)), removeHeaders: this.#p.removeHeaders });
    // exp is required by the verify options; a verdict never outlives the token.
    const expiresAt = Math.min((claims.exp as number) * 1000, now + this.#p.cacheMaxTtlMs);
    this.#verdicts.set(token, outcome, expiresAt);
    return outcome;
  }

  #reject(token: string, outcome: AuthOutcome): AuthOutcome {
    if (this.#p.negativeTtlMs > 0) this.#rejections.set(token, outcome, this.#clock.now() + this.#p.negativeTtlMs);
    return outcome;
  }

  #count(outcome: AuthOutcome): AuthOutcome {
    const s = this.#stats;
    if (outcome.ok) s.accepted++;
    else if (outcome.status === 401) s.rejected++;
    else if (outcome.status === 403) s.forbidden++;
    else s.unavailable++;
    return outcome;
  }
}

/** A constant description for a jose error: never its message, which may quote claim values. */
export function describeJoseError(error: unknown): string {
  const e = error as { code?: string; claim?: string; reason?: string };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.reason === 'missing') return `token has no ${e.claim} claim`;
      switch (e.claim) {
        case 'nbf': return 'token not yet valid';
        case 'iss': return 'issuer not accepted';
        case 'aud': return 'audience not accepted';
        default: return 'invalid claims';
      }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'malformed token';
    default:
      return 'token could not be verified';
  }
}
