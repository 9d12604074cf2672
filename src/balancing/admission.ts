/**
 * Admission under a per-destination concurrency limit (a cluster's `limits`).
 *
 * The limit is instance-wide: it bounds kDestInFlight, the count every worker of the instance
 * adds to and subtracts from. An unlimited request still does one Atomics.add (`acquire`);
 * a limited one takes a slot with a compare-exchange that only succeeds while the count is
 * below the limit, so concurrent admissions on any number of workers never push the count
 * past it:
 *
 *   load c -> c >= limit ? refuse : compareExchange(c -> c + 1) == c ? admitted : load again
 *
 * The loop retries only when another thread changed the count between the load and the
 * exchange (lock-free: some thread always makes progress); it never waits.
 *
 * Counts inherited by a reused slot (see shm/layout.ts) count against the limit until the
 * requests still finishing on the old occupant release them, which errs on the safe side.
 */
import { kDestInFlight, kDestStride } from '../shm/layout.js';
import { isAvailable, type ClusterMembers, type PickContext } from './policy.js';

/** Take one in-flight slot of a destination if its count is below `limit`. */
export function tryAcquire(destinations: Int32Array, slot: number, limit: number): boolean {
  const at = slot * kDestStride + kDestInFlight;
  let current = Atomics.load(destinations, at);
  while (current < limit) {
    const seen = Atomics.compareExchange(destinations, at, current, current + 1);
    if (seen === current) return true;
    current = seen;
  }
  return false;
}

/**
 * Admit on the policy's choice `first` or, when it is at its limit, on the next destination
 * in configuration order that is usable and under its limit (a full destination is skipped
 * the way an unusable one is). Returns the admitted index into `members.slots`, its in-flight
 * count already incremented, or -1 when every usable destination is at its limit.
 *
 * `first` was chosen by the policy with `respectHealth`; the others are checked the same way.
 * `avoid` (an index, or -1) is the destination a retry must not go back to: it is skipped
 * unless it is the only member.
 */
export function admitFrom(members: ClusterMembers, ctx: PickContext, first: number, limit: number, respectHealth: boolean, avoid = -1): number {
  const n = members.slots.length;
  for (let i = 0; i < n; i++) {
    const idx = (first + i) % n;
    const slot = members.slots[idx];
    if (idx === avoid && n > 1) continue;
    if (i > 0 && respectHealth && !isAvailable(ctx, slot)) continue;
    if (tryAcquire(ctx.destinations, slot, limit)) return idx;
  }
  return -1;
}
