/**
 * Shared-memory layout of the rate-limit buckets: one token bucket per (route, client key),
 * shared by every worker of the instance (not across instances: each instance has its own).
 *
 * Concurrency contract (many writers, no lock)
 * --------------------------------------------
 * The primary allocates the buffer and writes the header once, before any worker starts;
 * after that it never touches it. Every worker reads and writes the buckets, only with
 * Atomics, and never waits (no Atomics.wait, no spin on another thread's progress):
 * - a bucket's fingerprint is claimed with Atomics.compareExchange (0 -> fp for an empty
 *   bucket, old fp -> fp when the stalest bucket of a full probe window is reused);
 * - a bucket's state is one 64-bit word, replaced whole with Atomics.compareExchange on a
 *   BigInt64Array: the refill and the take are one CAS of the whole state, so two threads
 *   can never both spend the same token (a lost CAS means another thread's update landed;
 *   the loser re-reads and recomputes). See rate-limit-table.ts for why a packed word and
 *   not a per-bucket lock.
 *
 * The state is GCRA (the "virtual scheduling" form of a token bucket): instead of a token
 * count and a last-refill time (two values) it keeps one, the theoretical arrival time (TAT)
 * of the next request. A bucket with TAT <= now is full; each admitted request pushes TAT one
 * period (1 / requestsPerSecond) later; a request is refused while TAT would end up more than
 * burst periods ahead of now. Times are ticks of 1/16 µs since the table's epoch, read from
 * the process-wide monotonic clock (process.hrtime, the same clock in every thread).
 *
 *   buffer   [ header: 8 x Int32 | states: capacity x BigInt64 | fingerprints: capacity x Int32 ]
 *             byte 0               byte 32                        byte 32 + 8 x capacity
 *
 *   header   Int32 [ layoutVersion | capacity | hashSeed | epochSeconds | epochNanos | 0 | 0 | 0 ]
 *            (padded to 32 bytes so the BigInt64 states are 8-byte aligned)
 *
 *   state of bucket i (one 64-bit word):
 *   +----------------------+------------------------------------------------------------+
 *   | tag (11 bits)        | TAT in ticks since the epoch (53 bits: 17.8 years)          |
 *   +----------------------+------------------------------------------------------------+
 *     bits 63..53            bits 52..0
 *   tag = the low kTagBits of the bucket owner's fingerprint. A state whose tag is not the
 *   owner's was written for a previous owner (the bucket was reused): it reads as full.
 *
 *   fingerprint of bucket i (Int32): 0 = never used; otherwise the owner's key fingerprint.
 *
 *   A key's home bucket is hash & (capacity - 1); it lives in one of the kProbeLimit buckets
 *   from there (wrapping). Buckets are never freed, only reused, so an empty bucket ends a
 *   search: a key is never stored past an empty bucket of its window.
 */

/** Bump when any offset or meaning below changes. */
export const RATE_LIMIT_LAYOUT_VERSION = 1;

// ---- header (Int32 indices) ---------------------------------------------------------------
export const kBucketLayoutVersion = 0;
/** Number of buckets: a power of two (home bucket = hash & (capacity - 1)). */
export const kBucketCapacity = 1;
/** Random per instance, mixed into every key hash so that clients cannot aim keys at one window. */
export const kBucketHashSeed = 2;
/** process.hrtime() when the table was made: tick 0. */
export const kBucketEpochSeconds = 3;
export const kBucketEpochNanos = 4;
export const kBucketHeaderInts = 8;

// ---- state word ---------------------------------------------------------------------------
export const kTagBits = 11;
export const kTagMask = (1 << kTagBits) - 1;
/** TAT bits held in the high 32-bit half of the state (the low half holds 32 more). */
export const kTatHighBits = 32 - kTagBits;
export const kTatHighMask = (1 << kTatHighBits) - 1;
/** Ticks per second: 1/16 µs, so that a period up to 1,000,000 requests/s is >= 16 ticks. */
export const kTicksPerSecond = 16_000_000;

/** Buckets looked at from a key's home bucket before the stalest of them is reused. */
export const kProbeLimit = 8;

export const DEFAULT_RATE_LIMIT_BUCKETS = 65_536;
export const MIN_RATE_LIMIT_BUCKETS = 16;
export const MAX_RATE_LIMIT_BUCKETS = 1 << 24;

const I32 = Int32Array.BYTES_PER_ELEMENT;
const I64 = BigInt64Array.BYTES_PER_ELEMENT;

/** Byte offset of the states and of the fingerprints in the buffer. */
export const kStatesOffset = kBucketHeaderInts * I32;
export function fingerprintsOffset(capacity: number): number {
  return kStatesOffset + capacity * I64;
}

/**
 * Allocate the zeroed bucket table and write its header (the primary, once, before the
 * workers start). Untouched pages of a SharedArrayBuffer are not resident: 65,536 buckets
 * reserve 768 KiB of address space and cost memory only as keys arrive.
 */
export function allocateRateLimits(capacity: number, hashSeed: number, epoch: readonly [number, number] = process.hrtime()): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < MIN_RATE_LIMIT_BUCKETS || capacity > MAX_RATE_LIMIT_BUCKETS || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`rate-limit bucket capacity ${capacity} is not a power of two from ${MIN_RATE_LIMIT_BUCKETS} to ${MAX_RATE_LIMIT_BUCKETS}`);
  }
  const buffer = new SharedArrayBuffer(fingerprintsOffset(capacity) + capacity * I32);
  const header = new Int32Array(buffer, 0, kBucketHeaderInts);
  header[kBucketCapacity] = capacity;
  header[kBucketHashSeed] = hashSeed | 0;
  header[kBucketEpochSeconds] = epoch[0];
  header[kBucketEpochNanos] = epoch[1];
  // Published last: a reader that sees the version sees the rest of the header.
  Atomics.store(header, kBucketLayoutVersion, RATE_LIMIT_LAYOUT_VERSION);
  return buffer;
}
