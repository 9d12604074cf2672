/**
 * The authenticator of a policy that cannot work (a missing secret, an unreadable key file,
 * no usable key): every request answers 503 AUTH_UNAVAILABLE and nothing is forwarded
 * unauthenticated. The reason was logged once, when the policy was compiled.
 */
import type { AuthFailure } from './outcomes.js';
import type { AuthStats } from './stats.js';
import type { AuthOutcome, RouteAuthenticator } from './types.js';

export class FailClosedAuthenticator implements RouteAuthenticator {
  readonly #outcome: AuthFailure;
  readonly #stats: AuthStats;
  readonly #onClose: () => void;

  constructor(outcome: AuthFailure, stats: AuthStats, onClose: () => void) {
    this.#outcome = outcome;
    this.#stats = stats;
    this.#onClose = onClose;
  }

  check(): AuthOutcome {
    this.#stats.unavailable++;
    return this.#outcome;
  }

  close(): void {
    this.#onClose();
  }
}
