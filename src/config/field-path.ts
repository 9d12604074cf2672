/**
 * Field paths of configuration errors: `routes[3].match.path`, `$` for the document itself.
 *
 * Rules collect errors as (segments, message) pairs; segments are kept structured until the
 * end so that errors can be sorted by position (array indices compare as numbers) and so
 * that odd keys are quoted rather than producing an ambiguous path.
 */
import type { ConfigError } from './types.js';

export type PathSegment = string | number;

export interface PathedError {
  readonly segments: readonly PathSegment[];
  readonly message: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function formatFieldPath(segments: readonly PathSegment[]): string {
  if (segments.length === 0) return '$';
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * Turns ajv's JSON Pointer (`/routes/3/match/path`) into segments. A pointer cannot tell an
 * array index from a numeric key, so the data itself is walked alongside.
 */
export function segmentsFromPointer(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const segments: PathSegment[] = [];
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(key)) {
      segments.push(Number(key));
      node = node[Number(key)];
    } else {
      segments.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return segments;
}

function compareSegments(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    // A number and a string never meet at the same depth of the same document.
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

/** Sorted by position (stable, so messages at one path keep their order), duplicates removed. */
export function toConfigErrors(errors: readonly PathedError[]): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const error of [...errors].sort((a, b) => compareSegments(a.segments, b.segments))) {
    const path = formatFieldPath(error.segments);
    const key = `${path}\u0000${error.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message: error.message });
  }
  return out;
}

/** A short rendering of a value for messages; long strings are cut so one line stays one line. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'undefined') return 'nothing';
  return String(value);
}
