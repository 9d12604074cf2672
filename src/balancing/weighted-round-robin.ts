import { isAvailable, nextCursor, scanFrom, type BalancingPolicy, type ClusterMembers, type PickContext } from './policy.js';

/**
 * Smooth weighted round robin (nginx's algorithm) without per-pick arithmetic: the sequence
 * is expanded once per configuration (see smoothWeightedOrder) and every pick is one shared
 * cursor increment indexing into it, so the weighted rotation is exact across workers.
 */
export const weightedRoundRobin: BalancingPolicy = {
  name: 'weighted-round-robin',
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number {
    const order = members.weightedOrder;
    const n = members.slots.length;
    if (n === 0) return -1;
    if (order === null || order.length === 0) return scanFrom(members, ctx, 0, respectHealth);
    let idx = 0;
    for (let attempt = 0; attempt < n; attempt++) {
      idx = order[nextCursor(ctx, members.clusterSlot) % order.length];
      if (!respectHealth || isAvailable(ctx, members.slots[idx])) return idx;
    }
    return scanFrom(members, ctx, idx, respectHealth);
  },
};

/** Longest expanded sequence; larger weight sums are scaled down proportionally. */
export const MAX_WEIGHTED_ORDER = 4096;

/**
 * The smooth weighted order for these weights: each step adds every weight to its running
 * score, picks the highest score (first on ties) and subtracts the total from it. Over one
 * period each index appears exactly weight/gcd times and heavy members are interleaved.
 */
export function smoothWeightedOrder(weights: readonly number[]): Int32Array {
  if (weights.length === 0) return new Int32Array(0);
  const g = weights.reduce((a, b) => gcd(a, b));
  let w = weights.map((x) => Math.max(1, Math.round(x / g)));
  let total = w.reduce((a, b) => a + b, 0);
  if (total > MAX_WEIGHTED_ORDER) {
    const scale = MAX_WEIGHTED_ORDER / total;
    w = w.map((x) => Math.max(1, Math.floor(x * scale)));
    total = w.reduce((a, b) => a + b, 0);
  }
  const score = new Array<number>(w.length).fill(0);
  const order = new Int32Array(total);
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let i = 0; i < w.length; i++) {
      score[i] += w[i];
      if (score[i] > score[best]) best = i;
    }
    score[best] -= total;
    order[step] = best;
  }
  return order;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
