import { describe, expect, it } from 'vitest';
import { recordFailure, recordSuccess, type OutlierSettings } from '../../src/balancing/outlier.js';
import { kDestEjectedUntil, kDestFailures, kDestStride } from '../../src/shm/layout.js';
import { fixture } from './support.js';

const settings: OutlierSettings = { consecutiveFailures: 3, ejectionSeconds: 30, maxEjectedPercent: 50, serverErrors: false };
const NOW = 1000;

describe('passive outlier detection', () => {
  it('recordFailure_ejects_afterTheConfiguredConsecutiveFailures', () => {
    const f = fixture(4);
    expect(recordFailure(f.ctx.destinations, f.members, 1, settings, NOW)).toBe(false);
    expect(recordFailure(f.ctx.destinations, f.members, 1, settings, NOW)).toBe(false);
    expect(recordFailure(f.ctx.destinations, f.members, 1, settings, NOW)).toBe(true);
    expect(f.ctx.destinations[1 * kDestStride + kDestEjectedUntil]).toBe(NOW + 30);
    expect(f.ctx.destinations[1 * kDestStride + kDestFailures]).toBe(0);
  });

  it('recordSuccess_endsTheStreak', () => {
    const f = fixture(2);
    recordFailure(f.ctx.destinations, f.members, 0, settings, NOW);
    recordFailure(f.ctx.destinations, f.members, 0, settings, NOW);
    recordSuccess(f.ctx.destinations, 0);
    expect(recordFailure(f.ctx.destinations, f.members, 0, settings, NOW)).toBe(false);
  });

  it('recordFailure_respectsTheCapOnTheEjectedShare', () => {
    const f = fixture(4);
    const fail = (slot: number) => { for (let i = 0; i < 3; i++) if (recordFailure(f.ctx.destinations, f.members, slot, settings, NOW)) return true; return false; };
    expect(fail(0)).toBe(true);
    expect(fail(1)).toBe(true);
    // 50% of 4 = 2 already ejected.
    expect(fail(2)).toBe(false);
    expect(f.ctx.destinations[2 * kDestStride + kDestEjectedUntil]).toBe(0);
  });

  it('recordFailure_mayAlwaysEjectOne_evenWhenTheShareRoundsToZero', () => {
    const f = fixture(2);
    const tight = { ...settings, maxEjectedPercent: 10 };
    for (let i = 0; i < 2; i++) recordFailure(f.ctx.destinations, f.members, 0, tight, NOW);
    expect(recordFailure(f.ctx.destinations, f.members, 0, tight, NOW)).toBe(true);
  });

  it('recordFailure_isOff_whenConsecutiveFailuresIsZero', () => {
    const f = fixture(2);
    for (let i = 0; i < 50; i++) expect(recordFailure(f.ctx.destinations, f.members, 0, { ...settings, consecutiveFailures: 0 }, NOW)).toBe(false);
  });

  it('anEjection_expires', () => {
    const f = fixture(2);
    for (let i = 0; i < 3; i++) recordFailure(f.ctx.destinations, f.members, 0, settings, NOW);
    // A failure after the ejection ended starts a new streak and can eject again.
    for (let i = 0; i < 2; i++) expect(recordFailure(f.ctx.destinations, f.members, 0, settings, NOW + 31)).toBe(false);
    expect(recordFailure(f.ctx.destinations, f.members, 0, settings, NOW + 31)).toBe(true);
  });
});
