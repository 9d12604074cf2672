/**
 * A coarse clock for the pool's deadlines (connect, head, body idle, keep-alive idle).
 *
 * Why: a setTimeout/clearTimeout pair per request (or a refreshed timer per body read) costs
 * timer-list work and crossings on the hot path. Here a deadline is a plain number — the tick
 * at which it expires — written into the connection; one unref'd interval per pool advances
 * the tick and lets the owner sweep its connections (a handful of objects) for expired ones.
 *
 * Guarantee: `deadlineAfter(ms)` never expires early, and expires at most about two ticks
 * late: set during tick t with n = ceil(ms / resolution) ticks, it is seen as expired at the
 * first sweep with tick > t + n, i.e. after more than n whole intervals have elapsed.
 */

/** Sweep interval. Timeouts are honoured to this resolution (late, never early). */
export const DEADLINE_RESOLUTION_MS = 100;

export class DeadlineClock {
  readonly #onTick: (tick: number) => void;
  #tick = 0;
  #timer: NodeJS.Timeout | null = null;

  /** `onTick` runs on every sweep with the new tick, while the clock is running. */
  constructor(onTick: (tick: number) => void) {
    this.#onTick = onTick;
  }

  get now(): number {
    return this.#tick;
  }

  /** The number of ticks that covers `ms`; a deadline is `now + ticksFor(ms)`, expired once `now > deadline`. */
  ticksFor(ms: number): number {
    return Math.ceil(ms / DEADLINE_RESOLUTION_MS);
  }

  /** Idempotent. The interval is unref'd: it never keeps the process alive. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      this.#tick++;
      this.#onTick(this.#tick);
    }, DEADLINE_RESOLUTION_MS);
    this.#timer.unref();
  }

  /** Idempotent. Deadlines set before stop() keep their meaning after start(). */
  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }
}
