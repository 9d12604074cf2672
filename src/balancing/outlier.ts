/**
 * Passive outlier detection, in the request path (not health probing): a destination whose
 * upstream exchanges fail N times in a row (connect errors, resets, timeouts, invalid
 * responses; not the upstream's own 5xx answers) is skipped by every policy for a while.
 *
 * The failure count and the ejection deadline are shared rows (kDestFailures,
 * kDestEjectedUntil), so every worker of the instance counts towards, and honours, the same
 * ejection. It composes with the console's health flag: a destination is used only when the
 * console marks it up AND it is not ejected. At most maxEjectedPercent of a cluster is ejected
 * at once, but at least one destination may be (Envoy's rule), so one bad destination of two
 * is always taken out.
 */
import { kDestEjectedUntil, kDestFailures, kDestStride } from '../shm/layout.js';
import type { ClusterMembers } from './policy.js';

export interface OutlierSettings {
  readonly consecutiveFailures: number;
  readonly ejectionSeconds: number;
  readonly maxEjectedPercent: number;
  /** A 5xx answer counts as a failure (and does not end a streak). */
  readonly serverErrors: boolean;
}

export const OUTLIER_DEFAULTS: OutlierSettings = { consecutiveFailures: 5, ejectionSeconds: 30, maxEjectedPercent: 50, serverErrors: false };

/** A successful exchange ends a failure streak (one load when there is none). */
export function recordSuccess(destinations: Int32Array, slot: number): void {
  const at = slot * kDestStride + kDestFailures;
  if (Atomics.load(destinations, at) !== 0) Atomics.store(destinations, at, 0);
}

/** Count a failure; returns true when this failure ejected the destination. */
export function recordFailure(destinations: Int32Array, members: ClusterMembers, slot: number, settings: OutlierSettings, nowSeconds: number): boolean {
  if (settings.consecutiveFailures <= 0) return false;
  const base = slot * kDestStride;
  const failures = Atomics.add(destinations, base + kDestFailures, 1) + 1;
  if (failures < settings.consecutiveFailures) return false;
  if (Atomics.load(destinations, base + kDestEjectedUntil) > nowSeconds) return false;
  const n = members.slots.length;
  let ejected = 0;
  for (let i = 0; i < n; i++) if (Atomics.load(destinations, members.slots[i] * kDestStride + kDestEjectedUntil) > nowSeconds) ejected++;
  const cap = Math.max(1, Math.floor((n * settings.maxEjectedPercent) / 100));
  if (ejected >= cap) return false;
  Atomics.store(destinations, base + kDestEjectedUntil, nowSeconds + settings.ejectionSeconds);
  Atomics.store(destinations, base + kDestFailures, 0);
  return true;
}
