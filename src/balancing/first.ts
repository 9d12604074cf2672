import { scanFrom, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/** The first usable destination in configuration order: active/passive failover. */
export const first: BalancingPolicy = {
  name: 'first',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    return scanFrom(members, ctx, 0, respectHealth);
  },
};
