/**
 * The contract between the worker pipeline and route authentication (SEC-02).
 *
 * A worker builds one RouteAuthenticator per auth policy (from the shared table of policies)
 * and asks it about every request of a route that names the policy. The verdict is a value:
 * the pipeline turns a failure into 401/403 with the `WWW-Authenticate` header given here.
 */
import type { AuthPolicyConfig } from '../config/types.js';
import type { ErrorCode } from '../errors.js';

export type AuthOutcome =
  | {
    readonly ok: true;
    /** Headers to add upstream, flat [lower-case name, value, ...] (e.g. mapped claims). */
    readonly setHeaders: readonly string[];
    /**
     * Lower-case names whose client-sent copies must be dropped before forwarding: every
     * mapped claim header (so no client can spoof an identity header), and `authorization`
     * unless the policy forwards it.
     */
    readonly removeHeaders: ReadonlySet<string>;
  }
  | {
    readonly ok: false;
    readonly status: 401 | 403 | 503;
    readonly code: ErrorCode;
    /** The full WWW-Authenticate value (RFC 6750), e.g. `Bearer error="invalid_token", error_description="expired"`. */
    readonly wwwAuthenticate: string;
    /** Safe to show the client: never contains the token. */
    readonly detail: string;
  };

export interface RouteAuthenticator {
  /**
   * Judge a request from its Authorization header values (every copy the client sent, in
   * order). Synchronous when the verdict is cached; a promise when verification must wait
   * (e.g. a JWKS fetch). Never throws and never rejects.
   */
  check(authorization: readonly string[]): AuthOutcome | Promise<AuthOutcome>;
  /** Stop background work (JWKS refresh timers). */
  close(): void;
}

export type AuthenticatorFactory = (policy: AuthPolicyConfig) => RouteAuthenticator;
