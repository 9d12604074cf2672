/**
 * Route compilation: everything about a route that does not depend on the request is worked
 * out here, once per configuration change, never per request (path rewrites, header tables).
 */
import type { RateLimitConfig, RouteConfig, TransformConfig } from '../config/types.js';
import { kTicksPerSecond } from '../shm/rate-limit-layout.js';
import { KeyHasher, type RouteKeySeeds } from '../shm/rate-limit-table.js';
import { HeaderNameSet } from './headers.js';

export interface HeaderEdit {
  /** Lower-case name. */
  readonly name: string;
  /** `set` replaces every copy, `append` adds one, `remove` drops every copy. */
  readonly op: 'set' | 'append' | 'remove';
  readonly value: string;
}

export interface CompiledRoute {
  readonly id: string;
  /** The route's slot in the shared route table (also its index in the metrics blocks). */
  readonly slot: number;
  readonly clusterId: string;
  readonly timeoutMs: number;
  readonly maxRequestBodyBytes: number;
  readonly upstreamHostFromDestination: boolean;
  /** Rewrites the (normalised) request path; null when the route has no path transform. */
  readonly rewritePath: ((path: string) => string) | null;
  /** Request header names (lower-case) that transforms set or remove: client copies are dropped. */
  readonly requestDrop: ReadonlySet<string> | null;
  /** Request headers added after the client's (set and append). */
  readonly requestAdd: readonly HeaderEdit[];
  /** Response header names (lower-case) that transforms set or remove. */
  readonly responseDrop: ReadonlySet<string> | null;
  readonly responseAdd: readonly HeaderEdit[];
  readonly authPolicy: string | null;
  /** The route's token bucket settings; null when the route has no rate limit (one null check per request). */
  readonly rateLimit: CompiledRateLimit | null;
}

/** A route's rate limit in the units of the shared bucket table (src/shm/rate-limit-table.ts). */
export interface CompiledRateLimit extends RouteKeySeeds {
  /** Lower-case header whose value keys the bucket; null = the client address. */
  readonly header: string | null;
  /** Ticks per token: rounded up, so the gateway never admits faster than configured. */
  readonly periodTicks: number;
  /** burst x periodTicks: how far ahead of now a bucket's TAT may run. */
  readonly windowTicks: number;
  /** The burst, as sent in RateLimit-Limit. */
  readonly limitText: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;

/** The header additions of every route without any (most routes): one shared, never mutated. */
const NO_EDITS: readonly HeaderEdit[] = [];

/**
 * `rateLimitSeed` is the instance's rate-limit hash seed (the bucket table's header), mixed
 * with the route id into the route's key seeds here, once.
 */
export function compileRoute(route: RouteConfig, slot: number, rateLimitSeed = 0): CompiledRoute {
  const pathSteps: Array<(path: string) => string> = [];
  const requestEdits: HeaderEdit[] = [];
  const responseEdits: HeaderEdit[] = [];
  for (const t of route.transforms ?? []) compileTransform(t, pathSteps, requestEdits, responseEdits);
  // One object literal with every field: all routes share one shape with in-object fields (a
  // spread built them with an extra property array each).
  return {
    id: route.id,
    slot,
    clusterId: route.cluster,
    timeoutMs: route.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRequestBodyBytes: route.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES,
    upstreamHostFromDestination: route.upstreamHost === 'destination',
    rewritePath: pathSteps.length === 0 ? null : pathSteps.length === 1 ? pathSteps[0] : (p) => pathSteps.reduce((acc, f) => f(acc), p),
    requestDrop: dropped(requestEdits),
    requestAdd: added(requestEdits),
    responseDrop: dropped(responseEdits),
    responseAdd: added(responseEdits),
    authPolicy: route.authPolicy ?? null,
    rateLimit: route.rateLimit ? compileRateLimit(route.id, route.rateLimit, rateLimitSeed) : null,
  };
}

/** Default burst: one second's worth of tokens, at least one. */
function defaultBurst(requestsPerSecond: number): number {
  return Math.max(1, Math.ceil(requestsPerSecond));
}

function compileRateLimit(routeId: string, limit: RateLimitConfig, seed: number): CompiledRateLimit {
  const burst = limit.burst ?? defaultBurst(limit.requestsPerSecond);
  const periodTicks = Math.ceil(kTicksPerSecond / limit.requestsPerSecond);
  const key = limit.key;
  return {
    ...KeyHasher.routeSeeds(seed, routeId),
    header: key !== undefined && typeof key === 'object' ? key.header.toLowerCase() : null,
    periodTicks,
    windowTicks: burst * periodTicks,
    limitText: String(burst),
  };
}

/** Names whose client (or upstream) copies are dropped: every set and remove; null when none. */
function dropped(edits: readonly HeaderEdit[]): ReadonlySet<string> | null {
  const drop = new HeaderNameSet(edits.filter((e) => e.op !== 'append').map((e) => e.name));
  return drop.size ? drop : null;
}

/** Headers added, in order; a later set/remove of a name cancels earlier edits of that name. */
function added(edits: readonly HeaderEdit[]): readonly HeaderEdit[] {
  if (edits.length === 0) return NO_EDITS;
  const add: HeaderEdit[] = [];
  for (const e of edits) {
    if (e.op === 'remove' || e.op === 'set') for (let i = add.length - 1; i >= 0; i--) if (add[i].name === e.name) add.splice(i, 1);
    if (e.op !== 'remove') add.push(e);
  }
  return add;
}

function compileTransform(t: TransformConfig, path: Array<(p: string) => string>, req: HeaderEdit[], res: HeaderEdit[]): void {
  if ('pathRemovePrefix' in t) {
    const prefix = trimTrailingSlash(t.pathRemovePrefix);
    const lower = prefix.toLowerCase();
    path.push((p) => {
      // Only a whole-segment prefix is removed: /api removes from /api/x and /api, not /apix.
      if (p.length >= prefix.length && p.slice(0, prefix.length).toLowerCase() === lower && (p.length === prefix.length || p[prefix.length] === '/')) {
        const rest = p.slice(prefix.length);
        return rest === '' ? '/' : rest;
      }
      return p;
    });
  } else if ('pathPrefix' in t) {
    const prefix = trimTrailingSlash(t.pathPrefix);
    path.push((p) => (p === '/' ? prefix || '/' : prefix + p));
  } else if ('pathSet' in t) {
    const value = t.pathSet;
    path.push(() => value);
  } else if ('requestHeaderRemove' in t) {
    req.push({ name: t.requestHeaderRemove.toLowerCase(), op: 'remove', value: '' });
  } else if ('responseHeaderRemove' in t) {
    res.push({ name: t.responseHeaderRemove.toLowerCase(), op: 'remove', value: '' });
  } else if ('requestHeader' in t) {
    req.push('set' in t ? { name: t.requestHeader.toLowerCase(), op: 'set', value: t.set } : { name: t.requestHeader.toLowerCase(), op: 'append', value: t.append });
  } else if ('responseHeader' in t) {
    res.push('set' in t ? { name: t.responseHeader.toLowerCase(), op: 'set', value: t.set } : { name: t.responseHeader.toLowerCase(), op: 'append', value: t.append });
  }
}

function trimTrailingSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p === '/' ? '' : p;
}
