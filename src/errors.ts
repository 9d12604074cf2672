/**
 * Every error code the gateway emits — in HTTP problem bodies, CLI output and logs — with its
 * HTTP status and message. docs/errors.md is checked against this table by a test.
 *
 * A request failure is a value (an Outcome in the worker pipeline) mapped through this table
 * to an `application/problem+json` response; exceptions are for bugs and invalid config.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Who caused it: the client, the upstream, or the gateway itself. */
  readonly source: 'client' | 'upstream' | 'gateway';
}

export const ERRORS = {
  ROUTE_NOT_FOUND: { status: 404, title: 'No route matches this request', source: 'client' },
  BAD_REQUEST: { status: 400, title: 'The request is malformed', source: 'client' },
  BAD_PATH: { status: 400, title: 'The request path is invalid or escapes the root', source: 'client' },
  TRANSFER_CODING_UNSUPPORTED: { status: 501, title: 'The request body uses a transfer coding other than chunked', source: 'client' },
  BODY_TOO_LARGE: { status: 413, title: 'The request body exceeds the route limit', source: 'client' },
  RATE_LIMITED: { status: 429, title: 'Too many requests for this route from this client; retry after the Retry-After seconds', source: 'client' },
  URL_TOO_LONG: { status: 414, title: 'The request URL exceeds GATEWAY_MAX_URL_BYTES', source: 'client' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request has more headers, or more header bytes, than the gateway accepts', source: 'client' },
  BODY_TIMEOUT: { status: 408, title: 'The client stopped sending the request body', source: 'client' },
  AUTH_MISSING: { status: 401, title: 'This route requires a bearer token', source: 'client' },
  AUTH_INVALID: { status: 401, title: 'The bearer token is not valid', source: 'client' },
  AUTH_FORBIDDEN: { status: 403, title: 'The token lacks a required scope, role or claim', source: 'client' },
  AUTH_UNAVAILABLE: { status: 503, title: 'The keys needed to verify the token cannot be obtained', source: 'gateway' },
  NO_DESTINATION: { status: 503, title: 'No healthy destination is available for this route', source: 'gateway' },
  NOT_READY: { status: 503, title: 'The gateway has no configuration yet', source: 'gateway' },
  UPSTREAM_OVERLOADED: { status: 503, title: 'Every destination of the cluster is at its concurrency limit; retry later', source: 'gateway' },
  WORKER_OVERLOADED: { status: 503, title: 'This worker has its maximum of requests in flight; retry later', source: 'gateway' },
  UPSTREAM_CONNECT_FAILED: { status: 502, title: 'Could not connect to the upstream', source: 'upstream' },
  UPSTREAM_CONNECT_TIMEOUT: { status: 502, title: 'Connecting to the upstream timed out', source: 'upstream' },
  UPSTREAM_RESET: { status: 502, title: 'The upstream closed the connection before the response was complete', source: 'upstream' },
  UPSTREAM_PROTOCOL: { status: 502, title: 'The upstream sent an invalid HTTP response', source: 'upstream' },
  UPSTREAM_HEADERS_TOO_LARGE: { status: 502, title: 'The upstream response head is too large', source: 'upstream' },
  UPSTREAM_HEAD_TIMEOUT: { status: 504, title: 'The upstream did not answer in time', source: 'upstream' },
  UPSTREAM_BODY_TIMEOUT: { status: 504, title: 'The upstream stopped sending the response body', source: 'upstream' },
  UPSTREAM_ABORTED: { status: 502, title: 'The upstream exchange was aborted', source: 'gateway' },
  MANAGEMENT_UNAUTHORIZED: { status: 401, title: 'The management API requires a valid admin credential', source: 'client' },
  MANAGEMENT_FORBIDDEN: { status: 403, title: 'This credential may read but not write', source: 'client' },
  MANAGEMENT_CONFLICT: { status: 409, title: 'The configuration changed since the version given in If-Match', source: 'client' },
  MANAGEMENT_FILE_SOURCE: { status: 409, title: 'Configuration writes need the Redis control plane', source: 'client' },
  INTERNAL: { status: 500, title: 'Internal gateway error', source: 'gateway' },
  // Start-up and configuration (CLI and logs; no HTTP status applies, 0).
  CONFIG_INVALID: { status: 0, title: 'The configuration is invalid', source: 'gateway' },
  CONFIG_REJECTED: { status: 0, title: 'A configuration change was rejected; the last good configuration keeps serving', source: 'gateway' },
  SETTING_INVALID: { status: 0, title: 'An environment setting is invalid', source: 'gateway' },
  UWS_NOT_NATIVE: { status: 0, title: 'uWebSockets.js fell back to its JavaScript implementation', source: 'gateway' },
  LISTEN_FAILED: { status: 0, title: 'A worker could not listen on the configured port', source: 'gateway' },
  // Control plane (Redis; gateway logs and gatewayctl).
  REDIS_UNREACHABLE: { status: 0, title: 'Redis is unreachable', source: 'gateway' },
  VERSION_CONFLICT: { status: 409, title: 'The configuration changed in Redis while this change was being written; it was not applied', source: 'client' },
  CONTROL_MESSAGE_INVALID: { status: 0, title: 'A control-plane message or record in Redis is malformed', source: 'gateway' },
  CONTROL_PLANE_ERROR: { status: 0, title: 'A control-plane step failed; anti-entropy retries it', source: 'gateway' },
  HISTORY_UNAVAILABLE: { status: 404, title: 'That configuration version is not in the history kept in Redis', source: 'client' },
  USAGE: { status: 0, title: 'The command line is invalid', source: 'client' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The problem+json body (RFC 9457) for a code; `detail` must never contain secrets or tokens. */
export function problemBody(code: ErrorCode, detail?: string, instance?: string): string {
  const spec = ERRORS[code];
  return JSON.stringify({
    type: `https://fengling.dev/errors/${code.toLowerCase().replaceAll('_', '-')}`,
    title: spec.title,
    status: spec.status,
    code,
    ...(detail ? { detail } : {}),
    ...(instance ? { instance } : {}),
  });
}

/** An Error carrying a code from the table, for start-up failures. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
