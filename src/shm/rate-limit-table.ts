/**
 * RateLimitTable: every worker's view of the shared rate-limit buckets (layout and
 * concurrency contract in rate-limit-layout.ts), and the key hash that finds a bucket.
 *
 * Why one packed word updated by CAS, and not a lock word per bucket
 * -------------------------------------------------------------------
 * A lock would let a thread that stops inside the critical section (descheduled by the OS on a
 * busy machine, or ended by Worker.terminate() at the drain deadline) block every other
 * worker's requests for that key, or forever; and waiting for it means spinning on a thread
 * that serves traffic. With GCRA the whole bucket is one number (the TAT, see the layout), so
 * it fits in one 64-bit word with an owner tag, and `take` is lock-free: read the word, read
 * the clock, compute, compareExchange; a failed CAS means another thread's take landed, and
 * the loser simply recomputes from the new word. No thread ever waits for another.
 *
 * Why the admitted count can never exceed burst + rate x elapsed
 * --------------------------------------------------------------
 * Each successful CAS moves TAT to max(TAT, now) + period, so after N admissions
 * TAT >= (earliest now) + N x period, and each admission needed TAT - now <= burst x period.
 * The clock is read after the state word is loaded, and the CAS succeeds only if the word is
 * unchanged since, so the `now` that wrote any state is never later than the `now` of a
 * thread that later reads it: a stored TAT is never more than one window ahead of a reader's
 * clock. That is why the clamp below (TAT more than a window ahead) only ever fires after a
 * configuration change shrank the window, never under concurrency. (While the workers switch
 * to a new configuration, a few milliseconds, a thread with the new smaller window may clamp
 * a TAT that a thread with the old one pushed further: a few extra tokens during the switch.)
 *
 * Reuse of a bucket (table full, or probe window full)
 * ---------------------------------------------------
 * When all kProbeLimit buckets from a key's home bucket belong to other keys, the bucket
 * with the smallest TAT is handed to the new key (a CAS of its fingerprint). A bucket whose
 * TAT has passed is full, so reusing it loses nothing. Reusing one that is not yet full
 * forgets that key's spent tokens: when it comes back it starts with a full bucket (it may
 * be admitted up to one extra burst). Size GATEWAY_RATE_LIMIT_BUCKETS above the number of
 * keys active within one refill time of the routes (docs/configuration.md).
 */
import {
  fingerprintsOffset, kBucketCapacity, kBucketEpochNanos, kBucketEpochSeconds, kBucketHashSeed, kBucketHeaderInts,
  kBucketLayoutVersion, kProbeLimit, kStatesOffset, kTagMask, kTatHighBits, kTatHighMask, kTicksPerSecond, RATE_LIMIT_LAYOUT_VERSION,
} from './rate-limit-layout.js';

/** Ticks (1/16 µs) since the table's epoch; injectable for tests. */
export type TickClock = () => number;

const TWO_32 = 2 ** 32;
const NANOS_PER_TICK = 1e9 / kTicksPerSecond;

// A state word is packed and unpacked through two aliased views of one private 8-byte
// buffer (no BigInt arithmetic); which half is the high one depends on the platform's endianness.
const scratchWord = new BigInt64Array(1);
const scratchHalves = new Uint32Array(scratchWord.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HIGH = 1 - LOW;

function pack(tag: number, tat: number): bigint {
  const high = Math.floor(tat / TWO_32);
  scratchHalves[LOW] = tat - high * TWO_32;
  scratchHalves[HIGH] = ((tag << kTatHighBits) | high) >>> 0;
  return scratchWord[0];
}

/** The TAT a state holds for the owner with this tag; 0 (a full bucket) when it was written for another owner. */
function tatFor(state: bigint, tag: number): number {
  scratchWord[0] = state;
  const high = scratchHalves[HIGH];
  return high >>> kTatHighBits === tag ? (high & kTatHighMask) * TWO_32 + scratchHalves[LOW] : 0;
}

/**
 * The table's clock: ticks since the epoch in its header. process.hrtime is uv_hrtime
 * (CLOCK_MONOTONIC), one clock for every thread of the process, so workers agree on `now`.
 */
export function hrtimeClock(buffer: SharedArrayBuffer): TickClock {
  const header = new Int32Array(buffer, 0, kBucketHeaderInts);
  const epochSeconds = header[kBucketEpochSeconds];
  const epochNanos = header[kBucketEpochNanos];
  return () => {
    const t = process.hrtime();
    return (t[0] - epochSeconds) * kTicksPerSecond + Math.floor((t[1] - epochNanos) / NANOS_PER_TICK);
  };
}

export class RateLimitTable {
  readonly #states: BigInt64Array;
  readonly #fingerprints: Int32Array;
  readonly #mask: number;
  readonly #clock: TickClock;
  /** The instance's hash seed (header), for compiling routes' key seeds. */
  readonly hashSeed: number;

  constructor(buffer: SharedArrayBuffer, clock?: TickClock) {
    const header = new Int32Array(buffer, 0, kBucketHeaderInts);
    if (Atomics.load(header, kBucketLayoutVersion) !== RATE_LIMIT_LAYOUT_VERSION) {
      throw new Error(`rate-limit layout ${header[kBucketLayoutVersion]} != ${RATE_LIMIT_LAYOUT_VERSION}`);
    }
    const capacity = header[kBucketCapacity];
    this.#states = new BigInt64Array(buffer, kStatesOffset, capacity);
    this.#fingerprints = new Int32Array(buffer, fingerprintsOffset(capacity), capacity);
    this.#mask = capacity - 1;
    this.hashSeed = header[kBucketHashSeed];
    this.#clock = clock ?? hrtimeClock(buffer);
  }

  get capacity(): number {
    return this.#mask + 1;
  }

  /**
   * Take one token from the bucket of a key (its hash and fingerprint, see KeyHasher) for a
   * limit of one token per `periodTicks` and at most `windowTicks / periodTicks` tokens.
   * Returns the tokens left (>= 0) when admitted, or minus the ticks until a token when
   * refused (< 0). Lock-free; never waits.
   */
  take(hash: number, fingerprint: number, periodTicks: number, windowTicks: number): number {
    const fp = fingerprint === 0 ? 1 : fingerprint;
    const tag = fp & kTagMask;
    const states = this.#states;
    for (;;) {
      const slot = this.#find(hash, fp);
      for (;;) {
        const state = Atomics.load(states, slot);
        const now = this.#clock(); // after the load: see the file comment
        // Reused by another key since #find: look again (its state is not ours to charge).
        if (Atomics.load(this.#fingerprints, slot) !== fp) break;
        let tat = tatFor(state, tag);
        if (tat > now + windowTicks) {
          // The window shrank (a configuration change): the bucket is empty under the new one
          // and refills at the new rate from now, rather than paying off the old debt.
          Atomics.compareExchange(states, slot, state, pack(tag, now + windowTicks));
          continue;
        }
        if (tat < now) tat = now;
        const next = tat + periodTicks;
        const ahead = next - now;
        if (ahead > windowTicks) return windowTicks - ahead;
        if (Atomics.compareExchange(states, slot, state, pack(tag, next)) === state) return Math.floor((windowTicks - ahead) / periodTicks);
        // Another thread's take landed first: recompute from its word.
      }
    }
  }

  /** The bucket of a fingerprint in its probe window: found, claimed empty, or the stalest reused. */
  #find(hash: number, fp: number): number {
    const fingerprints = this.#fingerprints;
    const mask = this.#mask;
    for (;;) {
      let stalest = -1;
      let stalestOwner = 0;
      let stalestTat = Infinity;
      for (let i = 0; i < kProbeLimit; i++) {
        const slot = (hash + i) & mask;
        let owner = Atomics.load(fingerprints, slot);
        if (owner === 0) {
          owner = Atomics.compareExchange(fingerprints, slot, 0, fp);
          if (owner === 0) return slot;
        }
        if (owner === fp) return slot;
        const tat = tatFor(Atomics.load(this.#states, slot), owner & kTagMask);
        if (tat < stalestTat) {
          stalest = slot;
          stalestOwner = owner;
          stalestTat = tat;
        }
      }
      const owner = Atomics.compareExchange(fingerprints, stalest, stalestOwner, fp);
      if (owner === stalestOwner || owner === fp) return stalest;
      // Another thread took that bucket for another key meanwhile: look again.
    }
  }
}

/** What a route's key is made of; mixed into the hash so an address and a header value never share a bucket. */
export const KEY_CLIENT_ADDRESS = 1;
export const KEY_HEADER = 2;

const M1 = 2654435761;
const M2 = 1597334677;

/** Two 32-bit hash lanes after the instance seed and a route id (computed once per route). */
export interface RouteKeySeeds {
  readonly seedA: number;
  readonly seedB: number;
}

/**
 * The hash of one request's key (cyrb53's mixing in two lanes): `hash` picks the home bucket,
 * `fingerprint` tells keys apart within a window. One per pipeline, reused: no allocation.
 */
export class KeyHasher {
  hash = 0;
  fingerprint = 0;
  #a = 0;
  #b = 0;

  /** The lanes after the instance's seed and a route id: done when the route is compiled. */
  static routeSeeds(hashSeed: number, routeId: string): RouteKeySeeds {
    const h = new KeyHasher();
    h.#a = 0xdeadbeef ^ hashSeed;
    h.#b = 0x41c6ce57 ^ hashSeed;
    h.string(routeId);
    return { seedA: h.#a, seedB: h.#b };
  }

  /** Begin a request's key: the route's seeds, then the kind (1, 2: never a character of a route id). */
  start(seeds: RouteKeySeeds, kind: number): this {
    this.#a = seeds.seedA;
    this.#b = seeds.seedB;
    this.#mix(kind);
    return this;
  }

  string(s: string): this {
    for (let i = 0; i < s.length; i++) this.#mix(s.charCodeAt(i));
    return this;
  }

  bytes(bytes: Uint8Array): this {
    for (let i = 0; i < bytes.length; i++) this.#mix(bytes[i]);
    return this;
  }

  finish(): void {
    const a = this.#a;
    const b = this.#b;
    this.hash = Math.imul(a ^ (a >>> 16), 2246822507) ^ Math.imul(b ^ (b >>> 13), 3266489909);
    this.fingerprint = Math.imul(b ^ (b >>> 16), 2246822507) ^ Math.imul(this.hash ^ (this.hash >>> 13), 3266489909);
  }

  #mix(c: number): void {
    this.#a = Math.imul(this.#a ^ c, M1);
    this.#b = Math.imul(this.#b ^ c, M2);
  }
}

/** Whole seconds until `ticks` have passed, at least 1 (for Retry-After and RateLimit-Reset). */
export function ceilSeconds(ticks: number): number {
  return Math.max(1, Math.ceil(ticks / kTicksPerSecond));
}
