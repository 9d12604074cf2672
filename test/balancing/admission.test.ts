import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { admitFrom, tryAcquire } from '../../src/balancing/admission.js';
import { kDestInFlight, kDestStride } from '../../src/shm/layout.js';
import { fixture } from './support.js';

const inFlightOf = (d: Int32Array, slot: number): number => d[slot * kDestStride + kDestInFlight];

describe('tryAcquire', () => {
  it('tryAcquire_admitsBelowTheLimit_andRefusesAtIt', () => {
    const f = fixture(1);
    f.setInFlight(0, 2);
    expect(tryAcquire(f.ctx.destinations, 0, 3)).toBe(true);
    expect(inFlightOf(f.ctx.destinations, 0)).toBe(3);
    expect(tryAcquire(f.ctx.destinations, 0, 3)).toBe(false);
    expect(inFlightOf(f.ctx.destinations, 0)).toBe(3);
  });

  it('tryAcquire_refusesAboveTheLimit_whenASlotInheritedMoreRequests', () => {
    const f = fixture(1);
    f.setInFlight(0, 7);
    expect(tryAcquire(f.ctx.destinations, 0, 3)).toBe(false);
    expect(inFlightOf(f.ctx.destinations, 0)).toBe(7);
  });
});

describe('admitFrom', () => {
  it('admitFrom_takesThePolicysChoice_whenItIsUnderTheLimit', () => {
    const f = fixture(3);
    f.setInFlight(1, 1);
    expect(admitFrom(f.members, f.ctx, 1, 2, true)).toBe(1);
    expect(inFlightOf(f.ctx.destinations, 1)).toBe(2);
  });

  it('admitFrom_skipsFullAndUnusableDestinations_inConfigurationOrder', () => {
    const f = fixture(4);
    f.setInFlight(2, 2);
    f.down(3);
    f.setInFlight(0, 2);
    // 2 is full, 3 is down, 0 is full: 1 is next in order.
    expect(admitFrom(f.members, f.ctx, 2, 2, true)).toBe(1);
    expect([0, 1, 2, 3].map((i) => inFlightOf(f.ctx.destinations, i))).toEqual([2, 1, 2, 0]);
  });

  it('admitFrom_neverSendsARetryBackToTheDestinationItAvoids_unlessItIsTheOnlyOne', () => {
    const f = fixture(3);
    f.setInFlight(0, 2);
    // The policy chose 0 (full); 1 is the destination that just failed; 2 is free.
    expect(admitFrom(f.members, f.ctx, 0, 2, true, 1)).toBe(2);
    expect(inFlightOf(f.ctx.destinations, 1)).toBe(0);
    // Everything else full: the retry waits (-1) rather than going back to 1.
    expect(admitFrom(f.members, f.ctx, 0, 2, true, 1)).toBe(2);
    expect(admitFrom(f.members, f.ctx, 0, 2, true, 1)).toBe(-1);
    expect(inFlightOf(f.ctx.destinations, 1)).toBe(0);
    const one = fixture(1);
    expect(admitFrom(one.members, one.ctx, 0, 2, true, 0)).toBe(0);
  });

  it('admitFrom_returnsMinusOne_andTakesNothing_whenEveryUsableDestinationIsFull', () => {
    const f = fixture(3);
    f.setInFlight(0, 1);
    f.setInFlight(1, 1);
    f.down(2);
    expect(admitFrom(f.members, f.ctx, 0, 1, true)).toBe(-1);
    expect([0, 1, 2].map((i) => inFlightOf(f.ctx.destinations, i))).toEqual([1, 1, 0]);
  });

  it('admitFrom_usesDownDestinations_whenTheClusterFailsOpen', () => {
    const f = fixture(2);
    f.down(0);
    f.down(1);
    f.setInFlight(0, 1);
    expect(admitFrom(f.members, f.ctx, 0, 1, false)).toBe(1);
  });
});

describe('the limit across real worker threads', () => {
  it('tryAcquire_neverLetsTheCountPassTheLimit_withFourThreadsRacing', async () => {
    const built = new URL('../../dist/balancing/admission.js', import.meta.url);
    if (!existsSync(built)) throw new Error('dist/ is missing: run `npm run build` before this test');
    const limit = 3;
    const destinations = new SharedArrayBuffer(kDestStride * 4);
    const results = await Promise.all(Array.from({ length: 4 }, () => new Promise<{ admitted: number; refused: number; maxSeen: number }>((resolve, reject) => {
      const w = new Worker(new URL('./fixtures/admission-worker.mjs', import.meta.url), {
        workerData: { destinations, slot: 0, limit, rounds: 200_000, hold: 2, inFlightIndex: kDestInFlight },
      });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    for (const r of results) expect(r.maxSeen).toBeLessThanOrEqual(limit);
    // The race was real: threads were refused, and the limit was reached.
    expect(results.reduce((n, r) => n + r.refused, 0)).toBeGreaterThan(0);
    expect(Math.max(...results.map((r) => r.maxSeen))).toBe(limit);
    expect(Atomics.load(new Int32Array(destinations), kDestInFlight)).toBe(0);
  }, 60_000);
});
