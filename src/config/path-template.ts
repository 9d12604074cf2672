/**
 * Syntax of route path templates: `/literal/{param}/{**catchAll}`.
 *
 * - starts with `/`; segments are separated by `/`;
 * - a segment is a literal, `{name}` (exactly one segment) or `{**name}` (the rest of the
 *   path, zero or more segments; only as the last segment);
 * - parameters are whole segments (`/files/{name}.json` is not supported) and their names
 *   are identifiers, unique within the template;
 * - no empty segment, except that the template may end with `/` (the router ignores one
 *   trailing slash: `/api/` and `/api` match the same requests);
 * - no `.` or `..` segment (requests are matched after dot segments are resolved);
 * - literals contain only characters allowed in a URL path (RFC 3986 `pchar`), so a query
 *   (`?`) or fragment (`#`) cannot sneak in.
 *
 * This module only checks; matching and precedence belong to src/routing (docs/routing.md).
 */

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;

/** Every problem with `template`, as messages for the template's field; empty when valid. */
export function checkPathTemplate(template: string): string[] {
  if (!template.startsWith('/')) return [`must start with "/" (got ${JSON.stringify(template)})`];
  if (template === '/') return [];

  const problems: string[] = [];
  const segments = template.slice(1).split('/');
  const last = segments.length - 1;
  const names = new Set<string>();

  segments.forEach((segment, index) => {
    const position = `segment ${index + 1}`;
    if (segment === '') {
      if (index !== last) problems.push(`${position} is empty ("//" is not allowed; only a trailing "/" is)`);
      return;
    }
    if (segment === '.' || segment === '..') {
      // Requests are matched after dot segments are resolved, so such a literal never matches.
      problems.push(`${position} is a dot segment ("${segment}"), which no request path can contain`);
      return;
    }
    const param = /^\{(\*\*)?(.*)\}$/.exec(segment);
    if (param === null) {
      if (segment.includes('{') || segment.includes('}')) {
        problems.push(`${position} ${JSON.stringify(segment)}: a parameter must be a whole segment, like "{id}"`);
      } else if (!LITERAL.test(segment)) {
        problems.push(
          `${position} ${JSON.stringify(segment)} has characters not allowed in a URL path (no spaces, "?", "#" or "%" outside %XX escapes)`,
        );
      }
      return;
    }
    const catchAll = param[1] !== undefined;
    const name = param[2];
    if (catchAll && index !== last) {
      problems.push(`{**${name}} must be the last segment`);
    }
    if (name.startsWith('*')) {
      problems.push(`${position} ${JSON.stringify(segment)}: a catch-all is written "{**name}"`);
    } else if (!PARAM_NAME.test(name)) {
      problems.push(
        `${position}: parameter name ${JSON.stringify(name)} is invalid (letters, digits and "_", not starting with a digit)`,
      );
    } else if (names.has(name)) {
      problems.push(`duplicate parameter name "${name}"`);
    } else {
      names.add(name);
    }
  });
  return problems;
}
