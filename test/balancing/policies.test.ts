import { describe, expect, it } from 'vitest';
import { policyByName, smoothWeightedOrder } from '../../src/balancing/index.js';
import { LOAD_BALANCING_POLICIES } from '../../src/config/types.js';
import { counts, fixture } from './support.js';

const roundRobin = policyByName('round-robin');
const weighted = policyByName('weighted-round-robin');
const least = policyByName('least-requests');
const p2c = policyByName('power-of-two-choices');
const random = policyByName('random');
const first = policyByName('first');

function pickMany(policy = roundRobin, f = fixture(3), n = 300): number[] {
  return Array.from({ length: n }, () => policy.pick(f.members, f.ctx, true));
}

describe('every policy', () => {
  for (const name of LOAD_BALANCING_POLICIES) {
    const policy = policyByName(name);
    it(`${name}_returnsMinusOne_withNoDestinations`, () => {
      const f = fixture(0);
      expect(policy.pick(f.members, f.ctx, true)).toBe(-1);
    });
    it(`${name}_picksTheOnlyDestination_withOne`, () => {
      const f = fixture(1, 1, smoothWeightedOrder([1]));
      for (let i = 0; i < 10; i++) expect(policy.pick(f.members, f.ctx, true)).toBe(0);
    });
    it(`${name}_neverPicksADownDestination`, () => {
      const f = fixture(4, 7, smoothWeightedOrder([1, 2, 3, 4]));
      f.down(1);
      f.down(3);
      const picks = Array.from({ length: 400 }, () => policy.pick(f.members, f.ctx, true));
      expect(picks.every((p) => p === 0 || p === 2)).toBe(true);
    });
    it(`${name}_returnsMinusOne_whenAllDown_andPicksAnyway_whenHealthIgnored`, () => {
      const f = fixture(3, 3, smoothWeightedOrder([1, 1, 1]));
      f.down(0); f.down(1); f.down(2);
      expect(policy.pick(f.members, f.ctx, true)).toBe(-1);
      const p = policy.pick(f.members, f.ctx, false);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(3);
    });
    it(`${name}_skipsAPassivelyEjectedDestination_untilTheEjectionEnds`, () => {
      const f = fixture(2, 5, smoothWeightedOrder([1, 1]));
      f.eject(0, 2000);
      expect(Array.from({ length: 20 }, () => policy.pick(f.members, f.ctx, true)).every((p) => p === 1)).toBe(true);
      f.setNow(2000);
      f.down(1);
      expect(policy.pick(f.members, f.ctx, true)).toBe(0);
    });
  }
});

describe('round-robin', () => {
  it('pick_rotatesExactly_whenAllUp', () => {
    expect(counts(pickMany(), 3)).toEqual([100, 100, 100]);
    expect(pickMany(roundRobin, fixture(3), 6)).toEqual([0, 1, 2, 0, 1, 2]);
  });
  it('pick_spreadsADownDestinationsTurns_overTheOthers', () => {
    const f = fixture(3);
    f.down(1);
    const c = counts(pickMany(roundRobin, f, 3000), 3);
    expect(c[1]).toBe(0);
    expect(c[0] + c[2]).toBe(3000);
    expect(Math.abs(c[0] - c[2])).toBeLessThanOrEqual(1000);
  });
});

describe('weighted-round-robin', () => {
  it('smoothWeightedOrder_givesEachIndexItsWeight_andInterleaves', () => {
    const order = Array.from(smoothWeightedOrder([5, 1, 1]));
    expect(order).toHaveLength(7);
    expect(counts(order, 3)).toEqual([5, 1, 1]);
    // nginx's smooth sequence for 5,1,1: a a b a c a a
    expect(order).toEqual([0, 0, 1, 0, 2, 0, 0]);
  });
  it('smoothWeightedOrder_reducesByTheGcd', () => {
    expect(Array.from(smoothWeightedOrder([200, 100]))).toEqual([0, 1, 0]);
  });
  it('smoothWeightedOrder_capsTheSequenceLength_keepingProportions', () => {
    const order = smoothWeightedOrder([10_000, 9_999, 1]);
    expect(order.length).toBeLessThanOrEqual(4096);
    const c = counts(Array.from(order), 3);
    expect(c[2]).toBeGreaterThanOrEqual(1);
    expect(Math.abs(c[0] - c[1])).toBeLessThanOrEqual(2);
  });
  it('pick_matchesTheWeightsExactly_overWholePeriods', () => {
    const f = fixture(3, 1, smoothWeightedOrder([3, 2, 1]));
    expect(counts(pickMany(weighted, f, 600), 3)).toEqual([300, 200, 100]);
  });
});

describe('least-requests', () => {
  it('pick_choosesTheFewestInFlight', () => {
    const f = fixture(3);
    f.setInFlight(0, 5); f.setInFlight(1, 2); f.setInFlight(2, 9);
    expect(pickMany(least, f, 50).every((p) => p === 1)).toBe(true);
  });
  it('pick_sharesTies_insteadOfAlwaysTheFirst', () => {
    const c = counts(pickMany(least, fixture(4), 4000), 4);
    for (const x of c) expect(x).toBeGreaterThan(700);
  });
});

describe('power-of-two-choices', () => {
  it('pick_neverChoosesTheBusiest_ofThree', () => {
    const f = fixture(3, 11);
    f.setInFlight(0, 1); f.setInFlight(1, 50); f.setInFlight(2, 1);
    expect(pickMany(p2c, f, 500).includes(1)).toBe(false);
  });
  it('pick_prefersLessLoaded_overMany', () => {
    const f = fixture(10, 13);
    for (let i = 0; i < 10; i++) f.setInFlight(i, i * 10);
    const c = counts(pickMany(p2c, f, 5000), 10);
    expect(c[0]).toBeGreaterThan(c[9]);
    expect(c[9]).toBe(0);
  });
});

describe('random', () => {
  it('pick_isRoughlyUniform', () => {
    const c = counts(pickMany(random, fixture(4, 21), 8000), 4);
    for (const x of c) expect(Math.abs(x - 2000)).toBeLessThan(250);
  });
});

describe('first', () => {
  it('pick_failsOverInOrder', () => {
    const f = fixture(3);
    expect(first.pick(f.members, f.ctx, true)).toBe(0);
    f.down(0);
    expect(first.pick(f.members, f.ctx, true)).toBe(1);
    f.down(1);
    expect(first.pick(f.members, f.ctx, true)).toBe(2);
    f.up(0);
    expect(first.pick(f.members, f.ctx, true)).toBe(0);
  });
});
