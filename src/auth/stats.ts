/**
 * Counters of one auth policy in one worker thread, for the metrics work to read
 * (`authStats()`), plain numbers bumped on the hot path: no allocation, no lock (each worker
 * thread owns its own). A policy's counters start from zero when its authenticator is rebuilt.
 */
export interface AuthStats {
  /** Requests let through (cached or freshly verified). */
  accepted: number;
  /** 401 answers (missing, malformed, bad signature, expired, wrong issuer or audience...). */
  rejected: number;
  /** 403 answers (a required scope, role or claim is missing). */
  forbidden: number;
  /** 503 answers (no usable keys: unreachable issuer without cached keys, missing secret). */
  unavailable: number;
  /** Verdicts served from the token cache (positive or negative). */
  cacheHits: number;
  /** Signature verifications actually run. */
  verifications: number;
  /** JWKS fetches started, and those that failed (network, timeout, status, body). */
  jwksFetches: number;
  jwksFetchFailures: number;
  /** Fetches started because a token named a `kid` the cached set lacks. */
  jwksUnknownKidRefetches: number;
  /** Unknown `kid`s that did not cause a fetch because the cooldown had not passed. */
  jwksCooldownSkips: number;
  /** Verifications that used keys whose refresh had failed (stale-if-error). */
  jwksStaleUses: number;
}

export function newAuthStats(): AuthStats {
  return {
    accepted: 0, rejected: 0, forbidden: 0, unavailable: 0, cacheHits: 0, verifications: 0,
    jwksFetches: 0, jwksFetchFailures: 0, jwksUnknownKidRefetches: 0, jwksCooldownSkips: 0, jwksStaleUses: 0,
  };
}

const registry = new Map<string, AuthStats>();

/** The live counters of every auth policy of this thread, by policy id. */
export function authStats(): ReadonlyMap<string, Readonly<AuthStats>> {
  return registry;
}

export function registerStats(policyId: string, stats: AuthStats): void {
  registry.set(policyId, stats);
}

/** Only the authenticator that registered the counters removes them (a replacement may already have). */
export function unregisterStats(policyId: string, stats: AuthStats): void {
  if (registry.get(policyId) === stats) registry.delete(policyId);
}
