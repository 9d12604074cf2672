import { LOAD_BALANCING_POLICIES, type LoadBalancingPolicyName } from '../config/types.js';
import { first } from './first.js';
import { leastRequests } from './least-requests.js';
import type { BalancingPolicy } from './policy.js';
import { powerOfTwoChoices } from './power-of-two-choices.js';
import { random } from './random.js';
import { roundRobin } from './round-robin.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

const BY_NAME: Readonly<Record<LoadBalancingPolicyName, BalancingPolicy>> = {
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  'least-requests': leastRequests,
  'power-of-two-choices': powerOfTwoChoices,
  random,
  first,
};

export function policyByName(name: LoadBalancingPolicyName): BalancingPolicy {
  return BY_NAME[name];
}

/** The policy stored in a cluster row (kClusterPolicy indexes LOAD_BALANCING_POLICIES). */
export function policyByIndex(index: number): BalancingPolicy {
  return BY_NAME[LOAD_BALANCING_POLICIES[index] ?? 'round-robin'];
}

export type { BalancingPolicy, ClusterMembers, PickContext } from './policy.js';
export { acquire, release, isAvailable } from './policy.js';
export { smoothWeightedOrder } from './weighted-round-robin.js';
export { admitFrom, tryAcquire } from './admission.js';
