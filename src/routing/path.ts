/**
 * Request path and host normalisation for routing (worker hot path).
 *
 * The route table matches the path exactly as it is given, segment by segment, so that
 * what the gateway routes on is what it forwards. Resolving dot-segments and decoding
 * is the caller's decision, made once per request with `normalizePath` before `match`:
 * a path that reaches the table un-normalised (`/api/../admin`) is matched literally and
 * would be routed by its `api` segment while an upstream may resolve it to `/admin`.
 */

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const HASH = 0x23;
const BACKSLASH = 0x5c;

/** 0-15 for a hexadecimal digit, -1 otherwise (NaN from reading past the end included). */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === DOT || c === 0x5f || c === 0x7e
  );
}

/**
 * Decodes percent-encoded unreserved characters (`%7E` → `~`, `%2e` → `.`) and keeps every
 * other escape as received (`%2F` stays `%2F`: decoding it would create a segment boundary
 * the client did not send). Returns null when a `%` is not followed by two hex digits, and
 * for `%00`.
 * Returns `raw` itself when there is nothing to decode.
 */
export function decodeUnreserved(raw: string): string | null {
  let i = raw.indexOf('%');
  if (i < 0) return raw;
  let out = '';
  let copiedUpTo = 0;
  for (; i < raw.length; i++) {
    if (raw.charCodeAt(i) !== PERCENT) continue;
    const hi = hexValue(raw.charCodeAt(i + 1));
    const lo = hexValue(raw.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const c = (hi << 4) | lo;
    // `%00` names no character a path can hold; a backend written in C may end the path
    // there (`/admin%00.png` → `/admin`), so it is refused like an invalid escape.
    if (c === 0) return null;
    if (isUnreserved(c)) {
      out += raw.slice(copiedUpTo, i) + String.fromCharCode(c);
      copiedUpTo = i + 3;
    }
    i += 2;
  }
  return copiedUpTo === 0 ? raw : out + raw.slice(copiedUpTo);
}

/**
 * True when `target` (a path or a query) holds a byte that RFC 3986 never allows in a
 * request-target, and that some server behind the gateway would read differently from the
 * route table, so routing and forwarding could disagree (RFC 9112 §3.2: answer 400):
 * - `#` starts a fragment, which a client never sends (RFC 9112 §3.2.1). A backend that
 *   strips it would serve `/admin#x` as `/admin`, while the table routes the segment `admin#x`;
 * - a backslash is a path separator on some servers (`/api\..\admin` is `/api/../admin`);
 * - controls, space, DEL and bytes >= 0x80 (uWS hands the latter over decoded as UTF-8).
 * Other characters outside RFC 3986 (`{`, `|`, `^`, ...) are routed and forwarded as received:
 * the route table and the upstream see the same bytes.
 * One pass of `charCodeAt` over the path; no allocation.
 */
export function hasForbiddenTargetByte(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === HASH || c === BACKSLASH) return true;
  }
  return false;
}

/**
 * True when `path` has an empty segment (`//`) or a `.`/`..` segment, i.e. when
 * `normalizePath` has to rebuild it; lets the common clean path through without splitting.
 */
function hasDotOrEmptySegment(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) !== SLASH) continue;
    const a = path.charCodeAt(i + 1);
    if (a === SLASH) return true;
    if (a !== DOT) continue;
    const b = path.charCodeAt(i + 2);
    if (b !== b || b === SLASH) return true; // `/.` at the end (NaN) or `/./`
    if (b === DOT) {
      const c = path.charCodeAt(i + 3);
      if (c !== c || c === SLASH) return true; // `/..` at the end or `/../`
    }
  }
  return false;
}

/**
 * Normalises a raw request path (no query string) before routing:
 * 1. percent-encoded unreserved characters are decoded (`%7E` → `~`, `%2e` → `.`); all other
 *    escapes are kept as received (`%2F` does not become a separator);
 * 2. `.` segments are removed and `..` removes the previous segment (RFC 3986 §5.2.4),
 *    after step 1, so `/api/%2e%2e/admin` → `/admin`;
 * 3. empty segments are removed (`/a//b` → `/a/b`); a trailing slash is kept (`/a/b/`),
 *    and a path ending in `.` or `..` keeps a trailing slash as RFC 3986 does (`/a/b/..` → `/a/`).
 *
 * Returns null, to be answered with 400, when the path does not start with `/`, holds a byte
 * refused by `hasForbiddenTargetByte` (`#`, a backslash, controls, non-ASCII), when a `%` is not
 * followed by two hex digits or encodes NUL, or when `..` would climb above the root.
 * Returns `raw` itself (no allocation) when it is already normal.
 */
export function normalizePath(raw: string): string | null {
  if (raw.charCodeAt(0) !== SLASH || hasForbiddenTargetByte(raw)) return null;
  const decoded = decodeUnreserved(raw);
  if (decoded === null) return null;
  if (!hasDotOrEmptySegment(decoded)) return decoded;

  const parts = decoded.split('/');
  const kept: string[] = [];
  let trailingSlash = false;
  // parts[0] is the empty string before the leading slash.
  for (let k = 1; k < parts.length; k++) {
    const segment = parts[k];
    const isLast = k === parts.length - 1;
    if (segment === '' || segment === '.') {
      if (isLast) trailingSlash = true;
      continue;
    }
    if (segment === '..') {
      if (kept.length === 0) return null;
      kept.pop();
      if (isLast) trailingSlash = true;
      continue;
    }
    kept.push(segment);
  }
  if (kept.length === 0) return '/';
  return '/' + kept.join('/') + (trailingSlash ? '/' : '');
}

/**
 * Normalises a Host header (or `:authority`) for host matching: the port is removed, an
 * IPv6 literal keeps its brackets (`[::1]:8080` → `[::1]`), one trailing dot of a fully
 * qualified name is removed (`example.com.` → `example.com`), and ASCII letters are
 * lower-cased. Returns `host` itself when it is already normal (the common case).
 */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === OPEN_BRACKET) {
    const close = host.indexOf(']');
    if (close > 0) end = close + 1;
  } else {
    for (let i = 0; i < end; i++) {
      if (host.charCodeAt(i) === COLON) {
        end = i;
        break;
      }
    }
    if (end > 1 && host.charCodeAt(end - 1) === DOT) end--;
  }
  let hasUpper = false;
  for (let i = 0; i < end; i++) {
    const c = host.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      hasUpper = true;
      break;
    }
  }
  const bare = end === host.length ? host : host.slice(0, end);
  return hasUpper ? bare.toLowerCase() : bare;
}

/** Lower-cases ASCII letters only, so that hashing and comparing agree byte for byte. */
export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      let out = s.slice(0, i);
      for (let k = i; k < s.length; k++) {
        const d = s.charCodeAt(k);
        out += String.fromCharCode(d >= 0x41 && d <= 0x5a ? d | 0x20 : d);
      }
      return out;
    }
  }
  return s;
}

/** `a` equals `lower` (already ASCII-lower-cased) ignoring ASCII case, without allocating. */
export function equalsIgnoreAsciiCase(a: string, lower: string): boolean {
  if (a.length !== lower.length) return false;
  for (let i = 0; i < a.length; i++) {
    let c = a.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}
