/**
 * RemoteJwks: an issuer's JWK set, fetched off the request path and kept fresh, per worker.
 *
 *   created ──prefetch──▶ loaded ──every interval (± 10 % jitter)──▶ refreshed
 *                           │  unknown kid, cooldown passed ──▶ refetch now (the request waits for it)
 *                           │  fetch fails ──▶ keep the keys (stale-if-error), retry 1 s, 2 s, 4 s ...
 *                           ▼  (up to the interval)
 *                      stale for longer than maxStale ──▶ keys dropped: 503 until a fetch succeeds
 *
 * - The interval is the configured one, or the response's Cache-Control max-age clamped to
 *   [minInterval, maxInterval] (300 s when the response has none).
 * - At most one fetch is in flight; every waiter shares it. Each fetch has a timeout
 *   (AbortSignal.timeout) and a body limit.
 * - An unknown `kid` (Envoy's rotation bug) triggers a fetch, but never twice within the
 *   cooldown, counted from the last fetch of any kind: a flood of bogus kids costs the issuer
 *   at most one request per cooldown per worker thread.
 * - A request that finds no keys (cold start, or everything stale) waits for the fetch in
 *   flight, or starts one if the last attempt is older than the cooldown; it never waits
 *   longer than one fetch's timeout.
 */
import type { JWK } from 'jose';
import type { JwtAlgorithm } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { KeySet } from './key-set.js';
import type { AuthStats } from './stats.js';

export interface RemoteJwksOptions {
  readonly uri: string;
  readonly algorithms: readonly JwtAlgorithm[];
  /** Fixed interval, or null to follow max-age. */
  readonly intervalMs: number | null;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly cooldownMs: number;
  readonly timeoutMs: number;
  readonly maxStaleMs: number;
}

export interface RemoteJwksDeps {
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly random: () => number;
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly stats: AuthStats;
  /** Logged with every line, to name the policy. */
  readonly policyId: string;
  /** Called when a fetch brought a set different from the last one (cached verdicts may be stale). */
  readonly onKeysChanged: () => void;
}

/** The interval when neither the configuration nor the response says. */
const DEFAULT_INTERVAL_MS = 300_000;
/** A JWK set is a few kilobytes; a megabyte is a broken or hostile issuer. */
const MAX_BODY_BYTES = 1 << 20;
const FIRST_RETRY_MS = 1000;

export class RemoteJwks {
  readonly #o: RemoteJwksOptions;
  readonly #d: RemoteJwksDeps;
  #set: KeySet | null = null;
  #setText = '';
  /** When the current set was fetched (ms), 0 before the first success. */
  #fetchedAt = 0;
  /** When the last fetch started (ms), -Infinity before the first. */
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #intervalMs: number;
  #failures = 0;
  #inFlight: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: RemoteJwksOptions, deps: RemoteJwksDeps) {
    this.#o = options;
    this.#d = deps;
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Prefetch, so the first request of this worker usually finds the keys ready. */
  start(): void {
    void this.#fetch();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The usable set now, or null (none yet, or stale past maxStale). Counts a stale use. */
  current(): KeySet | null {
    const set = this.#set;
    if (set === null) return null;
    if (this.#failures > 0) {
      if (this.#d.now() - this.#fetchedAt > this.#intervalMs + this.#o.maxStaleMs) {
        this.#d.log.error({ policy: this.#d.policyId, jwksUri: this.#o.uri, ageSeconds: Math.round((this.#d.now() - this.#fetchedAt) / 1000) },
          'JWKS keys are older than maxStaleSeconds and the issuer is unreachable; dropping them (503 until a fetch succeeds)');
        this.#set = null;
        this.#setText = '';
        this.#d.onKeysChanged();
        return null;
      }
      this.#d.stats.jwksStaleUses++;
    }
    return set;
  }

  /** A set for a request that found none: wait for the fetch in flight, or start one if allowed. */
  async whenLoaded(): Promise<KeySet | null> {
    const current = this.current();
    if (current !== null) return current;
    if (this.#inFlight === null && this.#d.now() - this.#attemptedAt < this.#o.cooldownMs) return null;
    await this.#fetch();
    return this.current();
  }

  /**
   * The set after a refetch for a token whose `kid` the set lacks, when the cooldown allows one
   * (or a fetch is already in flight); otherwise the current set unchanged.
   */
  async refetchForUnknownKid(): Promise<KeySet | null> {
    if (this.#inFlight === null) {
      if (this.#d.now() - this.#attemptedAt < this.#o.cooldownMs) {
        this.#d.stats.jwksCooldownSkips++;
        return this.current();
      }
      this.#d.stats.jwksUnknownKidRefetches++;
    }
    await this.#fetch();
    return this.current();
  }

  #fetch(): Promise<void> {
    if (this.#inFlight !== null) return this.#inFlight;
    if (this.#closed) return Promise.resolve();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#attemptedAt = this.#d.now();
    this.#d.stats.jwksFetches++;
    const done = this.#load().then(
      () => this.#onSuccess(),
      (error: unknown) => this.#onFailure(error),
    );
    this.#inFlight = done.finally(() => { this.#inFlight = null; });
    return this.#inFlight;
  }

  /** One fetch: status 200, a bounded JSON body with a `keys` array, at least one usable key. */
  async #load(): Promise<void> {
    const response = await this.#d.fetch(this.#o.uri, {
      signal: AbortSignal.timeout(this.#o.timeoutMs),
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP status ${response.status}`);
    }
    const text = await readBounded(response, MAX_BODY_BYTES);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw new Error('the body is not JSON');
    }
    const keys = (document as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error('the body has no "keys" array');
    const jwks = keys.filter((k): k is JWK => k !== null && typeof k === 'object' && typeof (k as JWK).kty === 'string');
    if (text !== this.#setText) {
      const { set, skipped } = await KeySet.create(jwks, this.#o.algorithms);
      if (set.size === 0) throw new Error(`no usable key for ${this.#o.algorithms.join(', ')} (${skipped.slice(0, 5).join('; ') || 'the set is empty'})`);
      if (skipped.length > 0) this.#d.log.warn({ policy: this.#d.policyId, jwksUri: this.#o.uri, skipped: skipped.slice(0, 20) }, 'JWKS keys skipped');
      const changed = this.#set !== null;
      this.#set = set;
      this.#setText = text;
      if (changed) this.#d.onKeysChanged();
    }
    if (this.#o.intervalMs === null) this.#intervalMs = intervalFromCacheControl(response.headers.get('cache-control'), this.#o);
  }

  #onSuccess(): void {
    const recovered = this.#failures > 0;
    this.#failures = 0;
    this.#fetchedAt = this.#d.now();
    if (recovered) this.#d.log.info({ policy: this.#d.policyId, jwksUri: this.#o.uri }, 'JWKS fetch succeeded again');
    this.#schedule(this.#intervalMs);
  }

  #onFailure(error: unknown): void {
    this.#failures++;
    this.#d.stats.jwksFetchFailures++;
    const reason = describeFetchError(error);
    // One line per failure would flood the log for a long outage: the first, then every tenth.
    if (this.#failures === 1 || this.#failures % 10 === 0) {
      this.#d.log.warn({
        policy: this.#d.policyId, jwksUri: this.#o.uri, reason, failures: this.#failures,
        servingStaleKeys: this.#set !== null,
      }, this.#set !== null ? 'JWKS fetch failed; serving the cached keys' : 'JWKS fetch failed; no keys: requests answer 503');
    }
    this.#schedule(Math.min(FIRST_RETRY_MS * 2 ** (this.#failures - 1), this.#intervalMs));
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    // Jitter spreads the refreshes of many worker threads (and instances) over time.
    const jittered = Math.max(FIRST_RETRY_MS, Math.round(delayMs * (0.9 + 0.2 * this.#d.random())));
    this.#timer = setTimeout(() => { this.#timer = null; void this.#fetch(); }, jittered);
    this.#timer.unref();
  }
}

/** max-age within the bounds, or the default when the header has none (or says no-store / no-cache). */
export function intervalFromCacheControl(header: string | null, o: Pick<RemoteJwksOptions, 'minIntervalMs' | 'maxIntervalMs'>): number {
  const match = header === null ? null : /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?/i.exec(header);
  const ms = match === null ? DEFAULT_INTERVAL_MS : Number(match[1]) * 1000;
  return Math.min(o.maxIntervalMs, Math.max(o.minIntervalMs, ms));
}

async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`the body is larger than ${limit} bytes`);
  }
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) throw new Error(`the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  if (e?.cause?.code) return e.cause.code;
  return e?.message ?? String(error);
}
