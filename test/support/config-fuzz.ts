/**
 * Configuration fuzzing support, shared by the file-source fuzz (test/primary/config-fuzz.test.ts)
 * and the Redis control-plane fuzz (test/control-plane/config-fuzz.test.ts): the local
 * upstreams, the fast-check arbitrary of valid configurations, the near-valid mutations, an
 * admin key for the management API, and the probes that check what a gateway serves.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { startUpstream, type Upstream } from './upstream.js';

export const UPSTREAM_NAMES = ['u0', 'u1', 'u2'] as const;
export const CLUSTER_IDS = ['c1', 'c2', 'c3', 'c4'];
export const ROUTE_IDS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];

export interface RawConfig {
  routes: Array<Record<string, unknown>>;
  clusters: Array<Record<string, unknown>>;
  authPolicies?: Array<Record<string, unknown>>;
}

/** The upstreams `u0`..`u2` and `sentinel`, each answering with its name in `x-upstream`. */
export interface FuzzUpstreams {
  readonly ports: Record<string, number>;
  close(): Promise<void>;
}

export async function startFuzzUpstreams(): Promise<FuzzUpstreams> {
  const ups: Upstream[] = [];
  const ports: Record<string, number> = {};
  for (const name of [...UPSTREAM_NAMES, 'sentinel']) {
    const up = await startUpstream((_req, res) => { res.setHeader('x-upstream', name); res.end(name); });
    ups.push(up);
    ports[name] = up.port;
  }
  return { ports, close: async () => { await Promise.all(ups.map((u) => u.close())); } };
}

/** A fresh admin key (generated now, never in the tree) and a keys file holding its SHA-256. */
export function adminKeyFile(mode: 'rw' | 'ro'): { key: string; file: string } {
  const key = randomBytes(24).toString('base64url');
  const file = join(mkdtempSync(join(tmpdir(), 'fengling-fuzz-keys-')), 'admin-keys');
  writeFileSync(file, `sha256:${createHash('sha256').update(key).digest('hex')} ${mode}\n`);
  return { key, file };
}

/** A cluster over some of the local upstreams (the destination id names the upstream). */
export function clusterArb(id: string, ports: Record<string, number>): fc.Arbitrary<Record<string, unknown>> {
  const destination = fc.record({
    upstream: fc.constantFrom(...UPSTREAM_NAMES),
    weight: fc.integer({ min: 1, max: 1000 }),
  });
  return fc.record({
    id: fc.constant(id),
    loadBalancing: fc.constantFrom('round-robin', 'weighted-round-robin', 'least-requests', 'power-of-two-choices', 'random', 'first'),
    destinations: fc.uniqueArray(destination, { selector: (d) => d.upstream, maxLength: 3 }).map((ds) =>
      ds.map((d) => ({ id: `d-${d.upstream}`, address: `http://127.0.0.1:${ports[d.upstream]}`, weight: d.weight }))),
  });
}

/** A route on its own path prefix (`/f/<id>/...`) to one of `clusters`. */
export function routeArb(id: string, clusters: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    id: fc.constant(id),
    cluster: fc.constantFrom(...clusters),
    match: fc.record({ path: fc.constantFrom(`/f/${id}/{**rest}`, `/f/${id}/{x}`) }),
    timeoutMs: fc.integer({ min: 1000, max: 60_000 }),
    order: fc.integer({ min: -5, max: 5 }),
  });
}

/** The sentinel route and cluster: in every valid configuration, never touched by a change. */
export function sentinelCluster(ports: Record<string, number>): Record<string, unknown> {
  return { id: 'sentinel', destinations: [{ id: 'd-s', address: `http://127.0.0.1:${ports.sentinel}` }] };
}
export const SENTINEL_ROUTE: Readonly<Record<string, unknown>> = { id: 'sentinel', cluster: 'sentinel', match: { path: '/sentinel/{**rest}' } };

/** A valid configuration over the local upstreams: each route on its own path prefix, plus the sentinel. */
export function validConfigArb(ports: Record<string, number>): fc.Arbitrary<RawConfig> {
  return fc.subarray(CLUSTER_IDS, { minLength: 1 }).chain((ids) =>
    fc.tuple(
      fc.tuple(...ids.map((id) => clusterArb(id, ports))),
      fc.subarray(ROUTE_IDS, { minLength: 1 }).chain((rids) => fc.tuple(...rids.map((id) => routeArb(id, ids)))),
    ).map(([clusters, routes]) => ({
      clusters: [...clusters, sentinelCluster(ports)],
      routes: [...routes, { ...SENTINEL_ROUTE }],
    })),
  );
}

/**
 * One field broken. `mustReject` comes from docs/configuration.md (types, ranges, unique ids,
 * references that must resolve), not from the validator; shapes the docs leave open (unicode in
 * a header value, say) may go either way, and the tests check only that the outcome is whole.
 * `shape`: the mutation leaves an object with `routes` and `clusters` arrays (a writer could
 * diff it against the current configuration).
 */
export interface Mutation {
  readonly name: string;
  readonly mustReject: boolean;
  readonly shape?: false;
  apply(c: RawConfig): unknown;
}

export const NOT_JSON = Symbol('not JSON');
/** What a mutation returning NOT_JSON is written as. */
export const NOT_JSON_TEXT = '{"routes": [';

const firstRoute = (c: RawConfig) => c.routes[0];
const firstCluster = (c: RawConfig) => c.clusters[0];
export const MUTATIONS: readonly Mutation[] = [
  { name: 'dangling cluster reference', mustReject: true, apply: (c) => { firstRoute(c).cluster = 'ghost'; return c; } },
  { name: 'dangling auth policy', mustReject: true, apply: (c) => { firstRoute(c).authPolicy = 'ghost'; return c; } },
  { name: 'duplicate route id', mustReject: true, apply: (c) => { c.routes.push({ ...firstRoute(c), match: { path: '/dup/{**r}' } }); return c; } },
  { name: 'duplicate cluster id', mustReject: true, apply: (c) => { c.clusters.push({ ...firstCluster(c) }); return c; } },
  { name: 'duplicate destination id', mustReject: true, apply: (c) => { const d = { id: 'same', address: 'http://127.0.0.1:1' }; firstCluster(c).destinations = [d, { ...d }]; return c; } },
  { name: 'path of the wrong type', mustReject: true, apply: (c) => { firstRoute(c).match = { path: 42 }; return c; } },
  { name: 'catch-all not last', mustReject: true, apply: (c) => { firstRoute(c).match = { path: '/a/{**x}/b' }; return c; } },
  { name: 'path without a leading slash', mustReject: true, apply: (c) => { firstRoute(c).match = { path: 'a/b' }; return c; } },
  { name: 'timeout as a string', mustReject: true, apply: (c) => { firstRoute(c).timeoutMs = '1000'; return c; } },
  { name: 'negative timeout', mustReject: true, apply: (c) => { firstRoute(c).timeoutMs = -1; return c; } },
  { name: 'fractional timeout', mustReject: true, apply: (c) => { firstRoute(c).timeoutMs = 1.5; return c; } },
  { name: 'huge timeout', mustReject: true, apply: (c) => { firstRoute(c).timeoutMs = 1e15; return c; } },
  { name: 'huge body limit', mustReject: true, apply: (c) => { firstRoute(c).maxRequestBodyBytes = 2 ** 60; return c; } },
  { name: 'zero weight', mustReject: true, apply: (c) => { firstCluster(c).destinations = [{ id: 'w', address: 'http://127.0.0.1:1', weight: 0 }]; return c; } },
  { name: 'address not a URL', mustReject: true, apply: (c) => { firstCluster(c).destinations = [{ id: 'a', address: 'not a url' }]; return c; } },
  { name: 'address with another scheme', mustReject: true, apply: (c) => { firstCluster(c).destinations = [{ id: 'a', address: 'ftp://127.0.0.1:21' }]; return c; } },
  { name: 'unknown load-balancing policy', mustReject: true, apply: (c) => { firstCluster(c).loadBalancing = 'bogus'; return c; } },
  { name: 'unknown field', mustReject: true, apply: (c) => { firstRoute(c).surprise = true; return c; } },
  { name: 'unicode route id', mustReject: true, apply: (c) => { firstRoute(c).id = '路由-🚀'; return c; } },
  { name: 'id of 10,000 characters', mustReject: true, apply: (c) => { firstRoute(c).id = 'r'.repeat(10_000); return c; } },
  { name: 'routes not an array', mustReject: true, shape: false, apply: (c) => ({ ...c, routes: { r1: firstRoute(c) } }) },
  { name: 'clusters missing', mustReject: true, shape: false, apply: (c) => ({ routes: c.routes }) },
  { name: 'null', mustReject: true, shape: false, apply: () => null },
  { name: 'an array', mustReject: true, shape: false, apply: () => [] },
  { name: 'not JSON', mustReject: true, shape: false, apply: () => NOT_JSON },
  { name: 'unicode header value', mustReject: false, apply: (c) => { firstRoute(c).transforms = [{ requestHeader: 'X-U', set: 'héllo 世界' }]; return c; } },
  { name: 'unicode path literal', mustReject: false, apply: (c) => { firstRoute(c).match = { path: `/f/${String(firstRoute(c).id)}/ü/{**r}` }; return c; } },
  { name: 'many routes on one cluster', mustReject: false, apply: (c) => { for (let i = 0; i < 500; i++) c.routes.push({ id: `bulk${i}`, cluster: 'sentinel', match: { path: `/bulk/${i}` } }); return c; } },
];

/** The text a (possibly mutated) configuration is written as. */
export function configText(config: unknown): string {
  return config === NOT_JSON ? NOT_JSON_TEXT : JSON.stringify(config);
}

export interface WorkerStatus {
  readonly appliedVersion: number;
  readonly restarts: number;
}

/** GET /api/gateway/status with an admin key: the instance's version, its workers, and its source's fields. */
export async function gatewayStatus(url: string, key: string): Promise<{ version: number; workers: WorkerStatus[]; redis?: Record<string, unknown> }> {
  const r = await fetch(`${url}/api/gateway/status`, { headers: { authorization: `Bearer ${key}` } });
  expect(r.status).toBe(200);
  return (await r.json()) as { version: number; workers: WorkerStatus[]; redis?: Record<string, unknown> };
}

/** Every worker of the instance at `url` reports `version` (or throws after timeoutMs: a hang). */
export async function waitWorkersAt(url: string, key: string, version: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await gatewayStatus(url, key)).workers.every((w) => w.appliedVersion === version)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`workers of ${url} did not reach version ${version} within ${timeoutMs} ms`);
}

export async function probe(url: string, path: string): Promise<{ status: number; upstream: string | null }> {
  const r = await fetch(`${url}${path}`);
  await r.arrayBuffer();
  return { status: r.status, upstream: r.headers.get('x-upstream') };
}

/** A request path that the route's pattern matches. */
function pathOf(route: Record<string, unknown>): string {
  return String((route.match as { path: string }).path).replace('{**rest}', 'p').replace('{x}', 'p').replace('{**r}', 'p');
}

/**
 * The gateway at `url` serves exactly `config`: every route answers from its cluster's
 * upstreams (503 when the cluster has no destination, 401 without a token when the route has
 * an auth policy); every route `previous` had and `config` lacks is 404. Bulk routes are not probed.
 */
export async function checkServes(url: string, ports: Record<string, number>, config: RawConfig, previous: RawConfig | null, label = ''): Promise<void> {
  const clusters = new Map(config.clusters.map((c) => [c.id as string, (c.destinations as Array<{ address: string }>).map((d) =>
    Object.keys(ports).find((n) => d.address.endsWith(`:${ports[n]}`)))]));
  await Promise.all(config.routes.filter((r) => !String(r.id).startsWith('bulk')).map(async (route) => {
    const got = await probe(url, encodeURI(pathOf(route)));
    const names = clusters.get(route.cluster as string)!;
    const what = `${label} ${String(route.id)} → ${String(route.cluster)}`;
    if (route.authPolicy !== undefined) {
      expect(got.status, `${what} (auth policy, no token)`).toBe(401);
    } else if (names.length === 0) {
      expect(got.status, `${what} (no destinations)`).toBe(503);
    } else {
      expect(got.status, what).toBe(200);
      expect(names, `${what} answered by ${got.upstream}`).toContain(got.upstream);
    }
  }));
  if (previous !== null) {
    const ids = new Set(config.routes.map((r) => r.id));
    for (const gone of previous.routes.filter((r) => !ids.has(r.id) && !String(r.id).startsWith('bulk'))) {
      expect((await probe(url, `/f/${String(gone.id)}/p`)).status, `${label} removed route ${String(gone.id)}`).toBe(404);
    }
  }
}

/** The sentinel route answers from the sentinel upstream: the last good configuration serves. */
export async function checkSentinel(url: string, label: string): Promise<void> {
  expect(await probe(url, '/sentinel/x'), label).toEqual({ status: 200, upstream: 'sentinel' });
}
