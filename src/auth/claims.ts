/**
 * Claims: reading them by path, checking scopes and roles, and mapping them to upstream
 * headers (the `claimsToHeaders` transform).
 *
 * A claim path is dotted for nested claims (`org.id` reads `{"org":{"id":...}}`). A claim
 * whose own name contains dots (`https://example.com/roles`, as Auth0 writes them) is found
 * too: the whole path is tried as one name first.
 */

export type Claims = Readonly<Record<string, unknown>>;

/** A compiled claim path: the whole text, and its segments. */
export interface ClaimPath {
  readonly text: string;
  readonly segments: readonly string[];
}

export function claimPath(text: string): ClaimPath {
  return { text, segments: text.split('.') };
}

export function claimAt(claims: Claims, path: ClaimPath): unknown {
  if (Object.hasOwn(claims, path.text)) return claims[path.text];
  if (path.segments.length === 1) return undefined;
  let node: unknown = claims;
  for (const segment of path.segments) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** A list claim: an array of strings, or one space-separated string (OAuth's `scope`). */
export function wordsOf(value: unknown): readonly string[] {
  if (typeof value === 'string') return value.split(' ').filter((w) => w !== '');
  if (Array.isArray(value)) return value.filter((w): w is string => typeof w === 'string');
  return [];
}

/** Granted scopes: `scope` (RFC 8693, space-separated) and `scp` (an array, as Azure AD and Okta write it). */
export function grantedScopes(claims: Claims): ReadonlySet<string> {
  return new Set([...wordsOf(claims.scope), ...wordsOf(claims.scp)]);
}

/** The first of `required` that `granted` lacks, or undefined. */
export function firstMissing(required: readonly string[], granted: ReadonlySet<string>): string | undefined {
  for (const r of required) if (!granted.has(r)) return r;
  return undefined;
}

export interface ClaimHeader {
  readonly claim: ClaimPath;
  /** Lower-case header name. */
  readonly header: string;
}

export function compileClaimHeaders(mapping: Readonly<Record<string, string>> | undefined): readonly ClaimHeader[] {
  if (mapping === undefined) return [];
  return Object.entries(mapping).map(([claim, header]) => ({ claim: claimPath(claim), header: header.toLowerCase() }));
}

/**
 * The flat [name, value, ...] list of mapped headers for these claims. An absent (or null)
 * claim adds nothing; strings go as they are, anything else as JSON. Values are sanitised:
 * control characters (CR and LF above all, which would inject headers) are removed.
 */
export function claimHeaders(claims: Claims, mapping: readonly ClaimHeader[]): string[] {
  const out: string[] = [];
  for (const { claim, header } of mapping) {
    const value = claimAt(claims, claim);
    if (value === undefined || value === null) continue;
    out.push(header, sanitise(typeof value === 'string' ? value : JSON.stringify(value)));
  }
  return out;
}

// Everything below 0x20 except HTAB, and DEL: never valid in a field value (RFC 9110 5.5).
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

/**
 * A claim made safe as a header value: control characters removed. Other characters stay
 * text: the forwarder writes the request head as UTF-8, where every byte of a character above
 * 0x7F is >= 0x80, never a control character (cut to one byte, U+010A would be a bare LF).
 */
export function sanitise(value: string): string {
  return value.replace(CONTROL, '').trim();
}
