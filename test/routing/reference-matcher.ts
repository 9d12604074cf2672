/**
 * A brute-force matcher written from docs/routing.md, independent of the trie: it scores
 * every route against the request and sorts by the documented precedence. Slow on purpose.
 * Templates in tests that use it must not contain percent-escapes (this reference does not
 * decode them).
 */

import type { RouteConfig } from '../../src/config/types.js';

export interface ReferenceRequest {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ReferenceResult {
  readonly routeId: string;
  readonly params: Record<string, string>;
}

const lower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

function referenceHost(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)/.exec(host)!;
  let h = m[1];
  if (!h.startsWith('[') && h.length > 1 && h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

function splitPath(path: string): string[] {
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return p === '/' ? [] : p.slice(1).split('/');
}

/** Rank of a template position: literal 0, param 1, end of template 2, catch-all 3. */
interface Scored {
  readonly route: RouteConfig;
  readonly host: readonly number[];
  readonly path: readonly number[];
  readonly params: Record<string, string>;
}

function hostScore(route: RouteConfig, host: string): number[] | null {
  const hosts = route.match.hosts ?? [];
  if (hosts.length === 0) return [2, 0];
  let best: number[] | null = null;
  for (const pattern of hosts) {
    let score: number[] | null = null;
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(2).toLowerCase();
      if (host.endsWith('.' + suffix) && host.length > suffix.length + 1 && !host.startsWith('.')) score = [1, -suffix.length];
    } else if (pattern.toLowerCase() === host) {
      score = [0, 0];
    }
    if (score !== null && (best === null || compareKeys(score, best) < 0)) best = score;
  }
  return best;
}

function pathScore(tpl: readonly string[], segs: readonly string[], path: string): { key: number[]; params: Record<string, string> } | null {
  const key: number[] = [];
  const params: Record<string, string> = {};
  for (let i = 0; i < tpl.length; i++) {
    const t = tpl[i];
    if (t.startsWith('{**')) {
      key.push(3);
      params[t.slice(3, -1)] = path.slice(1).split('/').slice(i).join('/');
      return { key, params };
    }
    if (i >= segs.length) return null;
    if (t.startsWith('{')) {
      if (segs[i] === '') return null;
      params[t.slice(1, -1)] = segs[i];
      key.push(1);
    } else {
      if (lower(t) !== lower(segs[i])) return null;
      key.push(0);
    }
  }
  if (segs.length !== tpl.length) return null;
  key.push(2);
  return { key, params };
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function constraintsAllow(route: RouteConfig, req: ReferenceRequest): boolean {
  const methods = route.match.methods ?? [];
  if (methods.length > 0 && !methods.some((m) => m === req.method || m.toLowerCase() === req.method)) return false;
  for (const h of route.match.headers ?? []) {
    const value = req.headers[h.name.toLowerCase()];
    if (value === undefined) return false;
    if (h.values !== undefined && h.values.length > 0 && !h.values.some((v) => lower(v) === lower(value))) return false;
  }
  return true;
}

function compareScored(a: Scored, b: Scored): number {
  return (
    compareKeys(a.host, b.host) ||
    compareKeys(a.path, b.path) ||
    (a.route.match.methods?.length ? 0 : 1) - (b.route.match.methods?.length ? 0 : 1) ||
    (b.route.match.headers?.length ?? 0) - (a.route.match.headers?.length ?? 0) ||
    (a.route.order ?? 0) - (b.route.order ?? 0) ||
    (a.route.id < b.route.id ? -1 : a.route.id > b.route.id ? 1 : 0)
  );
}

/** Split templates by route object: splitting is not what this reference is about. */
const templates = new WeakMap<RouteConfig, string[]>();
function templateOf(route: RouteConfig): string[] {
  let tpl = templates.get(route);
  if (tpl === undefined) templates.set(route, (tpl = splitPath(route.match.path)));
  return tpl;
}

export function referenceMatch(routes: Iterable<RouteConfig>, req: ReferenceRequest): ReferenceResult | null {
  if (!req.path.startsWith('/')) return null;
  const host = referenceHost(req.host);
  const segs = splitPath(req.path);
  let best: Scored | null = null;
  for (const route of routes) {
    if (!constraintsAllow(route, req)) continue;
    const h = hostScore(route, host);
    if (h === null) continue;
    const p = pathScore(templateOf(route), segs, req.path);
    if (p === null) continue;
    const scored: Scored = { route, host: h, path: p.key, params: p.params };
    if (best === null || compareScored(scored, best) < 0) best = scored;
  }
  return best === null ? null : { routeId: best.route.id, params: best.params };
}
