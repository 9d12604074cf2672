/**
 * Version order on the receiving side, as a pure decision: given what an instance applied
 * and a change message, apply it, ignore it, or resync from the snapshot.
 *
 *   applied (epoch E, version N)      message (epoch, base, version)
 *   --------------------------------  ------------------------------------------------
 *   epoch differs                     resync  (Redis was replaced or wiped: new lineage)
 *   version <= N                      ignore  (a duplicate or an old message)
 *   base != N                         resync  (a gap: at least one message was lost, or
 *                                              version N+1 was rejected here)
 *   change null                       resync  (too large to travel inline)
 *   otherwise                         apply   (the patch takes N to `version`)
 *
 * Pub/sub is a hint, the snapshot is the truth: every path that cannot prove continuity
 * reconciles against the snapshot, which applies only the difference.
 */
import type { ChangeMessage } from './codec.js';

export interface AppliedPosition {
  /** null before anything was applied. */
  readonly epoch: string | null;
  readonly version: number;
}

export type Step =
  | { readonly kind: 'apply' }
  | { readonly kind: 'ignore'; readonly why: string }
  | { readonly kind: 'resync'; readonly why: string };

export function nextStep(applied: AppliedPosition, message: Pick<ChangeMessage, 'epoch' | 'version' | 'base' | 'change'>): Step {
  if (applied.epoch !== message.epoch) {
    return { kind: 'resync', why: applied.epoch === null ? 'no configuration applied yet' : `epoch changed from ${applied.epoch} to ${message.epoch}` };
  }
  if (message.version <= applied.version) return { kind: 'ignore', why: `version ${message.version} is not newer than ${applied.version}` };
  if (message.base !== applied.version) {
    return { kind: 'resync', why: `gap: version ${message.version} applies on ${message.base}, this instance is at ${applied.version}` };
  }
  if (message.change === null) return { kind: 'resync', why: `version ${message.version} is too large to travel inline` };
  return { kind: 'apply' };
}

/** What the anti-entropy check concludes from the epoch and version keys. */
export function needsResync(applied: AppliedPosition, redis: { readonly epoch: string | null; readonly version: number }): boolean {
  if (redis.epoch === null) return false;
  return redis.epoch !== applied.epoch || redis.version !== applied.version;
}
