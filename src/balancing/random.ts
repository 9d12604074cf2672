import { scanFrom, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/** A uniformly random usable destination (an unusable draw moves to the next usable one). */
export const random: BalancingPolicy = {
  name: 'random',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    const n = members.slots.length;
    if (n === 0) return -1;
    return scanFrom(members, ctx, Math.floor(ctx.random() * n), respectHealth);
  },
};
