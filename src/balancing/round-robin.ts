import { isAvailable, nextCursor, scanFrom, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/**
 * One shared cursor per cluster, advanced with one Atomics.add per pick: exact rotation across
 * all workers while every destination is up. An unavailable pick takes a fresh cursor value
 * (so the skipped destination's turns spread over the others), bounded by the member count.
 */
export const roundRobin: BalancingPolicy = {
  name: 'round-robin',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    const n = members.slots.length;
    if (n === 0) return -1;
    let cursor = 0;
    for (let attempt = 0; attempt < n; attempt++) {
      cursor = nextCursor(ctx, members.clusterSlot);
      const idx = cursor % n;
      if (!respectHealth || isAvailable(ctx, members.slots[idx])) return idx;
    }
    return scanFrom(members, ctx, cursor % n, respectHealth);
  },
};
