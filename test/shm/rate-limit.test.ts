import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  allocateRateLimits, kBucketLayoutVersion, kProbeLimit, kTicksPerSecond,
} from '../../src/shm/rate-limit-layout.js';
import { KEY_CLIENT_ADDRESS, KEY_HEADER, KeyHasher, RateLimitTable, ceilSeconds } from '../../src/shm/rate-limit-table.js';
import { loadSettings } from '../../src/cli/settings.js';

const BUILT = new URL('../../dist/shm/rate-limit-table.js', import.meta.url);

/** A table on a clock the test moves by hand. */
function manual(capacity = 64) {
  const clock = { now: 1_000_000 };
  const table = new RateLimitTable(allocateRateLimits(capacity, 12345), () => clock.now);
  return { table, clock };
}

const perSecond = (rate: number) => Math.ceil(kTicksPerSecond / rate);

describe('rate-limit bucket arithmetic (GCRA over one shared word)', () => {
  const T = perSecond(10); // 10 tokens a second
  const burst3 = 3 * T;

  it('take_admitsTheBurstAtOnce_thenRefusesWithTheTicksUntilTheNextToken', () => {
    const { table } = manual();
    expect([table.take(7, 99, T, burst3), table.take(7, 99, T, burst3), table.take(7, 99, T, burst3)]).toEqual([2, 1, 0]);
    expect(table.take(7, 99, T, burst3)).toBe(-T);
    expect(ceilSeconds(T)).toBe(1);
  });

  it('take_refillsOneTokenPerPeriod_andNeverHoldsMoreThanTheBurst', () => {
    const { table, clock } = manual();
    for (let i = 0; i < 3; i++) table.take(7, 99, T, burst3);
    clock.now += T - 1;
    expect(table.take(7, 99, T, burst3)).toBe(-1);
    clock.now += 1;
    expect(table.take(7, 99, T, burst3)).toBe(0);
    expect(table.take(7, 99, T, burst3)).toBe(-T);
    // A long quiet spell refills to the burst, not beyond.
    clock.now += 1000 * T;
    const taken = [];
    for (let i = 0; i < 5; i++) taken.push(table.take(7, 99, T, burst3));
    expect(taken).toEqual([2, 1, 0, -T, -T]);
  });

  it('take_keepsKeysApart_evenWhenTheyShareAHomeBucket', () => {
    const { table } = manual();
    for (let i = 0; i < 3; i++) table.take(7, 99, T, burst3);
    expect(table.take(7, 99, T, burst3)).toBeLessThan(0);
    expect(table.take(7, 100, T, burst3)).toBe(2);
    expect(table.take(8, 99, T, burst3)).toBe(2); // same fingerprint, other home bucket: another key
  });

  it('take_treatsFingerprintZero_asAnOrdinaryKey', () => {
    const { table } = manual();
    expect(table.take(7, 0, T, burst3)).toBe(2);
    expect(table.take(7, 0, T, burst3)).toBe(1);
  });

  it('take_appliesAShrunkWindowAtOnce_soAFasterRateIsNotHeldBackByTheOldDebt', () => {
    const { table, clock } = manual();
    const slow = perSecond(1);
    for (let i = 0; i < 5; i++) table.take(7, 99, slow, 5 * slow);
    // Now 1000/s with a burst of 2: the bucket counts as empty under the new window and
    // refills at the new rate (1 ms), not after the old 1 s period.
    const fast = perSecond(1000);
    expect(table.take(7, 99, fast, 2 * fast)).toBe(-fast);
    clock.now += fast;
    expect(table.take(7, 99, fast, 2 * fast)).toBe(0);
  });

  it('take_keepsTheSpentTokens_whenTheBurstGrows', () => {
    const { table } = manual();
    for (let i = 0; i < 3; i++) table.take(7, 99, T, burst3);
    let admitted = 0;
    while (table.take(7, 99, T, 10 * T) >= 0) admitted++;
    expect(admitted).toBe(7);
  });

  it('take_reusesTheStalestBucketOfAFullProbeWindow_andItsKeyStartsOverFull', () => {
    const { table, clock } = manual(16);
    // kProbeLimit keys with one home bucket, each emptied at a later time: key 1 is stalest.
    for (let k = 1; k <= kProbeLimit; k++) {
      for (let i = 0; i < 3; i++) table.take(0, k, T, burst3);
      clock.now += 10;
    }
    expect(table.take(0, 2, T, burst3)).toBeLessThan(0);
    // A new key finds the window full and takes key 1's bucket (the smallest TAT)...
    expect(table.take(0, 1000, T, burst3)).toBe(2);
    // ...the other keys keep their state...
    for (let k = 2; k <= kProbeLimit; k++) expect(table.take(0, k, T, burst3)).toBeLessThan(0);
    // ...and key 1, forgotten, starts over with a full bucket (the documented cost of reuse).
    expect(table.take(0, 1, T, burst3)).toBe(2);
  });

  it('take_prefersAnEmptyBucket_overReusingOne', () => {
    const { table } = manual(16);
    for (let k = 1; k < kProbeLimit; k++) for (let i = 0; i < 3; i++) table.take(0, k, T, burst3);
    expect(table.take(0, 500, T, burst3)).toBe(2); // the last free bucket of the window
    for (let k = 1; k < kProbeLimit; k++) expect(table.take(0, k, T, burst3)).toBeLessThan(0);
  });

  it('take_handlesTATsBeyond32Bits', () => {
    const { table, clock } = manual();
    clock.now = 2 ** 45 + 12345; // about 25 days after the epoch
    expect([table.take(7, 99, T, burst3), table.take(7, 99, T, burst3), table.take(7, 99, T, burst3)]).toEqual([2, 1, 0]);
    expect(table.take(7, 99, T, burst3)).toBe(-T);
    clock.now += T;
    expect(table.take(7, 99, T, burst3)).toBe(0);
  });

  it('setting_takesAPowerOfTwo_andNamesTheVariableOtherwise', () => {
    expect(loadSettings({}).rateLimitBuckets).toBe(65_536);
    expect(loadSettings({ GATEWAY_RATE_LIMIT_BUCKETS: '1024' }).rateLimitBuckets).toBe(1024);
    for (const bad of ['1000', '8', String(2 ** 25), 'lots']) {
      expect(() => loadSettings({ GATEWAY_RATE_LIMIT_BUCKETS: bad })).toThrow(`GATEWAY_RATE_LIMIT_BUCKETS="${bad}": must be a power of two from 16 to 16777216`);
    }
  });

  it('allocate_refusesACapacityThatIsNotAPowerOfTwo_andTheTableRefusesAnotherLayout', () => {
    expect(() => allocateRateLimits(1000, 1)).toThrow(/power of two/);
    expect(() => allocateRateLimits(8, 1)).toThrow(/power of two from 16/);
    const buffer = allocateRateLimits(16, 1);
    new Int32Array(buffer)[kBucketLayoutVersion] = 99;
    expect(() => new RateLimitTable(buffer)).toThrow(/layout 99/);
  });
});

describe('rate-limit key hash', () => {
  const seeds = KeyHasher.routeSeeds(42, 'orders');
  const hashOf = (s: typeof seeds, kind: number, key: string) => {
    const h = new KeyHasher();
    h.start(s, kind).string(key).finish();
    return [h.hash, h.fingerprint];
  };

  it('hash_dependsOnRouteKindKeyAndInstanceSeed', () => {
    const base = hashOf(seeds, KEY_HEADER, 'abc');
    expect(hashOf(seeds, KEY_HEADER, 'abc')).toEqual(base);
    expect(hashOf(seeds, KEY_CLIENT_ADDRESS, 'abc')).not.toEqual(base);
    expect(hashOf(seeds, KEY_HEADER, 'abd')).not.toEqual(base);
    expect(hashOf(KeyHasher.routeSeeds(42, 'orders2'), KEY_HEADER, 'abc')).not.toEqual(base);
    expect(hashOf(KeyHasher.routeSeeds(43, 'orders'), KEY_HEADER, 'abc')).not.toEqual(base);
  });

  it('hash_ofBytes_equalsTheHashOfTheSameCodes', () => {
    const h = new KeyHasher();
    h.start(seeds, KEY_CLIENT_ADDRESS).bytes(Uint8Array.of(127, 0, 0, 1)).finish();
    expect([h.hash, h.fingerprint]).toEqual(hashOf(seeds, KEY_CLIENT_ADDRESS, '\x7f\x00\x00\x01'));
  });

  it('hash_spreadsSimilarKeys_overBucketsAndFingerprints', () => {
    const homes = new Set<number>();
    const prints = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const [hash, fp] = hashOf(seeds, KEY_HEADER, `key-${i}`);
      homes.add(hash & 65_535);
      prints.add(fp);
    }
    // 10,000 keys into 65,536 buckets: about 9,270 distinct homes expected for a uniform hash.
    expect(homes.size).toBeGreaterThan(9_000);
    expect(prints.size).toBeGreaterThan(9_990);
  });
});

/** Run `threads` worker threads taking tokens for `ms` from the given keys; sum what they report. */
async function hammer(buffer: SharedArrayBuffer, keys: Array<{ hash: number; fingerprint: number }>, threads: number, periodTicks: number, windowTicks: number, ms: number) {
  if (!existsSync(BUILT)) throw new Error('dist/ is missing: run `npm run build` (npm test does it) first');
  const start = new SharedArrayBuffer(8);
  const flag = new Int32Array(start);
  const reports = Array.from({ length: threads }, () => new Promise<{ admitted: number[]; attempts: number; minNow: number; maxNow: number }>((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/bucket-worker.mjs', import.meta.url), { workerData: { buffer, keys, periodTicks, windowTicks, ms, start } });
    w.once('message', resolve);
    w.once('error', reject);
  }));
  while (Atomics.load(flag, 1) < threads) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  const all = await Promise.all(reports);
  return {
    admitted: keys.map((_, k) => all.reduce((sum, r) => sum + r.admitted[k], 0)),
    attempts: all.reduce((sum, r) => sum + r.attempts, 0),
    minNow: Math.min(...all.map((r) => r.minNow)),
    maxNow: Math.max(...all.map((r) => r.maxNow)),
  };
}

describe('rate-limit buckets across real worker threads', () => {
  it('oneBucket_hammeredByFourThreads_neverAdmitsMoreThanBurstPlusRateTimesElapsed', async () => {
    const rate = 20_000;
    const burst = 10_000; // half a second of tokens: a thread stalled by a busy machine loses none
    const period = perSecond(rate);
    const r = await hammer(allocateRateLimits(1024, 7), [{ hash: 5, fingerprint: 77 }], 4, period, burst * period, 1500);
    const bound = burst + Math.floor((r.maxNow - r.minNow) / period);
    // The race was real: far more attempts than tokens.
    expect(r.attempts).toBeGreaterThan(5 * bound);
    expect(r.admitted[0]).toBeLessThanOrEqual(bound);
    expect(r.admitted[0]).toBeGreaterThanOrEqual(Math.floor(0.9 * bound));
  });

  it('manyKeys_claimedConcurrentlyByFourThreads_eachStayWithinItsBound', async () => {
    // The burst dominates the refill (1,000 tokens against 200/s over about a second), so both
    // ways a key can go wrong show however loaded the machine is: a key that ended up with two
    // buckets admits about twice its bound; two keys sharing one bucket admit about half
    // their burst each. Every key is attempted far more than its burst in either case.
    const rate = 200;
    const burst = 1_000;
    const period = perSecond(rate);
    const h = new KeyHasher();
    const seeds = KeyHasher.routeSeeds(7, 'route');
    // 40 keys, every thread cycling through all of them: buckets are claimed by whichever
    // thread comes first, and a key must never end up with two buckets.
    const keys = Array.from({ length: 40 }, (_, i) => {
      h.start(seeds, KEY_HEADER).string(`client-${i}`).finish();
      return { hash: h.hash, fingerprint: h.fingerprint };
    });
    const r = await hammer(allocateRateLimits(1024, 7), keys, 4, period, burst * period, 1000);
    expect(r.attempts).toBeGreaterThan(keys.length * burst * 2);
    const bound = burst + Math.floor((r.maxNow - r.minNow) / period);
    expect(Math.max(...r.admitted)).toBeLessThanOrEqual(bound);
    expect(Math.min(...r.admitted)).toBeGreaterThanOrEqual(burst);
  });
});
