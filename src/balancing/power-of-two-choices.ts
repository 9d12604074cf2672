import { leastRequests } from './least-requests.js';
import { inFlight, isAvailable, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/**
 * Two distinct random destinations, the one with fewer requests in flight wins (YARP's
 * default). When a draw lands on an unusable destination it draws again a bounded number of
 * times, then falls back to a full least-requests scan.
 */
const MAX_DRAWS = 4;

export const powerOfTwoChoices: BalancingPolicy = {
  name: 'power-of-two-choices',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    const n = members.slots.length;
    if (n <= 2) return leastRequests.pick(members, ctx, respectHealth);
    for (let draw = 0; draw < MAX_DRAWS; draw++) {
      const a = Math.floor(ctx.random() * n);
      let b = Math.floor(ctx.random() * (n - 1));
      if (b >= a) b++;
      const aOk = !respectHealth || isAvailable(ctx, members.slots[a]);
      const bOk = !respectHealth || isAvailable(ctx, members.slots[b]);
      if (aOk && bOk) return inFlight(ctx, members.slots[b]) < inFlight(ctx, members.slots[a]) ? b : a;
      if (aOk) return a;
      if (bOk) return b;
    }
    return leastRequests.pick(members, ctx, respectHealth);
  },
};
