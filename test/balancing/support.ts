import type { ClusterMembers, PickContext } from '../../src/balancing/policy.js';
import { HEALTH_DOWN, HEALTH_UP, kClusterStride, kDestHealth, kDestInFlight, kDestStride, kDestEjectedUntil } from '../../src/shm/layout.js';

import { seeded } from '../support/random.js';

/** Shared-memory rows for one cluster (slot 0) with `n` destinations in slots 0..n-1. */
export function fixture(n: number, seed = 1, weightedOrder: Int32Array | null = null) {
  const destinations = new Int32Array(new SharedArrayBuffer(Math.max(1, n) * kDestStride * 4));
  const clusters = new Int32Array(new SharedArrayBuffer(kClusterStride * 4));
  for (let i = 0; i < n; i++) destinations[i * kDestStride + kDestHealth] = HEALTH_UP;
  let now = 1000;
  const ctx: PickContext = { destinations, clusters, random: seeded(seed), nowSeconds: () => now };
  const members: ClusterMembers = { clusterSlot: 0, slots: Int32Array.from({ length: n }, (_, i) => i), weightedOrder };
  return {
    ctx, members,
    down(i: number) { destinations[i * kDestStride + kDestHealth] = HEALTH_DOWN; },
    up(i: number) { destinations[i * kDestStride + kDestHealth] = HEALTH_UP; },
    setInFlight(i: number, v: number) { destinations[i * kDestStride + kDestInFlight] = v; },
    eject(i: number, until: number) { destinations[i * kDestStride + kDestEjectedUntil] = until; },
    setNow(v: number) { now = v; },
  };
}

export function counts(picks: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const p of picks) c[p]++;
  return c;
}
