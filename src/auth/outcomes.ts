/**
 * The verdicts an auth policy hands the pipeline, with their RFC 6750 challenges.
 *
 * Every failure is built from a fixed description (never from the token or a claim), so a
 * WWW-Authenticate header or problem body can never echo what the client sent. Outcomes are
 * frozen and memoised per description: the failure path allocates nothing either.
 */
import type { ErrorCode } from '../errors.js';
import type { AuthOutcome } from './types.js';

export type AuthFailure = Extract<AuthOutcome, { ok: false }>;

export class Challenges {
  readonly #realm: string;
  readonly #memo = new Map<string, AuthFailure>();
  /** No credentials (RFC 6750 3.1: a challenge without an error code). */
  readonly missing: AuthFailure;
  /** Several Authorization headers: which one the upstream would believe is ambiguous. */
  readonly ambiguous: AuthFailure;

  /** `realm` must be a quoted-string body without `"` or `\` (checked by the schema). */
  constructor(realm: string) {
    this.#realm = realm;
    this.missing = freeze(401, 'AUTH_MISSING', `Bearer realm="${realm}"`, 'a bearer token is required');
    this.ambiguous = freeze(401, 'AUTH_INVALID',
      `Bearer realm="${realm}", error="invalid_request", error_description="several Authorization headers"`,
      'several Authorization headers');
  }

  /** 401 invalid_token. `description` is one of our constant sentences. */
  invalid(description: string): AuthFailure {
    return this.#memoised(`i${description}`, () => freeze(401, 'AUTH_INVALID',
      `Bearer realm="${this.#realm}", error="invalid_token", error_description="${description}"`, description));
  }

  /** 403 insufficient_scope; `scope` lists what the route needs (RFC 6750 3). */
  forbidden(description: string, scope?: string): AuthFailure {
    return this.#memoised(`f${description}\u0000${scope ?? ''}`, () => freeze(403, 'AUTH_FORBIDDEN',
      `Bearer realm="${this.#realm}", error="insufficient_scope", error_description="${description}"${scope ? `, scope="${scope}"` : ''}`,
      description));
  }

  /** 503: the gateway cannot verify anything for this policy right now. */
  unavailable(description: string): AuthFailure {
    return this.#memoised(`u${description}`, () => freeze(503, 'AUTH_UNAVAILABLE',
      `Bearer realm="${this.#realm}", error="temporarily_unavailable", error_description="${description}"`, description));
  }

  #memoised(key: string, make: () => AuthFailure): AuthFailure {
    let outcome = this.#memo.get(key);
    if (outcome === undefined) this.#memo.set(key, (outcome = make()));
    return outcome;
  }
}

function freeze(status: 401 | 403 | 503, code: ErrorCode, wwwAuthenticate: string, detail: string): AuthFailure {
  return Object.freeze({ ok: false, status, code, wwwAuthenticate, detail });
}
