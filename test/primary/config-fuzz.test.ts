/**
 * Configuration fuzzing against ONE running gateway (two worker threads, the file source):
 * fast-check generates valid configurations and near-valid ones (one field broken, a wrong
 * type, a huge value, unicode, a duplicate id, a dangling reference, not even JSON), and each
 * is written over the watched file in turn. After each write the gateway must either
 *   - reject it (a CONFIG_REJECTED log line): the applied version stays and the sentinel
 *     route still answers from its upstream; or
 *   - apply it whole: every worker reports the new version, every route of the new
 *     configuration answers from an upstream of its cluster (503 NO_DESTINATION when the
 *     cluster has no destination), every route it removed answers 404;
 * never a crash (the process and its workers stay up, no worker restarts), never a hang (each
 * outcome within a deadline).
 * Default 400 writes (a bit under half applied); FUZZ_RUNS=5000 for a longer run. Prints the counts.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const UPSTREAM_NAMES = ['u0', 'u1', 'u2'] as const;
const CLUSTER_IDS = ['c1', 'c2', 'c3', 'c4'];
const ROUTE_IDS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];

interface RawConfig {
  routes: Array<Record<string, unknown>>;
  clusters: Array<Record<string, unknown>>;
}

/** A valid configuration over the local upstreams: each route on its own path prefix, plus the sentinel. */
function validConfigArb(ports: Record<string, number>): fc.Arbitrary<RawConfig> {
  const destination = fc.record({
    upstream: fc.constantFrom(...UPSTREAM_NAMES),
    weight: fc.integer({ min: 1, max: 1000 }),
  });
  const cluster = (id: string) => fc.record({
    id: fc.constant(id),
    loadBalancing: fc.constantFrom('round-robin', 'weighted-round-robin', 'least-requests', 'power-of-two-choices', 'random', 'first'),
    destinations: fc.uniqueArray(destination, { selector: (d) => d.upstream, maxLength: 3 }).map((ds) =>
      ds.map((d) => ({ id: `d-${d.upstream}`, address: `http://127.0.0.1:${ports[d.upstream]}`, weight: d.weight }))),
  });
  return fc.subarray(CLUSTER_IDS, { minLength: 1 }).chain((ids) =>
    fc.tuple(
      fc.tuple(...ids.map(cluster)),
      fc.subarray(ROUTE_IDS, { minLength: 1 }).chain((rids) => fc.tuple(...rids.map((id) => fc.record({
        id: fc.constant(id),
        cluster: fc.constantFrom(...ids),
        match: fc.record({ path: fc.constantFrom(`/f/${id}/{**rest}`, `/f/${id}/{x}`) }),
        timeoutMs: fc.integer({ min: 1000, max: 60_000 }),
        order: fc.integer({ min: -5, max: 5 }),
      })))),
    ).map(([clusters, routes]) => ({
      clusters: [...clusters, { id: 'sentinel', destinations: [{ id: 'd-s', address: `http://127.0.0.1:${ports.sentinel}` }] }],
      routes: [...routes, { id: 'sentinel', cluster: 'sentinel', match: { path: '/sentinel/{**rest}' } }],
    })),
  );
}

/**
 * One field broken. `mustReject` comes from docs/configuration.md (types, ranges, unique ids,
 * references that must resolve), not from the validator; shapes the docs leave open (unicode in
 * a header value, say) may go either way, and the test checks only that the outcome is whole.
 */
interface Mutation {
  readonly name: string;
  readonly mustReject: boolean;
  apply(c: RawConfig): unknown;
}

const firstRoute = (c: RawConfig) => c.routes[0];
const firstCluster = (c: RawConfig) => c.clusters[0];
const MUTATIONS: readonly Mutation[] = [
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
  { name: 'routes not an array', mustReject: true, apply: (c) => ({ ...c, routes: { r1: firstRoute(c) } }) },
  { name: 'clusters missing', mustReject: true, apply: (c) => ({ routes: c.routes }) },
  { name: 'null', mustReject: true, apply: () => null },
  { name: 'an array', mustReject: true, apply: () => [] },
  { name: 'not JSON', mustReject: true, apply: () => NOT_JSON },
  { name: 'unicode header value', mustReject: false, apply: (c) => { firstRoute(c).transforms = [{ requestHeader: 'X-U', set: 'héllo 世界' }]; return c; } },
  { name: 'unicode path literal', mustReject: false, apply: (c) => { firstRoute(c).match = { path: `/f/${String(firstRoute(c).id)}/ü/{**r}` }; return c; } },
  { name: 'many routes on one cluster', mustReject: false, apply: (c) => { for (let i = 0; i < 500; i++) c.routes.push({ id: `bulk${i}`, cluster: 'sentinel', match: { path: `/bulk/${i}` } }); return c; } },
];
const NOT_JSON = Symbol('not JSON');

describe('configuration fuzzing against a running gateway', () => {
  const ups: Record<string, Upstream> = {};
  const ports: Record<string, number> = {};
  let gw: GatewayProcess;
  let adminKey = '';
  let dir = '';

  beforeAll(async () => {
    for (const name of [...UPSTREAM_NAMES, 'sentinel']) {
      ups[name] = await startUpstream((_req, res) => { res.setHeader('x-upstream', name); res.end(name); });
      ports[name] = ups[name].port;
    }
    adminKey = randomBytes(24).toString('base64url');
    dir = mkdtempSync(join(tmpdir(), 'fengling-fuzz-'));
    const keysFile = join(dir, 'admin-keys');
    writeFileSync(keysFile, `sha256:${createHash('sha256').update(adminKey).digest('hex')} ro\n`);
    const initial = fc.sample(validConfigArb(ports), { seed: 1, numRuns: 1 })[0];
    gw = await startGateway({ workers: 2, config: initial, env: { GATEWAY_ADMIN_KEYS_FILE: keysFile } });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    await Promise.all(Object.values(ups).map((u) => u.close()));
  });

  /** Replace the watched file in one step (write aside, rename), as editors and ConfigMaps do. */
  function writeConfig(content: string): void {
    const aside = join(dir, `next-${Date.now()}.json`);
    writeFileSync(aside, content);
    renameSync(aside, gw.configPath);
  }

  async function waitOutcome(fromLog: number): Promise<{ kind: 'applied' | 'unchanged' | 'rejected'; version: number }> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      for (let i = fromLog; i < gw.logs.length; i++) {
        const l = gw.logs[i];
        if (l.msg === 'configuration applied') return { kind: 'applied', version: l.version as number };
        if (l.msg === 'configuration unchanged') return { kind: 'unchanged', version: l.version as number };
        if (l.code === 'CONFIG_REJECTED') return { kind: 'rejected', version: l.appliedVersion as number ?? -1 };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no outcome for a configuration write within 15 s (a hang)');
  }

  async function workers(): Promise<Array<{ appliedVersion: number; restarts: number }>> {
    const r = await fetch(`${gw.url}/api/gateway/status`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(r.status).toBe(200);
    return ((await r.json()) as { workers: Array<{ appliedVersion: number; restarts: number }> }).workers;
  }

  async function waitWorkersAt(version: number): Promise<void> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      if ((await workers()).every((w) => w.appliedVersion === version)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`workers did not reach version ${version} within 15 s`);
  }

  async function probe(path: string): Promise<{ status: number; upstream: string | null }> {
    const r = await fetch(`${gw.url}${path}`);
    await r.arrayBuffer();
    return { status: r.status, upstream: r.headers.get('x-upstream') };
  }

  /** Every route of `config` answers from its cluster's upstreams; every route `previous` had and it lacks is 404. */
  async function checkServes(config: RawConfig, previous: RawConfig | null): Promise<void> {
    const clusters = new Map(config.clusters.map((c) => [c.id as string, (c.destinations as Array<{ address: string }>).map((d) =>
      Object.keys(ports).find((n) => d.address.endsWith(`:${ports[n]}`)))]));
    await Promise.all(config.routes.filter((r) => !String(r.id).startsWith('bulk')).map(async (route) => {
      const path = String((route.match as { path: string }).path).replace('{**rest}', 'p').replace('{x}', 'p').replace('{**r}', 'p');
      const got = await probe(encodeURI(path));
      const names = clusters.get(route.cluster as string)!;
      if (names.length === 0) {
        expect(got.status, `${route.id} → ${route.cluster} (no destinations)`).toBe(503);
      } else {
        expect(got.status, `${route.id} → ${route.cluster}`).toBe(200);
        expect(names, `${route.id} answered by ${got.upstream}`).toContain(got.upstream);
      }
    }));
    if (previous !== null) {
      const ids = new Set(config.routes.map((r) => r.id));
      for (const gone of previous.routes.filter((r) => !ids.has(r.id) && !String(r.id).startsWith('bulk'))) {
        expect((await probe(`/f/${String(gone.id)}/p`)).status, `removed route ${gone.id}`).toBe(404);
      }
    }
  }

  it(`applies or rejects ${RUNS} generated writes whole, never crashing or hanging`, async () => {
    const counts = { applied: 0, unchanged: 0, rejected: 0 };
    const kinds: Record<string, number> = {};
    let current: RawConfig | null = null;
    let version = (await workers())[0].appliedVersion;
    const step = fc.tuple(validConfigArb(ports), fc.option(fc.constantFrom(...MUTATIONS), { freq: 2, nil: null }));
    const samples = fc.sample(step, { seed: Number(process.env.FUZZ_SEED ?? 20240601), numRuns: RUNS });
    for (const [config, mutation] of samples) {
      const mutated = mutation === null ? config : mutation.apply(structuredClone(config));
      const text = mutated === NOT_JSON ? '{"routes": [' : JSON.stringify(mutated);
      const fromLog = gw.logs.length;
      writeConfig(text);
      const outcome = await waitOutcome(fromLog);
      counts[outcome.kind]++;
      const label = mutation?.name ?? 'valid';
      kinds[`${label}:${outcome.kind}`] = (kinds[`${label}:${outcome.kind}`] ?? 0) + 1;
      if (mutation === null) expect(outcome.kind, label).not.toBe('rejected');
      if (mutation?.mustReject) expect(outcome.kind, label).toBe('rejected');
      if (outcome.kind === 'applied') {
        expect(outcome.version, label).toBe(version + 1);
        version = outcome.version;
        await waitWorkersAt(version);
        const applied = mutated as RawConfig;
        await checkServes(applied, current);
        current = applied;
      } else {
        // Rejected or unchanged: the last good configuration keeps serving, at the same version.
        expect((await workers()).every((w) => w.appliedVersion === version), label).toBe(true);
        const s = await probe('/sentinel/x');
        expect(s, label).toEqual({ status: 200, upstream: 'sentinel' });
      }
    }
    const ws = await workers();
    expect(ws.every((w) => w.restarts === 0), 'no worker restarted').toBe(true);
    expect(gw.child.exitCode).toBeNull();
    console.log(`config fuzz: ${RUNS} writes, ${counts.applied} applied, ${counts.unchanged} unchanged, ${counts.rejected} rejected`, kinds);
    expect(counts.applied).toBeGreaterThan(RUNS / 4);
    expect(counts.rejected).toBeGreaterThan(RUNS / 4);
  }, Math.max(240_000, RUNS * 2_000));
});
