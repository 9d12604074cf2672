/**
 * The wait queue of one limited cluster in one worker (see balancing/admission.ts for the
 * instance-wide limit itself).
 *
 * A request that finds every usable destination of its cluster at the limit waits here, first
 * in first out, at most `capacity` of them per worker, each for at most `timeoutMs`. Waiting
 * requests are retried in order
 *   - when a request of this worker releases a destination of the cluster (`drain` is called
 *     from the release), and
 *   - every QUEUE_POLL_MS while the queue is not empty, because a release on another worker
 *     of the instance frees a slot too and nothing signals it here (a serving thread never
 *     blocks on Atomics.wait).
 * The retries stop at the first request that still cannot be admitted: the ones behind it
 * wait for the same cluster, so none of them could be either, and none may overtake it.
 *
 * Deadlines are in queue order while the timeout stays the same; after a configuration change
 * shortens it, a request queued later may wait until the ones before it leave.
 *
 * Nothing here runs unless a request has been queued: an unlimited cluster has no queue.
 */
import { performance } from 'node:perf_hooks';

export interface QueuedRequest {
  /** Try again to be admitted; true when the request no longer waits (admitted, or ended otherwise). */
  retryAdmission(): boolean;
  /** Its wait is over: answer 503 UPSTREAM_OVERLOADED. */
  queueTimedOut(): void;
}

/** How often a non-empty queue looks for slots freed by other workers. */
export const QUEUE_POLL_MS = 5;

export class AdmissionQueue {
  /** Insertion order is queue order; the value is the deadline (performance.now() ms). */
  readonly #waiting = new Map<QueuedRequest, number>();
  #capacity: number;
  #timeoutMs: number;
  #timer: NodeJS.Timeout | null = null;
  #draining = false;
  #again = false;

  constructor(capacity: number, timeoutMs: number) {
    this.#capacity = capacity;
    this.#timeoutMs = timeoutMs;
  }

  /** New settings from a configuration change; requests already waiting keep their deadline. */
  configure(capacity: number, timeoutMs: number): void {
    this.#capacity = capacity;
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Queue a request; false when the queue is full (then the caller answers 503 at once). */
  offer(request: QueuedRequest, now: number): boolean {
    if (this.#waiting.size >= this.#capacity) return false;
    this.#waiting.set(request, now + this.#timeoutMs);
    this.#schedule();
    return true;
  }

  /** A request that ended while waiting (client gone, body too large or too slow) leaves. */
  remove(request: QueuedRequest): void {
    this.#waiting.delete(request);
  }

  /**
   * Admit waiting requests in order while slots are free; answer those whose wait is over.
   * Re-entrant calls (an admitted request that fails at once releases, which drains again)
   * are folded into the running one.
   */
  drain(now: number = performance.now()): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = true;
    try {
      do {
        this.#again = false;
        for (const [request, deadline] of this.#waiting) {
          if (deadline <= now) {
            this.#waiting.delete(request);
            request.queueTimedOut();
            continue;
          }
          if (!request.retryAdmission()) break;
          this.#waiting.delete(request);
        }
      } while (this.#again);
    } finally {
      this.#draining = false;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null || this.#waiting.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.drain();
    }, QUEUE_POLL_MS);
  }
}
