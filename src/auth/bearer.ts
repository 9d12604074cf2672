/**
 * Reading the bearer token out of the Authorization header values (RFC 6750 2.1), cheaply and
 * without trusting the client: at most one header, the `Bearer` scheme (any case), a bounded
 * length checked before anything is parsed, and (`isCompactJws`) the compact JWS shape
 * (`base64url.base64url.base64url`) checked before a token reaches jose.
 */

export type BearerRead =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'ambiguous' }
  | { readonly kind: 'oversized' }
  | { readonly kind: 'malformed' };

const MISSING: BearerRead = { kind: 'missing' };
const AMBIGUOUS: BearerRead = { kind: 'ambiguous' };
const OVERSIZED: BearerRead = { kind: 'oversized' };
const MALFORMED: BearerRead = { kind: 'malformed' };

/** Three base64url segments; the signature may not be empty (that is the `alg: none` shape). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function readBearer(values: readonly string[], maxTokenBytes: number): BearerRead {
  if (values.length === 0) return MISSING;
  if (values.length > 1) return AMBIGUOUS;
  const value = values[0];
  // "Bearer " + token, plus some slack for surrounding spaces; longer is refused unread.
  if (value.length > maxTokenBytes + 64) return OVERSIZED;
  let start = 0;
  while (start < value.length && value.charCodeAt(start) === 0x20) start++;
  if (value.length - start < 7 || value.slice(start, start + 6).toLowerCase() !== 'bearer' || value.charCodeAt(start + 6) !== 0x20) {
    // Another scheme (Basic, ...) is not a bearer token: the route's challenge applies.
    return value.trim() === '' ? MISSING : (/^\s*bearer\s*$/i.test(value) ? MALFORMED : MISSING);
  }
  const token = value.slice(start + 7).trim();
  if (token.length === 0) return MALFORMED;
  if (token.length > maxTokenBytes) return OVERSIZED;
  return { kind: 'token', token };
}

/**
 * The compact JWS shape. Checked by the caller only on a cache miss: a cached token passed it
 * already, and the scan is the costliest step of the cached path.
 */
export function isCompactJws(token: string): boolean {
  return COMPACT_JWS.test(token);
}
