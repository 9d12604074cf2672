/**
 * Configuration fuzzing through the Redis control plane: one real redis-server and TWO gateway
 * instances of two workers each following it. fast-check generates a sequence of changes, each
 * made the way a writer makes it:
 *   - put:    a whole configuration (valid, or near-valid: test/support/config-fuzz.ts's
 *             mutations) through PUT /api/gateway/config on either instance;
 *   - patch:  a change (upsert/delete of a route, cluster with its destinations, auth policy;
 *             valid, or with a dangling reference, a still-referenced delete, a wrong type, a
 *             unicode or 10,000-character id, a huge value, an id twice) through PATCH;
 *   - ctl:    a whole configuration through `gatewayctl apply -f`;
 *   - commit: a writer that skips validation (ControlPlaneStore.commit): the snapshot and its
 *             change message reach the instances, which must reject the invalid ones themselves;
 *   - raw:    malformed records written straight into the keys and channels of keys.ts (change
 *             messages, snapshots, the version key, health records), then a writer repairs.
 * After each change, within a deadline:
 *   - rejected by the writer: a coded error naming the field path (422 CONFIG_INVALID with
 *     `errors[].path`, 400 BAD_REQUEST for a body that is not a change, gatewayctl exit 1 with
 *     the paths), nothing written, both instances on their version, the sentinel route served;
 *   - rejected by the instances: both report the version as rejected and keep serving the last
 *     good one;
 *   - published: both instances and all four workers converge on the new version and serve
 *     exactly it (every route from its cluster's upstreams, removed routes 404).
 * Never a crash, a worker restart, or two instances or workers left on different versions.
 * Default 200 changes; FUZZ_RUNS=3000 for a long run (FUZZ_SEED to vary). Prints the counts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeChangeMessage, encodeHealthReport, encodeSnapshot } from '../../src/control-plane/codec.js';
import type { ControlPlaneStore } from '../../src/control-plane/store.js';
import type { ConfigChange, GatewayConfig } from '../../src/config/types.js';
import {
  adminKeyFile, checkSentinel, checkServes, CLUSTER_IDS, clusterArb, configText, gatewayStatus, MUTATIONS, NOT_JSON, ROUTE_IDS, routeArb,
  startFuzzUpstreams, validConfigArb, type FuzzUpstreams, type Mutation, type RawConfig,
} from '../support/config-fuzz.js';
import type { GatewayProcess } from '../support/gateway.js';
import { runCtl, startRedis, startRedisGateway, writer, type RedisServer } from './support.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
/** Every outcome (a convergence, a rejection, a log line) must show within this: otherwise a hang. */
const DEADLINE_MS = 15_000;
const POLICY_IDS = ['p1', 'p2'];

type Item = Record<string, unknown>;
type Lists = 'routes' | 'clusters' | 'authPolicies';
/** A change as a writer sends it; deliberately loose so that it can be malformed. */
type Patch = Record<string, unknown>;

/** An auth policy whose JWKS is never fetched here: routes behind it answer 401 to a request without a token. */
function policy(id: string, port: number): Item {
  return { id, jwt: { issuer: 'https://issuer.test', audiences: ['fuzz'], algorithms: ['RS256'], jwksUri: `http://127.0.0.1:${port}/jwks/${id}` } };
}

/** A list of a configuration as read back from Redis, which may be anything: not an array reads as empty. */
function listOf(c: unknown, list: Lists): Item[] {
  const v = (c as Record<string, unknown> | null)?.[list];
  return Array.isArray(v) ? (v as Item[]) : [];
}

/**
 * The test's own model of a patch (docs/control-plane.md, "changes"): per list, the deleted ids
 * go, then each upserted item replaces the item with its id or is appended.
 */
function applyPatch(base: RawConfig, patch: Patch): RawConfig {
  const out: Record<string, Item[]> = {};
  for (const list of ['routes', 'clusters', 'authPolicies'] as const) {
    const key = list[0].toUpperCase() + list.slice(1);
    const gone = new Set((patch[`delete${key}`] ?? []) as string[]);
    const items = listOf(base, list).filter((i) => !gone.has(i.id as string));
    for (const item of (patch[`upsert${key}`] ?? []) as Item[]) {
      const at = items.findIndex((i) => i.id === item.id);
      if (at >= 0) items[at] = item;
      else items.push(item);
    }
    if (list !== 'authPolicies' || items.length > 0) out[list] = items;
  }
  return out as unknown as RawConfig;
}

/** The change a careful writer would publish from `base` to `next`: changed items upserted, missing ids deleted. */
function diffPatch(base: RawConfig, next: RawConfig): ConfigChange {
  const change: Record<string, unknown[]> = {};
  for (const list of ['routes', 'clusters', 'authPolicies'] as const) {
    const key = list[0].toUpperCase() + list.slice(1);
    const before = new Map(listOf(base, list).map((i) => [i.id, JSON.stringify(i)]));
    const after = listOf(next, list);
    const ids = new Set(after.map((i) => i.id));
    change[`upsert${key}`] = after.filter((i) => before.get(i.id) !== JSON.stringify(i));
    change[`delete${key}`] = [...before.keys()].filter((id) => !ids.has(id));
  }
  return change as unknown as ConfigChange;
}

const idsOf = (c: RawConfig, list: Lists): string[] => listOf(c, list).map((i) => i.id as string);
const usedClusters = (c: RawConfig): Set<string> => new Set(c.routes.map((r) => r.cluster as string));
const usedPolicies = (c: RawConfig): Set<string> => new Set(c.routes.map((r) => r.authPolicy as string).filter(Boolean));
const pick = <T>(xs: readonly T[], n: number): T => xs[n % xs.length];

/**
 * One generated patch: `build` turns random numbers into a change against the current
 * configuration (so that "delete a referenced cluster" names one that is referenced). `reject`:
 * what the docs say must happen — 'must' (422 naming a path starting with `path`, or 400 when
 * `badRequest`), or 'may' (any whole outcome). A valid patch is `reject: 'never'` while the
 * configuration in Redis is valid.
 */
interface PatchOp {
  readonly name: string;
  readonly reject: 'never' | 'must' | 'may';
  readonly path?: string;
  readonly badRequest?: boolean;
  build(c: RawConfig, n: readonly number[], gen: { route: (id: string, clusters: readonly string[]) => Item; cluster: (id: string) => Item }, ports: Record<string, number>): Patch | string;
}

const PATCH_OPS: readonly PatchOp[] = [
  { name: 'upsert route', reject: 'never', build: (c, n, g) => ({ upsertRoutes: [g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters'))] }) },
  { name: 'delete route', reject: 'never', build: (c, n) => ({ deleteRoutes: [pick([...idsOf(c, 'routes').filter((id) => id !== 'sentinel'), 'r-absent'], n[0])] }) },
  { name: 'upsert cluster', reject: 'never', build: (_c, n, g) => ({ upsertClusters: [g.cluster(pick(CLUSTER_IDS, n[0]))] }) },
  {
    name: 'delete cluster with its routes', reject: 'never', build: (c, n) => {
      const id = pick(CLUSTER_IDS, n[0]);
      return { deleteClusters: [id], deleteRoutes: c.routes.filter((r) => r.cluster === id).map((r) => r.id) };
    },
  },
  {
    name: 'move routes and add their cluster', reject: 'never', build: (c, n, g) => {
      const cluster = g.cluster(pick(CLUSTER_IDS, n[0]));
      return { upsertClusters: [cluster], upsertRoutes: ROUTE_IDS.slice(0, 1 + (n[1] % 3)).map((id) => g.route(id, [cluster.id as string])) };
    },
  },
  {
    name: 'route behind a new auth policy', reject: 'never', build: (c, n, g, ports) => {
      const p = policy(pick(POLICY_IDS, n[0]), ports.u0);
      return { upsertAuthPolicies: [p], upsertRoutes: [{ ...g.route(pick(ROUTE_IDS, n[1]), idsOf(c, 'clusters')), authPolicy: p.id }] };
    },
  },
  {
    name: 'delete auth policy with its routes', reject: 'never', build: (c, n) => {
      const id = pick(POLICY_IDS, n[0]);
      return { deleteAuthPolicies: [id], deleteRoutes: c.routes.filter((r) => r.authPolicy === id).map((r) => r.id) };
    },
  },
  { name: 'many routes at once', reject: 'never', build: () => ({ upsertRoutes: Array.from({ length: 1000 }, (_, i) => ({ id: `bulk${i}`, cluster: 'sentinel', match: { path: `/bulk/${i}` } })) }) },
  { name: 'route to a missing cluster', reject: 'must', path: 'change.upsertRoutes[0].cluster', build: (_c, n, g) => ({ upsertRoutes: [g.route(pick(ROUTE_IDS, n[0]), ['ghost'])] }) },
  { name: 'route to a missing auth policy', reject: 'must', path: 'change.upsertRoutes[0].authPolicy', build: (c, n, g) => ({ upsertRoutes: [{ ...g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')), authPolicy: 'ghost' }] }) },
  {
    name: 'delete a referenced cluster', reject: 'must', build: (c, n) => ({ deleteClusters: [pick([...usedClusters(c)], n[0])] }),
  },
  {
    name: 'delete a referenced auth policy', reject: 'must', build: (c, n, g, ports) => {
      const used = [...usedPolicies(c)];
      if (used.length > 0) return { deleteAuthPolicies: [pick(used, n[0])] };
      // None referenced yet: reference one and delete it in the same change.
      return { upsertAuthPolicies: [policy('p1', ports.u0)], upsertRoutes: [{ ...g.route('r1', idsOf(c, 'clusters')), authPolicy: 'p1' }], deleteAuthPolicies: ['p1'] };
    },
  },
  { name: 'route id twice', reject: 'must', build: (c, n, g) => { const r = g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')); return { upsertRoutes: [r, { ...r }] }; } },
  { name: 'route upserted and deleted', reject: 'must', build: (c, n, g) => { const r = g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')); return { upsertRoutes: [r], deleteRoutes: [r.id] }; } },
  { name: 'unicode route id', reject: 'must', path: 'change.upsertRoutes[0].id', build: (c, _n, g) => ({ upsertRoutes: [{ ...g.route('r1', idsOf(c, 'clusters')), id: '路由-🚀' }] }) },
  { name: 'route id of 10,000 characters', reject: 'must', path: 'change.upsertRoutes[0].id', build: (c, _n, g) => ({ upsertRoutes: [{ ...g.route('r1', idsOf(c, 'clusters')), id: 'r'.repeat(10_000) }] }) },
  { name: 'timeout as a string', reject: 'must', path: 'change.upsertRoutes[0].timeoutMs', build: (c, n, g) => ({ upsertRoutes: [{ ...g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')), timeoutMs: '1000' }] }) },
  { name: 'huge timeout', reject: 'must', path: 'change.upsertRoutes[0].timeoutMs', build: (c, n, g) => ({ upsertRoutes: [{ ...g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')), timeoutMs: 1e300 }] }) },
  { name: 'path of the wrong type', reject: 'must', path: 'change.upsertRoutes[0].match.path', build: (c, n, g) => ({ upsertRoutes: [{ ...g.route(pick(ROUTE_IDS, n[0]), idsOf(c, 'clusters')), match: { path: ['/a'] } }] }) },
  { name: 'duplicate destination ids', reject: 'must', path: 'change.upsertClusters[0].destinations', build: (_c, n) => ({ upsertClusters: [{ id: pick(CLUSTER_IDS, n[0]), destinations: [{ id: 'd', address: 'http://127.0.0.1:1' }, { id: 'd', address: 'http://127.0.0.1:2' }] }] }) },
  { name: 'destinations not an array', reject: 'must', path: 'change.upsertClusters[0].destinations', build: (_c, n) => ({ upsertClusters: [{ id: pick(CLUSTER_IDS, n[0]), destinations: 'http://127.0.0.1:1' }] }) },
  { name: 'huge weight', reject: 'must', path: 'change.upsertClusters[0].destinations[0].weight', build: (_c, n) => ({ upsertClusters: [{ id: pick(CLUSTER_IDS, n[0]), destinations: [{ id: 'd', address: 'http://127.0.0.1:1', weight: 2 ** 53 }] }] }) },
  { name: 'auth policy with a literal secret', reject: 'must', path: 'change.upsertAuthPolicies[0].jwt', build: (_c, n) => ({ upsertAuthPolicies: [{ id: pick(POLICY_IDS, n[0]), jwt: { issuer: 'i', audiences: ['a'], algorithms: ['HS256'], keys: [{ secret: 'not-a-reference' }] } }] }) },
  { name: 'null among the upserts', reject: 'must', path: 'change.upsertRoutes[0]', build: () => ({ upsertRoutes: [null] }) },
  { name: 'a number among the deletes', reject: 'must', path: 'change.deleteRoutes[0]', build: () => ({ deleteRoutes: [42] }) },
  { name: 'upserts not an array', reject: 'must', badRequest: true, build: (c) => ({ upsertRoutes: { r1: c.routes[0] } }) },
  { name: 'unknown change key', reject: 'must', badRequest: true, build: () => ({ upsertWidgets: [] }) },
  { name: 'not JSON', reject: 'must', badRequest: true, build: () => '{"upsertRoutes": [' },
];

/** Malformed records written straight into Redis (keys.ts), each followed by a writer's repair where one is needed. */
const RAW_KINDS = ['change message', 'snapshot', 'version key', 'health record'] as const;
type RawKind = (typeof RAW_KINDS)[number];
const BAD_MESSAGES = (epoch: string, v: number): string[] => [
  'not json at all', '[]', 'null', JSON.stringify({ protocol: 2, epoch, version: v + 1, base: v, at: '', writer: 'w', change: null }),
  JSON.stringify({ protocol: 1, epoch, version: v + 1, base: v + 1, at: '', writer: 'w', change: {} }),
  JSON.stringify({ protocol: 1, epoch, version: -1, base: -2, at: '', writer: 'w', change: {} }),
  JSON.stringify({ protocol: 1, epoch, version: 1e300, base: v, at: '', writer: 'w', change: {} }),
  JSON.stringify({ protocol: 1, epoch, version: v + 1, base: v, at: '', writer: 'w', change: [] }),
  JSON.stringify({ protocol: 1, epoch: 7, version: v + 1, base: v, at: '', writer: 'w', change: {} }),
  `{"protocol":1,"junk":"${'x'.repeat(300_000)}"}`,
];
const BAD_SNAPSHOTS = (epoch: string, v: number): string[] => [
  'not json', '"a string"', JSON.stringify({ protocol: 2, epoch, version: v, at: '', writer: 'w', config: { routes: [], clusters: [] } }),
  JSON.stringify({ protocol: 1, epoch, version: v, at: '', writer: 'w', config: null }),
  JSON.stringify({ protocol: 1, epoch, version: v, at: '', writer: 'w', config: 'routes' }),
  JSON.stringify({ protocol: 1, epoch, version: 'seven', at: '', writer: 'w', config: {} }),
  JSON.stringify({ protocol: 1, epoch, version: v, at: '', writer: 'w', config: { routes: 'all', clusters: {} } }),
  JSON.stringify({ protocol: 1, epoch, version: v, at: '', writer: 'w', config: { routes: [{ id: '路由', cluster: 'ghost' }], clusters: [] } }),
];
const BAD_VERSIONS = ['abc', '-3', '1.5', '1e30', '99999999999999999999', '', ' 7', 'Infinity', '0x10'];
const BAD_HEALTH = ['not json', '{}', JSON.stringify({ protocol: 1, cluster: 'c1', destination: 'd-u0', state: 'sideways' }),
  JSON.stringify({ protocol: 1, cluster: 7, destination: [], state: 'down' }), encodeHealthReport({ cluster: '路由', destination: 'ghost', state: 'down', reason: 'x'.repeat(100_000), at: '', by: 'fuzz' })];

type Step =
  | { readonly kind: 'put' | 'ctl' | 'commit'; readonly config: RawConfig; readonly mutation: Mutation | null; readonly via: number }
  | { readonly kind: 'patch'; readonly op: PatchOp; readonly n: readonly number[]; readonly routes: readonly Item[]; readonly clusters: readonly Item[]; readonly via: number }
  | { readonly kind: 'raw'; readonly raw: RawKind; readonly n: readonly number[]; readonly withMessage: boolean };

function stepArb(ports: Record<string, number>): fc.Arbitrary<Step> {
  const mutation = fc.option(fc.constantFrom(...MUTATIONS), { freq: 2, nil: null });
  const nums = fc.array(fc.nat(), { minLength: 4, maxLength: 4 });
  const whole = (kind: 'put' | 'ctl' | 'commit', m: fc.Arbitrary<Mutation | null>) =>
    fc.record({ kind: fc.constant(kind), config: validConfigArb(ports), mutation: m, via: fc.nat(1) });
  // Candidate items for the patch to draw from: one route per id (its cluster chosen at build time), one cluster per id.
  const routes = fc.tuple(...ROUTE_IDS.map((id) => routeArb(id, ['placeholder'])));
  const clusters = fc.tuple(...CLUSTER_IDS.map((id) => clusterArb(id, ports)));
  return fc.oneof(
    { weight: 30, arbitrary: whole('put', mutation) },
    { weight: 40, arbitrary: fc.record({ kind: fc.constant('patch' as const), op: fc.constantFrom(...PATCH_OPS), n: nums, routes, clusters, via: fc.nat(1) }) },
    { weight: 4, arbitrary: whole('ctl', mutation) },
    { weight: 12, arbitrary: whole('commit', fc.option(fc.constantFrom(...MUTATIONS.filter((m) => m.shape !== false)), { freq: 2, nil: null })) },
    { weight: 14, arbitrary: fc.record({ kind: fc.constant('raw' as const), raw: fc.constantFrom(...RAW_KINDS), n: nums, withMessage: fc.boolean() }) },
  ) as fc.Arbitrary<Step>;
}

describe('configuration fuzzing through the Redis control plane (two instances)', () => {
  let redis: RedisServer;
  let upstreams: FuzzUpstreams;
  let ports: Record<string, number> = {};
  let store: ControlPlaneStore;
  let client: ReturnType<typeof writer>['client'];
  let gateways: GatewayProcess[] = [];
  let adminKey = '';
  const dir = mkdtempSync(join(tmpdir(), 'fengling-cp-fuzz-'));

  beforeAll(async () => {
    redis = await startRedis();
    upstreams = await startFuzzUpstreams();
    ports = upstreams.ports;
    ({ store, client } = writer(redis));
    const initial = fc.sample(validConfigArb(ports), { seed: 1, numRuns: 1 })[0];
    await store.update(() => initial as unknown as GatewayConfig);
    const keys = adminKeyFile('rw');
    adminKey = keys.key;
    gateways = await Promise.all(['fuzz-a', 'fuzz-b'].map((id) => startRedisGateway(redis, { id, env: { GATEWAY_ADMIN_KEYS_FILE: keys.file } })));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    client?.disconnect();
    await redis?.stop();
    await upstreams?.close();
  });

  async function manage(gw: GatewayProcess, method: 'PUT' | 'PATCH', body: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await fetch(`${gw.url}/api/gateway/config`, {
      method, body, headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, signal: AbortSignal.timeout(DEADLINE_MS),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  }

  /** Polls `probe` until it holds, or fails the run: an outcome that never shows is a hang. */
  async function within(what: string, probe: () => Promise<boolean>): Promise<void> {
    const until = Date.now() + DEADLINE_MS;
    while (Date.now() < until) {
      if (await probe()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${what}: not within ${DEADLINE_MS} ms (a hang)`);
  }

  /** Both instances, and each of their workers, at `version`. */
  async function converged(version: number): Promise<boolean> {
    for (const gw of gateways) {
      const s = await gatewayStatus(gw.url, adminKey);
      if (s.version !== version || !s.workers.every((w) => w.appliedVersion === version)) return false;
    }
    return true;
  }

  /** Both instances report `version` rejected, and still serve `applied` on every worker. */
  async function bothRejected(version: number, applied: number): Promise<boolean> {
    for (const gw of gateways) {
      const s = await gatewayStatus(gw.url, adminKey);
      const rejected = (s.redis as { rejected: { version: number } | null }).rejected;
      if (rejected?.version !== version) return false;
      expect(s.version, 'a rejecting instance keeps its version').toBe(applied);
      expect(s.workers.every((w) => w.appliedVersion === applied), 'workers keep the last good version').toBe(true);
    }
    return true;
  }

  /** A 422 CONFIG_INVALID naming field paths (one starting with `prefix` when given), or a 400 BAD_REQUEST. */
  function expectCodedRejection(reply: { status: number; json: Record<string, unknown> }, label: string, prefix?: string): void {
    expect([400, 422], `${label}: ${JSON.stringify(reply.json).slice(0, 500)}`).toContain(reply.status);
    if (reply.status === 400) {
      expect(reply.json.code, label).toBe('BAD_REQUEST');
      return;
    }
    expect(reply.json.code, label).toBe('CONFIG_INVALID');
    const errors = reply.json.errors as Array<{ path: unknown; message: unknown }>;
    expect(errors.length, label).toBeGreaterThan(0);
    for (const e of errors) {
      expect(typeof e.path === 'string' && e.path.length > 0 && typeof e.message === 'string', `${label}: ${JSON.stringify(e)}`).toBe(true);
    }
    if (prefix) expect(errors.map((e) => e.path).some((p) => String(p).startsWith(prefix)), `${label}: ${JSON.stringify(errors).slice(0, 500)} names ${prefix}`).toBe(true);
  }

  it(`applies or rejects ${RUNS} generated changes whole on both instances, never crashing or hanging`, async () => {
    const counts = { applied: 0, unchanged: 0, rejectedByWriter: 0, rejectedByInstances: 0, repaired: 0 };
    const kinds: Record<string, number> = {};
    const initial = await store.read();
    /** What the instances serve (the last good configuration) and its version. */
    let served = initial.config as unknown as RawConfig;
    let applied = initial.version;
    /** What Redis holds: the same, or an invalid version a writer published without validating. */
    let inRedis: RawConfig = served;
    let redisValid = true;
    let version = initial.version;
    await within('the initial version on both instances', () => converged(applied));

    const published = async (next: RawConfig, v: number, label: string): Promise<void> => {
      expect(v, `${label}: one version per change`).toBe(version + 1);
      version = v;
      await within(`${label}: both instances at version ${v}`, () => converged(v));
      for (const gw of gateways) await checkServes(gw.url, ports, next, served, `${label} @${gw.port}`);
      served = next;
      inRedis = next;
      applied = v;
      redisValid = true;
      counts.applied++;
    };
    const unchangedBy = async (label: string): Promise<void> => {
      expect((await store.version()).version, `${label}: nothing written`).toBe(version);
      expect(await converged(applied), `${label}: both instances still at ${applied}`).toBe(true);
      for (const gw of gateways) await checkSentinel(gw.url, `${label} @${gw.port}`);
    };
    const rejectedByInstances = async (v: number, label: string): Promise<void> => {
      version = v;
      await within(`${label}: both instances reject version ${v}`, () => bothRejected(v, applied));
      for (const gw of gateways) {
        await gw.waitForLog((l) => l.code === 'CONFIG_REJECTED' && l.version === v, DEADLINE_MS);
        await checkSentinel(gw.url, `${label} @${gw.port}`);
      }
      counts.rejectedByInstances++;
    };
    /** A writer publishes the last good configuration again on top of whatever Redis holds. */
    const repair = async (label: string): Promise<void> => {
      const current = await store.read();
      const committed = await store.commit(current, served as unknown as GatewayConfig, { change: diffPatch(current.config as unknown as RawConfig, served) });
      expect(committed.ok, `${label}: repair committed`).toBe(true);
      version = current.version;
      await published(served, (committed as { version: number }).version, `${label} (repair)`);
      counts.applied--;
      counts.repaired++;
    };

    const samples = fc.sample(stepArb(ports), { seed: Number(process.env.FUZZ_SEED ?? 20240611), numRuns: RUNS });
    for (const [i, step] of samples.entries()) {
      const name = step.kind === 'patch' ? step.op.name : step.kind === 'raw' ? step.raw : step.mutation?.name ?? 'valid';
      const label = `#${i} ${step.kind}: ${name}`;
      let outcome = '';
      if (step.kind === 'put' || step.kind === 'ctl') {
        const mutated = step.mutation === null ? step.config : step.mutation.apply(structuredClone(step.config));
        let ok: boolean;
        let changed = false;
        let v = version;
        if (step.kind === 'put') {
          const reply = await manage(gateways[step.via], 'PUT', configText(mutated));
          ok = reply.status === 200;
          if (ok) ({ changed, version: v } = reply.json as { changed: boolean; version: number });
          else expectCodedRejection(reply, label);
        } else {
          const file = join(dir, `ctl-${i}.json`);
          writeFileSync(file, configText(mutated));
          const ctl = await runCtl(['apply', '-f', file], { REDIS_URL: redis.url });
          ok = ctl.code === 0;
          const m = /published version (\d+)/.exec(ctl.stdout);
          if (m) { changed = true; v = Number(m[1]); }
          if (!ok) {
            expect(ctl.code, `${label}: ${ctl.stderr}`).toBe(1);
            // Every finding on its own line, with its field path (or `$` for the whole document).
            if (mutated !== NOT_JSON) expect(ctl.stderr, label).toMatch(/(^|\n)\s*(\$|routes|clusters)[[\].\w]*:/);
          }
        }
        if (step.mutation === null) expect(ok, `${label} is valid`).toBe(true);
        if (step.mutation?.mustReject) expect(ok, `${label} must be rejected`).toBe(false);
        if (!ok) { outcome = 'rejected by writer'; counts.rejectedByWriter++; await unchangedBy(label); }
        else if (!changed) { outcome = 'unchanged'; counts.unchanged++; await unchangedBy(label); }
        else { outcome = 'applied'; await published(mutated as RawConfig, v, label); }
      } else if (step.kind === 'patch') {
        const gen = {
          route: (id: string, clusters: readonly string[]) => ({ ...step.routes[ROUTE_IDS.indexOf(id)], cluster: pick(clusters.length ? clusters : ['sentinel'], step.n[2]) }),
          cluster: (id: string) => step.clusters[CLUSTER_IDS.indexOf(id)],
        };
        const patch = step.op.build(inRedis, step.n, gen, ports);
        const reply = await manage(gateways[step.via], 'PATCH', typeof patch === 'string' ? patch : JSON.stringify(patch));
        if (step.op.reject === 'never' && redisValid) expect(reply.status, `${label}: ${JSON.stringify(reply.json).slice(0, 500)}`).toBe(200);
        if (step.op.reject === 'must') {
          expectCodedRejection(reply, label, step.op.path);
          if (step.op.badRequest) expect(reply.status, label).toBe(400);
        }
        if (reply.status !== 200) { outcome = 'rejected by writer'; counts.rejectedByWriter++; await unchangedBy(label); }
        else if (!(reply.json.changed as boolean)) { outcome = 'unchanged'; counts.unchanged++; await unchangedBy(label); }
        else { outcome = 'applied'; await published(applyPatch(inRedis, patch as Patch), reply.json.version as number, label); }
      } else if (step.kind === 'commit') {
        // A writer that skips validation: the instances are the last line of defence.
        const next = step.mutation === null ? step.config : step.mutation.apply(structuredClone(step.config)) as RawConfig;
        const current = await store.read();
        const committed = await store.commit(current, next as unknown as GatewayConfig, { change: diffPatch(inRedis, next), undo: diffPatch(next, inRedis) });
        expect(committed.ok, label).toBe(true);
        const v = (committed as { version: number }).version;
        // Both instances apply it, or both reject it; never one of each.
        await within(`${label}: the same outcome on both instances`, async () => await converged(v) || await bothRejected(v, applied));
        if (await converged(v)) {
          expect(step.mutation?.mustReject ?? false, `${label}: applied by the instances although invalid`).toBe(false);
          outcome = 'applied';
          await published(next, v, label);
        } else {
          expect(step.mutation, `${label}: a valid configuration was rejected`).not.toBeNull();
          outcome = 'rejected by instances';
          await rejectedByInstances(v, label);
          inRedis = next;
          redisValid = false;
        }
      } else {
        outcome = await rawStep(step as Extract<Step, { kind: 'raw' }>, label);
      }
      kinds[`${step.kind}/${name}: ${outcome}`] = (kinds[`${step.kind}/${name}: ${outcome}`] ?? 0) + 1;
      for (const gw of gateways) expect(gw.child.exitCode, `${label}: instance exited: ${gw.stderr()}`).toBeNull();
    }

    /** Malformed records straight into the keys of keys.ts; returns the outcome. */
    async function rawStep(step: Extract<Step, { kind: 'raw' }>, label: string): Promise<string> {
      const { epoch } = await store.version();
      const keys = store.keys;
      const marks = gateways.map((gw) => gw.logs.length);
      const loggedInvalid = (): Promise<boolean> => Promise.resolve(gateways.every((gw, j) => gw.logs.slice(marks[j]).some((l) => l.code === 'CONTROL_MESSAGE_INVALID')));
      switch (step.raw) {
        case 'change message': {
          // Nothing changes in the keys: the instances log it, resync, and stay where they are.
          await client.publish(keys.changes, pick(BAD_MESSAGES(epoch!, version), step.n[0]));
          await within(`${label}: CONTROL_MESSAGE_INVALID on both instances`, loggedInvalid);
          await unchangedBy(label);
          return 'logged, nothing applied';
        }
        case 'snapshot': {
          const bad = pick(BAD_SNAPSHOTS(epoch!, version + 1), step.n[0]);
          const tx = client.multi().set(keys.version, String(version + 1)).set(keys.snapshot, bad);
          // Found through a malformed change message (which leads to a resync) or, silently, by anti-entropy.
          if (step.withMessage) tx.publish(keys.changes, pick(BAD_MESSAGES(epoch!, version), step.n[1]));
          await tx.exec();
          await rejectedByInstances(version + 1, label);
          await repair(label);
          return 'rejected by instances, then repaired';
        }
        case 'version key': {
          const bad = pick(BAD_VERSIONS, step.n[0]);
          await client.set(keys.version, bad);
          // Reported as malformed (once per value: it may already have been, in an earlier step),
          // then one more anti-entropy round (500 ms here): nothing may change meanwhile.
          await within(`${label}: CONTROL_MESSAGE_INVALID for the version key on both instances`, () => Promise.resolve(
            gateways.every((gw) => gw.logs.some((l) => l.code === 'CONTROL_MESSAGE_INVALID' && l.key === keys.version && String(l.reason).includes(JSON.stringify(bad))))));
          await new Promise((r) => setTimeout(r, 600));
          expect(await converged(applied), `${label}: both instances still at ${applied}`).toBe(true);
          for (const gw of gateways) await checkServes(gw.url, ports, served, null, `${label} @${gw.port}`);
          // A writer refuses to build on it (it would publish a version no instance accepts).
          const refused = await manage(pick(gateways, step.n[1]), 'PATCH', JSON.stringify({ deleteRoutes: ['r-absent'] }));
          expect(refused.status, `${label}: a write on a malformed version key`).toBe(503);
          expect(refused.json.code, label).toBe('CONTROL_PLANE_ERROR');
          expect(String(refused.json.detail), label).toContain('the version key holds');
          expect(await client.get(keys.version), `${label}: nothing written`).toBe(bad);
          // The repair a writer makes by hand: the next version, silently (anti-entropy finds it).
          const next = version + 1;
          await client.multi().set(keys.version, String(next))
            .set(keys.snapshot, encodeSnapshot({ epoch: epoch!, version: next, at: new Date().toISOString(), writer: 'fuzz', config: served })).exec();
          if (step.withMessage) await client.publish(keys.changes, encodeChangeMessage({ epoch: epoch!, version: next, base: version, at: '', writer: 'fuzz', change: diffPatch(inRedis, served) }));
          await published(served, next, `${label} (repair)`);
          counts.applied--;
          counts.repaired++;
          return 'ignored, then repaired';
        }
        case 'health record': {
          const text = pick(BAD_HEALTH, step.n[0]);
          const field = pick(['c1/d-u0', '路由/ghost', 'x'.repeat(1000)], step.n[1]);
          await client.multi().hset(keys.health, field, text).publish(keys.healthChanges, text).exec();
          // Give the instances a moment to read it (the message, then an anti-entropy reload).
          await new Promise((r) => setTimeout(r, 600));
          expect(await converged(applied), `${label}: both instances still at ${applied}`).toBe(true);
          for (const gw of gateways) await checkServes(gw.url, ports, served, null, `${label} @${gw.port}`);
          await client.hdel(keys.health, field);
          return 'ignored';
        }
      }
    }

    for (const gw of gateways) {
      const s = await gatewayStatus(gw.url, adminKey);
      expect(s.workers.every((w) => w.restarts === 0), `no worker of ${gw.port} restarted`).toBe(true);
      expect(s.workers.length).toBe(2);
    }
    console.log(`control-plane config fuzz: ${RUNS} changes, ${counts.applied} applied, ${counts.unchanged} unchanged, `
      + `${counts.rejectedByWriter} rejected by the writer, ${counts.rejectedByInstances} rejected by both instances, ${counts.repaired} repairs`,
      Object.fromEntries(Object.entries(kinds).sort()));
    expect(counts.applied).toBeGreaterThan(RUNS / 6);
    expect(counts.rejectedByWriter).toBeGreaterThan(RUNS / 5);
    expect(counts.rejectedByInstances).toBeGreaterThan(RUNS / 40);
  }, Math.max(300_000, RUNS * 3_000));
});
