/**
 * A load-balancing policy picks one destination of a cluster per request.
 *
 * Policies keep no state of their own: the round-robin cursor lives in the cluster's shared
 * row and in-flight counts in the destinations' shared rows, so every worker thread of the
 * instance sees the same numbers (round robin is exact across workers; least-requests sees
 * every worker's requests). Everything moves with Atomics; nothing waits.
 *
 * The caller handles availability policy: it asks with `respectHealth` true, and when that
 * returns -1 and the cluster fails open, asks again with `respectHealth` false.
 */
import type { LoadBalancingPolicyName } from '../config/types.js';
import {
  HEALTH_UP, kClusterCursor, kClusterStride, kDestEjectedUntil, kDestHealth, kDestInFlight, kDestStride,
} from '../shm/layout.js';

/** A cluster's membership as a worker compiled it from the tables (a per-worker cache). */
export interface ClusterMembers {
  readonly clusterSlot: number;
  /** Destination slots in configuration order. */
  readonly slots: Int32Array;
  /** Smooth weighted round-robin order as indices into `slots` (weighted policy only). */
  readonly weightedOrder: Int32Array | null;
}

/** The shared rows a policy reads, and the clock and randomness it may use (injectable). */
export interface PickContext {
  readonly destinations: Int32Array;
  readonly clusters: Int32Array;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** Seconds on the clock used for kDestEjectedUntil. */
  readonly nowSeconds: () => number;
}

export interface BalancingPolicy {
  readonly name: LoadBalancingPolicyName;
  /** An index into `members.slots`, or -1 when no destination may be used. */
  pick(members: ClusterMembers, ctx: PickContext, respectHealth: boolean): number;
}

/** Usable: marked up by the console and not passively ejected. */
export function isAvailable(ctx: PickContext, slot: number): boolean {
  const base = slot * kDestStride;
  if (Atomics.load(ctx.destinations, base + kDestHealth) !== HEALTH_UP) return false;
  const until = Atomics.load(ctx.destinations, base + kDestEjectedUntil);
  return until === 0 || until <= ctx.nowSeconds();
}

export function inFlight(ctx: PickContext, slot: number): number {
  return Atomics.load(ctx.destinations, slot * kDestStride + kDestInFlight);
}

/** Next value of the cluster's shared cursor, as an unsigned 32-bit count. */
export function nextCursor(ctx: PickContext, clusterSlot: number): number {
  return Atomics.add(ctx.clusters, clusterSlot * kClusterStride + kClusterCursor, 1) >>> 0;
}

/** The first usable index at or after `start` (wrapping), or -1. */
export function scanFrom(members: ClusterMembers, ctx: PickContext, start: number, respectHealth: boolean): number {
  const n = members.slots.length;
  for (let i = 0; i < n; i++) {
    const idx = (start + i) % n;
    if (!respectHealth || isAvailable(ctx, members.slots[idx])) return idx;
  }
  return -1;
}

/** Record that a request was sent to a destination / finished there. */
export function acquire(destinations: Int32Array, slot: number): void {
  Atomics.add(destinations, slot * kDestStride + kDestInFlight, 1);
}

export function release(destinations: Int32Array, slot: number): void {
  Atomics.sub(destinations, slot * kDestStride + kDestInFlight, 1);
}
