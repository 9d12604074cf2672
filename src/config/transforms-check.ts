/**
 * Validation of one transform item (see `TransformConfig` in ./types.ts).
 *
 * A transform is an object with exactly one discriminating key; header transforms also carry
 * exactly one of `set` / `append`. Transforms may not touch hop-by-hop or framing headers:
 * the forwarder owns those (it strips hop-by-hop headers and sets the framing header from the
 * body it actually sends), and a transform that changed them would desynchronise the
 * connection. `host` is governed by the route's `upstreamHost` instead.
 */
import { HEADER_NAME_PATTERN } from './schema.js';
import { describeValue, type PathSegment, type PathedError } from './field-path.js';

const PATH_KEYS = ['pathRemovePrefix', 'pathPrefix', 'pathSet'] as const;
const HEADER_VALUE_KEYS = ['requestHeader', 'responseHeader'] as const;
const HEADER_REMOVE_KEYS = ['requestHeaderRemove', 'responseHeaderRemove'] as const;
export const TRANSFORM_KEYS: readonly string[] = [...PATH_KEYS, ...HEADER_VALUE_KEYS, ...HEADER_REMOVE_KEYS];

/** Lower-case names of the headers that no transform may set, append or remove. */
export const PROTECTED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'host',
]);

const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);
// A path rewrite ends up in the upstream request line: only visible ASCII, never a query,
// a fragment or a backslash (requests with those are refused too: routing/path.ts).
const NOT_A_PATH_CHAR = /[^!-~]|[?#\\]/;
// A header value with CR or LF would let configuration inject headers; NUL is never valid.
const BAD_VALUE_CHARS = /[\r\n\0]/;

export function checkTransform(item: unknown, at: readonly PathSegment[]): PathedError[] {
  const errors: PathedError[] = [];
  const report = (field: PathSegment | undefined, message: string): void => {
    errors.push({ segments: field === undefined ? at : [...at, field], message });
  };
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    report(undefined, `must be an object (got ${describeValue(item)})`);
    return errors;
  }
  const fields = item as Record<string, unknown>;
  const kinds = TRANSFORM_KEYS.filter((key) => Object.hasOwn(fields, key));
  if (kinds.length === 0) {
    report(undefined, `must have one of: ${TRANSFORM_KEYS.join(', ')}`);
  } else if (kinds.length > 1) {
    report(undefined, `has several transform kinds (${kinds.join(', ')}); write one transform per list item`);
  }
  const kind = kinds.length === 1 ? kinds[0] : undefined;
  const isHeaderValueKind = kind !== undefined && (HEADER_VALUE_KEYS as readonly string[]).includes(kind);

  for (const key of Object.keys(fields)) {
    if (TRANSFORM_KEYS.includes(key)) continue;
    if ((key === 'set' || key === 'append') && (isHeaderValueKind || kind === undefined)) continue;
    report(key, kind === undefined ? 'unknown field' : `unknown field for a ${kind} transform`);
  }

  for (const key of kinds) {
    const value = fields[key];
    if (typeof value !== 'string') {
      report(key, `must be a string (got ${describeValue(value)})`);
      continue;
    }
    if ((PATH_KEYS as readonly string[]).includes(key)) {
      if (!value.startsWith('/')) report(key, `must start with "/" (got ${JSON.stringify(value)})`);
      else if (NOT_A_PATH_CHAR.test(value)) report(key, 'must hold only visible ASCII other than "?", "#" and "\\" (no spaces or controls; percent-encode the rest)');
    } else {
      const problem = checkTransformHeaderName(value);
      if (problem !== undefined) report(key, problem);
    }
  }

  if (isHeaderValueKind) {
    const hasSet = Object.hasOwn(fields, 'set');
    const hasAppend = Object.hasOwn(fields, 'append');
    if (hasSet && hasAppend) report(undefined, '"set" and "append" are mutually exclusive; use one');
    if (!hasSet && !hasAppend) report(undefined, `a ${kind} transform needs "set" or "append"`);
    for (const key of ['set', 'append'] as const) {
      if (!Object.hasOwn(fields, key)) continue;
      const value = fields[key];
      if (typeof value !== 'string') report(key, `must be a string (got ${describeValue(value)})`);
      else if (BAD_VALUE_CHARS.test(value)) report(key, 'must not contain CR, LF or NUL characters');
    }
  }
  return errors;
}

function checkTransformHeaderName(name: string): string | undefined {
  if (!HEADER_NAME.test(name)) return `${JSON.stringify(name)} is not a valid HTTP header name`;
  const lower = name.toLowerCase();
  if (lower === 'host') return 'the Host header cannot be changed by a transform; use the route\'s upstreamHost';
  if (PROTECTED_HEADERS.has(lower)) {
    return `"${lower}" is a hop-by-hop or framing header, managed by the gateway; transforms cannot change it`;
  }
  return undefined;
}
