/**
 * The route table of a worker: the first phase of the hot path (request → Route).
 *
 * Precedence: the route that matches is the first one in this order (docs/routing.md):
 *   1. Host specificity: a route listing the request's exact host, then a route listing a
 *      wildcard `*.suffix` that covers it (longer suffix first), then a route without hosts.
 *   2. Path specificity, segment by segment from the left: literal > `{param}` > (template
 *      ends here) > `{**catchAll}`. A template that pins more segments before its catch-all
 *      therefore wins (`/api/users/{**r}` over `/api/{**r}`), and `/api` wins over
 *      `/api/{**r}` for the path `/api` (a catch-all matching nothing is the least specific).
 *   3. A route with a method constraint before one without; then more header constraints
 *      before fewer.
 *   4. `order`, lower first (default 0).
 *   5. Route id, by UTF-16 code units: the result never depends on insertion order.
 * A candidate whose methods or headers do not match is skipped and matching continues with
 * the next one in this order (also across path branches and host buckets).
 *
 * Matching rules:
 * - Host: normalised by `normalizeHost` (port removed, lower-cased, `[::1]` kept bracketed).
 *   `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
 * - Path: must start with `/`, else nothing matches. It is matched as received: `%2F` does
 *   not split a segment, and dot-segments are NOT resolved here; the caller runs
 *   `normalizePath` first. Literal segments compare ASCII-case-insensitively (as in
 *   YARP / ASP.NET routing). One trailing slash is ignored: `/api/users/` matches the
 *   template `/api/users`. Empty segments (`/a//b`) are matched literally: no literal or
 *   `{param}` matches an empty segment, a catch-all does.
 * - Methods: set membership. HEAD does not match a GET-only route unless HEAD is listed.
 *   The request method is upper-case as sent, or all lower-case (uWS `getMethod()`); an
 *   unknown method matches only routes without a method constraint.
 * - Headers: every listed header is present (`header(name)` not undefined) and, when
 *   `values` is given, equal to one of them, ASCII-case-insensitively and as a whole value.
 * - Empty `hosts`, `methods` or `headers` arrays mean "no constraint", like absent ones.
 *
 * Structure: one segment trie per host bucket (exact host map, wildcard suffix map, and the
 * any-host trie). A trie node has its literal children in a Map keyed by a hash of the
 * lower-cased literal (so the request's segment is hashed while it is scanned, without a
 * substring), at most one parameter child, and two lists kept sorted by rules 3-5: routes
 * whose template ends at the node, and routes whose catch-all starts at it. Matching is a
 * depth-first walk trying literal, then parameter, then the node's own lists, which visits
 * candidates exactly in the order of rule 2. Upsert and remove touch only the nodes on the
 * route's own paths (one per listed host), so their cost does not depend on the number of
 * other routes, except for the sorted insert into a node's list of routes with the same
 * template.
 *
 * Concurrency: a table belongs to one worker thread and is not shared; it is mutated
 * between requests, never during a `match` call.
 */

import type { HeaderMatchConfig, HttpMethod, RouteConfig } from '../config/types.js';
import { asciiLower, equalsIgnoreAsciiCase, normalizeHost } from './path.js';
import { parseRouteTemplate, SEGMENT_CATCH_ALL, SEGMENT_LITERAL, SEGMENT_PARAM, type RouteTemplate } from './template.js';

export { normalizeHost, normalizePath } from './path.js';
export { RouteTemplateError } from './template.js';

/** Reads a request header by its lower-case name; undefined when absent. */
export type HeaderReader = (lowerCaseName: string) => string | undefined;

const SLASH = 0x2f;
/** FNV-1a 32-bit, masked to 30 bits so that keys are small integers (Smis) for the Map. */
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const HASH_MASK = 0x3fffffff;

/** Bit of each known method in a route's `methodMask`; 0 (unknown method) matches no mask. */
function methodBit(method: string): number {
  switch (method) {
    case 'GET': case 'get': return 1;
    case 'HEAD': case 'head': return 2;
    case 'POST': case 'post': return 4;
    case 'PUT': case 'put': return 8;
    case 'DELETE': case 'delete': return 16;
    case 'PATCH': case 'patch': return 32;
    case 'OPTIONS': case 'options': return 64;
    case 'TRACE': case 'trace': return 128;
    case 'CONNECT': case 'connect': return 256;
    default: return 0;
  }
}

interface CompiledHeader {
  readonly name: string;
  /** ASCII-lower-cased; null = presence is enough. */
  readonly values: readonly string[] | null;
}

/**
 * The empty list every route without headers or hosts shares (a worker holds 100,000 routes;
 * most have neither). Never mutated: the fields that hold it are readonly.
 */
const NONE: readonly never[] = [];

/**
 * A route as the trie stores it; one object shared by all the host buckets it is in. The node
 * it is attached to in each bucket is found again from its template when it is removed, rather
 * than kept in a list per route.
 */
class CompiledRoute<T> {
  constructor(
    readonly id: string,
    readonly payload: T,
    readonly template: RouteTemplate,
    readonly order: number,
    /** 0 = any method. */
    readonly methodMask: number,
    readonly headers: readonly CompiledHeader[],
    readonly exactHosts: readonly string[],
    /** Suffixes without the `*.`: `*.example.com` → `example.com`. */
    readonly wildcardSuffixes: readonly string[],
  ) {}
}

class TrieNode<T> {
  /** Literal children by `hashLiteral`; colliding children are chained by `nextSameHash`. */
  literals: Map<number, TrieNode<T>> | null = null;
  param: TrieNode<T> | null = null;
  /** Routes whose template ends here, sorted by `compareTieBreak`. */
  terminals: CompiledRoute<T>[] | null = null;
  /** Routes whose catch-all is the next segment, sorted by `compareTieBreak`. */
  catchAlls: CompiledRoute<T>[] | null = null;
  nextSameHash: TrieNode<T> | null = null;

  constructor(
    readonly parent: TrieNode<T> | null,
    /** Lower-cased literal; '' for a parameter node and a root. */
    readonly literal: string,
    readonly hash: number,
    /** For a root in a host map: the map and key to delete it by once it is empty. */
    readonly ownerMap: Map<string, TrieNode<T>> | null,
    readonly ownerKey: string,
  ) {}

  isEmpty(): boolean {
    return this.terminals === null && this.catchAlls === null && this.literals === null && this.param === null;
  }
}

function hashLiteral(s: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) hash = Math.imul(hash ^ s.charCodeAt(i), FNV_PRIME);
  return hash & HASH_MASK;
}

/** Rules 3-5 of the precedence. Ids are unique in a table, so this is a total order. */
function compareTieBreak<T>(a: CompiledRoute<T>, b: CompiledRoute<T>): number {
  const aAny = a.methodMask === 0 ? 1 : 0;
  const bAny = b.methodMask === 0 ? 1 : 0;
  if (aAny !== bAny) return aAny - bAny;
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Index of the first element not before `route` (binary search; lists are per node). */
function lowerBound<T>(list: readonly CompiledRoute<T>[], route: CompiledRoute<T>): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareTieBreak(list[mid], route) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function headersAllow(headers: readonly CompiledHeader[], header: HeaderReader): boolean {
  for (let i = 0; i < headers.length; i++) {
    const constraint = headers[i];
    const value = header(constraint.name);
    if (value === undefined) return false;
    const allowed = constraint.values;
    if (allowed === null) continue;
    let found = false;
    for (let k = 0; k < allowed.length && !found; k++) found = equalsIgnoreAsciiCase(value, allowed[k]);
    if (!found) return false;
  }
  return true;
}

function firstAllowed<T>(list: CompiledRoute<T>[] | null, bit: number, header: HeaderReader): CompiledRoute<T> | null {
  if (list === null) return null;
  for (let i = 0; i < list.length; i++) {
    const route = list[i];
    if (route.methodMask !== 0 && (route.methodMask & bit) === 0) continue;
    if (route.headers.length !== 0 && !headersAllow(route.headers, header)) continue;
    return route;
  }
  return null;
}

/**
 * Depth-first match of `path` from the segment starting at `pos` (-1: no segment left).
 * `end` excludes an ignored trailing slash. Scanning one segment:
 *
 *     /api/users/42
 *      ^   ^
 *      pos j        → segment [pos, j); the next one starts at j + 1, or -1 when j === end
 */
function walk<T>(node: TrieNode<T>, path: string, pos: number, end: number, bit: number, header: HeaderReader): CompiledRoute<T> | null {
  if (pos < 0) return firstAllowed(node.terminals, bit, header) ?? firstAllowed(node.catchAlls, bit, header);

  let hash = FNV_OFFSET;
  let j = pos;
  for (; j < end; j++) {
    let c = path.charCodeAt(j);
    if (c === SLASH) break;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    hash = Math.imul(hash ^ c, FNV_PRIME);
  }
  const next = j < end ? j + 1 : -1;

  if (node.literals !== null) {
    let child = node.literals.get(hash & HASH_MASK) ?? null;
    while (child !== null) {
      if (segmentEquals(child.literal, path, pos, j)) {
        const found = walk(child, path, next, end, bit, header);
        if (found !== null) return found;
        break;
      }
      child = child.nextSameHash;
    }
  }
  if (node.param !== null && j > pos) {
    const found = walk(node.param, path, next, end, bit, header);
    if (found !== null) return found;
  }
  return firstAllowed(node.catchAlls, bit, header);
}

function segmentEquals(lowerLiteral: string, path: string, start: number, end: number): boolean {
  if (lowerLiteral.length !== end - start) return false;
  for (let i = start; i < end; i++) {
    let c = path.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lowerLiteral.charCodeAt(i - start)) return false;
  }
  return true;
}

/** End of the routable part of `path`: one trailing slash is ignored. */
function routableEnd(path: string): number {
  const end = path.length;
  return end > 1 && path.charCodeAt(end - 1) === SLASH ? end - 1 : end;
}

/** Start of the first segment, or -1 for the root path. */
function firstSegment(end: number): number {
  return end <= 1 ? -1 : 1;
}

/**
 * The result of a match. Parameters are extracted only when asked for, from the matched
 * template and the path (values are raw: percent-escapes are kept as received).
 */
export class RouteMatch<T> {
  readonly payload: T;
  readonly routeId: string;
  /** The path that was matched. */
  readonly path: string;
  readonly #template: RouteTemplate;
  #params: Readonly<Record<string, string>> | null = null;

  constructor(payload: T, routeId: string, path: string, template: RouteTemplate) {
    this.payload = payload;
    this.routeId = routeId;
    this.path = path;
    this.#template = template;
  }

  /** Named parameters and the catch-all (`{**rest}` → `rest`), computed on first use. */
  get params(): Readonly<Record<string, string>> {
    if (this.#params === null) this.#params = extractParams(this.#template, this.path);
    return this.#params;
  }

  param(name: string): string | undefined {
    const params = this.params;
    return Object.hasOwn(params, name) ? params[name] : undefined;
  }

  /**
   * The remainder matched by the template's `{**name}`, or undefined when it has none:
   * `/api/{**rest}` on `/api/a/b/` → `a/b/` (a trailing slash is kept), on `/api` → ``.
   */
  get catchAll(): string | undefined {
    const segments = this.#template.segments;
    if (!this.#template.hasCatchAll) return undefined;
    return this.params[segments[segments.length - 1].value];
  }
}

/**
 * A plain object, not `Object.create(null)` nor frozen: both put V8 objects in dictionary
 * mode (measured 10x slower); `__proto__` is rejected as a parameter name at compile time.
 */
function extractParams(template: RouteTemplate, path: string): Readonly<Record<string, string>> {
  const params: Record<string, string> = {};
  const end = routableEnd(path);
  let pos = firstSegment(end);
  // The catch-all takes the raw rest after the slash that ends the last segment before it,
  // trailing slash included; past the end of the path that is ''.
  let rest = 1;
  for (const segment of template.segments) {
    if (segment.kind === SEGMENT_CATCH_ALL) {
      params[segment.value] = path.slice(rest);
      break;
    }
    let j = pos;
    while (j < end && path.charCodeAt(j) !== SLASH) j++;
    if (segment.kind === SEGMENT_PARAM) params[segment.value] = path.slice(pos, j);
    pos = j < end ? j + 1 : -1;
    rest = j + 1;
  }
  return params;
}

function compileMethods(routeId: string, methods: readonly HttpMethod[] | undefined): number {
  let mask = 0;
  for (const method of methods ?? []) {
    const bit = methodBit(method);
    if (bit === 0 || method !== method.toUpperCase()) throw new Error(`route ${routeId}: unknown method ${method}`);
    mask |= bit;
  }
  return mask;
}

function compileHeaders(headers: readonly HeaderMatchConfig[] | undefined): readonly CompiledHeader[] {
  if (headers === undefined || headers.length === 0) return NONE;
  return headers.map((h) => ({
    name: h.name.toLowerCase(),
    values: h.values === undefined || h.values.length === 0 ? null : h.values.map(asciiLower),
  }));
}

function compileRoute<T>(route: RouteConfig, payload: T): CompiledRoute<T> {
  const template = parseRouteTemplate(route.match.path);
  const exact = new Set<string>();
  const wildcard = new Set<string>();
  for (const host of route.match.hosts ?? []) {
    if (host.startsWith('*.')) {
      const suffix = normalizeHost(host.slice(2));
      if (suffix === '' || suffix.includes('*')) throw new Error(`route ${route.id}: invalid host ${host}`);
      wildcard.add(suffix);
    } else {
      const name = normalizeHost(host);
      if (name === '' || name.includes('*')) throw new Error(`route ${route.id}: invalid host ${host}`);
      exact.add(name);
    }
  }
  return new CompiledRoute(
    route.id,
    payload,
    template,
    route.order ?? 0,
    compileMethods(route.id, route.match.methods),
    compileHeaders(route.match.headers),
    exact.size === 0 ? NONE : [...exact],
    wildcard.size === 0 ? NONE : [...wildcard],
  );
}

/**
 * Routes of one worker, matched per request. See the top of this file for the precedence.
 * `T` is the worker's compiled route (cluster reference, transforms...), opaque here.
 */
export class RouteTable<T> {
  readonly #routes = new Map<string, CompiledRoute<T>>();
  readonly #exactHosts = new Map<string, TrieNode<T>>();
  readonly #wildcardHosts = new Map<string, TrieNode<T>>();
  readonly #anyHost = new TrieNode<T>(null, '', 0, null, '');

  get size(): number {
    return this.#routes.size;
  }

  get(id: string): T | undefined {
    return this.#routes.get(id)?.payload;
  }

  /**
   * Adds the route, or replaces the route with the same id. The route is compiled before
   * the table changes, so an invalid route (which throws) leaves the previous one in place.
   */
  upsert(route: RouteConfig, payload: T): void {
    const compiled = compileRoute(route, payload);
    const previous = this.#routes.get(route.id);
    if (previous !== undefined) this.#detach(previous);
    if (compiled.exactHosts.length === 0 && compiled.wildcardSuffixes.length === 0) {
      this.#attach(compiled, this.#anyHost);
    }
    for (const host of compiled.exactHosts) this.#attach(compiled, rootOf(this.#exactHosts, host));
    for (const suffix of compiled.wildcardSuffixes) this.#attach(compiled, rootOf(this.#wildcardHosts, suffix));
    this.#routes.set(route.id, compiled);
  }

  remove(id: string): boolean {
    const route = this.#routes.get(id);
    if (route === undefined) return false;
    this.#detach(route);
    this.#routes.delete(id);
    return true;
  }

  /**
   * The best route for a request, or null. `host` may carry a port and any case; `path` is
   * the path without the query string, normalised by the caller (`normalizePath`).
   * Allocates only the returned RouteMatch (and a host string when it needs normalising).
   */
  match(method: string, host: string, path: string, header: HeaderReader): RouteMatch<T> | null {
    if (path.charCodeAt(0) !== SLASH) return null;
    const end = routableEnd(path);
    const start = firstSegment(end);
    const bit = methodBit(method);
    let found: CompiledRoute<T> | null = null;

    if (this.#exactHosts.size !== 0 || this.#wildcardHosts.size !== 0) {
      const name = normalizeHost(host);
      const exactRoot = this.#exactHosts.get(name);
      if (exactRoot !== undefined) found = walk(exactRoot, path, start, end, bit, header);
      if (found === null && this.#wildcardHosts.size !== 0) {
        // Suffixes after each dot, left to right: longest first. A leading dot has no label.
        for (let dot = name.indexOf('.', 1); dot > 0 && found === null; dot = name.indexOf('.', dot + 1)) {
          const root = this.#wildcardHosts.get(name.slice(dot + 1));
          if (root !== undefined) found = walk(root, path, start, end, bit, header);
        }
      }
    }
    if (found === null) found = walk(this.#anyHost, path, start, end, bit, header);
    return found === null ? null : new RouteMatch(found.payload, found.id, path, found.template);
  }

  #attach(route: CompiledRoute<T>, root: TrieNode<T>): void {
    let node = root;
    for (const segment of route.template.segments) {
      if (segment.kind === SEGMENT_LITERAL) node = literalChild(node, segment.value);
      else if (segment.kind === SEGMENT_PARAM) node = node.param ??= new TrieNode<T>(node, '', 0, null, '');
    }
    if (route.template.hasCatchAll) node.catchAlls = insertSorted(node.catchAlls, route);
    else node.terminals = insertSorted(node.terminals, route);
  }

  /** Undoes every #attach of `route` (one per host bucket, as upsert made them). */
  #detach(route: CompiledRoute<T>): void {
    if (route.exactHosts.length === 0 && route.wildcardSuffixes.length === 0) detachFrom(route, this.#anyHost);
    for (const host of route.exactHosts) detachFrom(route, this.#exactHosts.get(host));
    for (const suffix of route.wildcardSuffixes) detachFrom(route, this.#wildcardHosts.get(suffix));
  }
}

/**
 * Removes `route` from the node its template leads to from `root` (the node #attach put it
 * on: the same walk, without creating nodes), then prunes what became empty.
 */
function detachFrom<T>(route: CompiledRoute<T>, root: TrieNode<T> | undefined): void {
  let node: TrieNode<T> | null = root ?? null;
  for (const segment of route.template.segments) {
    if (node === null) break;
    if (segment.kind === SEGMENT_LITERAL) node = existingLiteralChild(node, segment.value);
    else if (segment.kind === SEGMENT_PARAM) node = node.param;
  }
  // Unreachable for an attached route: its nodes stay until it is detached.
  if (node === null) throw new Error(`route ${route.id} is not in the table it is removed from`);
  if (route.template.hasCatchAll) node.catchAlls = removeSorted(node.catchAlls, route);
  else node.terminals = removeSorted(node.terminals, route);
  prune(node);
}

function rootOf<T>(map: Map<string, TrieNode<T>>, key: string): TrieNode<T> {
  let root = map.get(key);
  if (root === undefined) {
    root = new TrieNode<T>(null, '', 0, map, key);
    map.set(key, root);
  }
  return root;
}

/** The child of `node` for a lower-cased literal, or null. */
function existingLiteralChild<T>(node: TrieNode<T>, literal: string): TrieNode<T> | null {
  for (let child = node.literals?.get(hashLiteral(literal)) ?? null; child !== null; child = child.nextSameHash) {
    if (child.literal === literal) return child;
  }
  return null;
}

function literalChild<T>(node: TrieNode<T>, literal: string): TrieNode<T> {
  const found = existingLiteralChild(node, literal);
  if (found !== null) return found;
  const hash = hashLiteral(literal);
  node.literals ??= new Map();
  const head = node.literals.get(hash);
  const created = new TrieNode<T>(node, literal, hash, null, '');
  created.nextSameHash = head ?? null;
  node.literals.set(hash, created);
  return created;
}

function insertSorted<T>(list: CompiledRoute<T>[] | null, route: CompiledRoute<T>): CompiledRoute<T>[] {
  if (list === null) return [route];
  list.splice(lowerBound(list, route), 0, route);
  return list;
}

/** Removes `route`; returns null for an emptied list so that `isEmpty` stays a null check. */
function removeSorted<T>(list: CompiledRoute<T>[] | null, route: CompiledRoute<T>): CompiledRoute<T>[] | null {
  if (list === null) return null;
  const i = lowerBound(list, route);
  if (list[i] === route) list.splice(i, 1);
  return list.length === 0 ? null : list;
}

/** Unlinks empty nodes from `node` upwards, so removed routes leave no memory behind. */
function prune<T>(node: TrieNode<T>): void {
  let current: TrieNode<T> = node;
  while (current.isEmpty()) {
    const parent = current.parent;
    if (parent === null) {
      current.ownerMap?.delete(current.ownerKey);
      return;
    }
    if (parent.param === current) {
      parent.param = null;
    } else if (parent.literals !== null) {
      unlinkLiteral(parent.literals, current);
      if (parent.literals.size === 0) parent.literals = null;
    }
    current = parent;
  }
}

function unlinkLiteral<T>(literals: Map<number, TrieNode<T>>, node: TrieNode<T>): void {
  const head = literals.get(node.hash);
  if (head === node) {
    if (node.nextSameHash === null) literals.delete(node.hash);
    else literals.set(node.hash, node.nextSameHash);
    return;
  }
  for (let prev = head ?? null; prev !== null; prev = prev.nextSameHash) {
    if (prev.nextSameHash === node) {
      prev.nextSameHash = node.nextSameHash;
      return;
    }
  }
}
