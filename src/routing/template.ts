/**
 * Route path templates: `/literal/{param}/{**catchAll}`, compiled once per route change.
 *
 * - A literal segment is matched ASCII-case-insensitively; it is stored lower-cased with its
 *   percent-encoded unreserved characters decoded, the form `normalizePath` gives requests.
 * - `{name}` matches exactly one non-empty segment.
 * - `{**name}` must be the last segment and matches zero or more remaining segments.
 * - One trailing slash is ignored (`/api/users/` is the template `/api/users`); the root
 *   template `/` has no segments.
 * Anything else (empty or `.`/`..` segments, mixed `a{b}` segments, a catch-all that is not
 * last, a repeated name, an invalid escape) is invalid configuration and throws.
 */

import { asciiLower, decodeUnreserved } from './path.js';

export const SEGMENT_LITERAL = 0;
export const SEGMENT_PARAM = 1;
export const SEGMENT_CATCH_ALL = 2;
export type SegmentKind = typeof SEGMENT_LITERAL | typeof SEGMENT_PARAM | typeof SEGMENT_CATCH_ALL;

export interface TemplateSegment {
  readonly kind: SegmentKind;
  /** The lower-cased literal, or the parameter name. */
  readonly value: string;
}

export interface RouteTemplate {
  /** When `hasCatchAll`, the last segment is the catch-all. */
  readonly segments: readonly TemplateSegment[];
  readonly hasCatchAll: boolean;
}

export class RouteTemplateError extends Error {
  constructor(template: string, reason: string) {
    super(`invalid route path template ${JSON.stringify(template)}: ${reason}`);
    this.name = 'RouteTemplateError';
  }
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseRouteTemplate(template: string): RouteTemplate {
  if (!template.startsWith('/')) throw new RouteTemplateError(template, 'must start with "/"');
  const body = template.length > 1 && template.endsWith('/') ? template.slice(1, -1) : template.slice(1);
  const names = new Set<string>();
  const raw = body === '' ? [] : body.split('/');
  // `map` sizes the array exactly; a worker keeps one per route (`push` reserves 17 places).
  const segments = raw.map((text, i): TemplateSegment => {
    if (text.startsWith('{') && text.endsWith('}')) {
      const catchAll = text.startsWith('{**');
      const name = text.slice(catchAll ? 3 : 1, -1);
      if (!PARAM_NAME.test(name) || name === '__proto__') throw new RouteTemplateError(template, `invalid parameter name in ${text}`);
      if (names.has(name)) throw new RouteTemplateError(template, `parameter ${name} appears twice`);
      if (catchAll && i !== raw.length - 1) throw new RouteTemplateError(template, 'a catch-all must be the last segment');
      names.add(name);
      return { kind: catchAll ? SEGMENT_CATCH_ALL : SEGMENT_PARAM, value: name };
    }
    if (text === '') throw new RouteTemplateError(template, 'empty segment');
    if (text === '.' || text === '..') throw new RouteTemplateError(template, 'dot segment');
    if (text.includes('{') || text.includes('}')) {
      throw new RouteTemplateError(template, `a parameter must be a whole segment: ${text}`);
    }
    const decoded = decodeUnreserved(text);
    if (decoded === null) throw new RouteTemplateError(template, `invalid percent escape in ${text}`);
    return { kind: SEGMENT_LITERAL, value: asciiLower(decoded) };
  });
  const hasCatchAll = segments.length > 0 && segments[segments.length - 1].kind === SEGMENT_CATCH_ALL;
  return { segments, hasCatchAll };
}
