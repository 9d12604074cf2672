import { inFlight, isAvailable, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/**
 * The usable destination with the fewest requests in flight across every worker of the
 * instance. Ties go to the first found from a random starting point, so that equal
 * destinations share the load instead of the first one taking all of it.
 */
export const leastRequests: BalancingPolicy = {
  name: 'least-requests',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    const n = members.slots.length;
    if (n === 0) return -1;
    const start = Math.floor(ctx.random() * n);
    let best = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const idx = (start + i) % n;
      const slot = members.slots[idx];
      if (respectHealth && !isAvailable(ctx, slot)) continue;
      const load = inFlight(ctx, slot);
      if (load < bestLoad) {
        best = idx;
        bestLoad = load;
      }
    }
    return best;
  },
};
