/**
 * The trie against the brute-force reference matcher (reference-matcher.ts): random route
 * sets, random incremental changes, random requests; every answer must be identical,
 * route id and parameters.
 */

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { HeaderMatchConfig, HttpMethod, RouteConfig } from '../../src/config/types.js';
import { RouteTable } from '../../src/routing/route-table.js';
import { referenceMatch, type ReferenceRequest } from './reference-matcher.js';
import { seeded as prng } from '../support/random.js';

function check(table: RouteTable<RouteConfig>, routes: Map<string, RouteConfig>, req: ReferenceRequest): void {
  const actual = table.match(req.method, req.host, req.path, (name) => req.headers[name]);
  const expected = referenceMatch(routes.values(), req);
  const got = actual === null ? null : { routeId: actual.routeId, params: { ...actual.params } };
  if (actual !== null) expect(actual.payload).toBe(routes.get(actual.routeId));
  expect(got, JSON.stringify(req)).toEqual(expected);
}

// Small alphabets so that random routes collide and every precedence rule gets exercised.
const literalArb = fc.constantFrom('a', 'b', 'B', 'c');
const templateArb = fc
  .tuple(
    fc.array(fc.oneof(literalArb, fc.constant('{p}')), { maxLength: 3 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([segments, catchAll, trailingSlash]) => {
    const named = segments.map((s, i) => (s === '{p}' ? `{p${i}}` : s));
    if (catchAll) named.push('{**rest}');
    const path = '/' + named.join('/');
    return trailingSlash && path.length > 1 ? path + '/' : path;
  });
const hostArb = fc.constantFrom('a.com', 'x.a.com', '*.a.com', '*.x.a.com', 'c.com');
const methodArb = fc.constantFrom<HttpMethod>('GET', 'POST', 'HEAD');
const headerArb: fc.Arbitrary<HeaderMatchConfig> = fc.record(
  { name: fc.constantFrom('x-a', 'X-B'), values: fc.constantFrom(['1'], ['v', 'W']) },
  { requiredKeys: ['name'] },
);
const routeArb: fc.Arbitrary<RouteConfig> = fc.record({
  id: fc.constantFrom('r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11'),
  path: templateArb,
  hosts: fc.option(fc.uniqueArray(hostArb, { maxLength: 2 }), { nil: undefined }),
  methods: fc.option(fc.uniqueArray(methodArb, { maxLength: 2 }), { nil: undefined }),
  headers: fc.option(fc.array(headerArb, { maxLength: 2 }), { nil: undefined }),
  order: fc.option(fc.integer({ min: -1, max: 1 }), { nil: undefined }),
}).map(({ id, path, hosts, methods, headers, order }) => ({
  id,
  cluster: 'c',
  order,
  match: { path, hosts, methods, headers },
}));

const requestArb: fc.Arbitrary<ReferenceRequest> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'HEAD', 'get', 'PUT'),
  host: fc.constantFrom('a.com', 'A.COM:8080', 'x.a.com', 'y.x.a.com', 'z.a.com.', 'c.com', 'd.org'),
  path: fc
    .tuple(fc.array(fc.constantFrom('a', 'b', 'A', 'c', 'zz', ''), { maxLength: 5 }), fc.boolean())
    .map(([segments, trailing]) => '/' + segments.join('/') + (trailing && segments.length > 0 ? '/' : '')),
  headers: fc.record({ 'x-a': fc.constantFrom('1', '2'), 'x-b': fc.constantFrom('v', 'W', 'w', 'x') }, { requiredKeys: [] }),
});

type Op = { readonly kind: 'upsert'; readonly route: RouteConfig } | { readonly kind: 'remove'; readonly id: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: routeArb.map((route) => ({ kind: 'upsert' as const, route })) },
  { weight: 1, arbitrary: fc.constantFrom('r0', 'r1', 'r2', 'r3', 'r4', 'r5').map((id) => ({ kind: 'remove' as const, id })) },
);

function apply(table: RouteTable<RouteConfig>, routes: Map<string, RouteConfig>, op: Op): void {
  if (op.kind === 'upsert') {
    table.upsert(op.route, op.route);
    routes.set(op.route.id, op.route);
  } else {
    expect(table.remove(op.id)).toBe(routes.delete(op.id));
  }
  expect(table.size).toBe(routes.size);
}

describe('RouteTable equals the reference matcher', () => {
  it('match_equalsReference_afterAnySequenceOfUpsertsAndRemoves', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.array(requestArb, { minLength: 1, maxLength: 30 }), (ops, requests) => {
        const table = new RouteTable<RouteConfig>();
        const routes = new Map<string, RouteConfig>();
        // Check after every change, so that a stale node left by remove/replace is caught.
        for (const op of ops) {
          apply(table, routes, op);
          for (const req of requests.slice(0, 5)) check(table, routes, req);
        }
        for (const req of requests) check(table, routes, req);
      }),
      { seed: 20240601, numRuns: 400 },
    );
  });

  it('match_isIndependentOfInsertionOrder', () => {
    fc.assert(
      fc.property(fc.uniqueArray(routeArb, { selector: (r) => r.id, maxLength: 12 }), fc.array(requestArb, { maxLength: 20 }), (routes, requests) => {
        const forward = new RouteTable<RouteConfig>();
        const backward = new RouteTable<RouteConfig>();
        for (const r of routes) forward.upsert(r, r);
        for (const r of [...routes].reverse()) backward.upsert(r, r);
        for (const req of requests) {
          const a = forward.match(req.method, req.host, req.path, (n) => req.headers[n]);
          const b = backward.match(req.method, req.host, req.path, (n) => req.headers[n]);
          expect(a?.routeId).toBe(b?.routeId);
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});


describe('RouteTable with 10,000 routes', () => {
  const random = prng(12345);
  const pick = <V>(values: readonly V[]): V => values[Math.floor(random() * values.length)];
  const services = Array.from({ length: 200 }, (_, i) => `svc${i}`);
  const leaves = ['users', 'orders', 'items', 'me', 'v1', 'v2'];
  const hosts = ['api.example.com', 'admin.example.com', '*.example.com', '*.eu.example.com', 'shop.io'];

  function randomRoute(id: string): RouteConfig {
    const segments: string[] = [];
    const depth = 1 + Math.floor(random() * 4);
    for (let i = 0; i < depth; i++) {
      const r = random();
      segments.push(r < 0.5 ? pick(services) : r < 0.8 ? pick(leaves) : `{p${i}}`);
    }
    if (random() < 0.2) segments.push('{**rest}');
    return {
      id,
      cluster: 'c',
      order: random() < 0.1 ? pick([-1, 1]) : undefined,
      match: {
        path: '/' + segments.join('/'),
        hosts: random() < 0.3 ? [pick(hosts)] : undefined,
        methods: random() < 0.3 ? [pick<HttpMethod>(['GET', 'POST', 'DELETE'])] : undefined,
        headers: random() < 0.1 ? [{ name: 'x-tenant', values: [pick(['a', 'b'])] }] : undefined,
      },
    };
  }

  function randomRequest(): ReferenceRequest {
    const depth = 1 + Math.floor(random() * 5);
    const segments = Array.from({ length: depth }, () => (random() < 0.6 ? pick(services) : random() < 0.8 ? pick(leaves) : String(Math.floor(random() * 100))));
    return {
      method: pick(['GET', 'POST', 'DELETE', 'HEAD']),
      host: pick(['api.example.com', 'API.example.com:443', 'x.eu.example.com', 'b.example.com', 'shop.io', 'other.net']),
      path: '/' + segments.join('/') + (random() < 0.1 ? '/' : ''),
      headers: random() < 0.5 ? { 'x-tenant': pick(['a', 'b']) } : {},
    };
  }

  it('match_equalsReference_through10000RoutesAndIncrementalChanges', () => {
    const table = new RouteTable<RouteConfig>();
    const routes = new Map<string, RouteConfig>();
    for (let i = 0; i < 10_000; i++) {
      const r = randomRoute(`route-${i}`);
      table.upsert(r, r);
      routes.set(r.id, r);
    }
    expect(table.size).toBe(10_000);
    let matched = 0;
    for (let i = 0; i < 400; i++) {
      const req = randomRequest();
      check(table, routes, req);
      if (table.match(req.method, req.host, req.path, (n) => req.headers[n]) !== null) matched++;
    }
    // The generator must produce hits, or the comparison above proves little.
    expect(matched).toBeGreaterThan(100);

    for (let round = 0; round < 300; round++) {
      const id = `route-${Math.floor(random() * 12_000)}`;
      const r = random();
      if (r < 0.4) {
        expect(table.remove(id)).toBe(routes.delete(id));
      } else if (r < 0.6 && routes.has(id)) {
        const same = routes.get(id)!;
        table.upsert(same, same);
      } else {
        const changed = randomRoute(id);
        table.upsert(changed, changed);
        routes.set(id, changed);
      }
      for (let k = 0; k < 3; k++) check(table, routes, randomRequest());
    }
    expect(table.size).toBe(routes.size);
  });
});
