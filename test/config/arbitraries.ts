/**
 * fast-check generators of VALID gateway configurations. Ids come from small pools so that
 * two independently generated configs share routes and clusters, which is what makes their
 * diffs interesting (updates, not only adds and deletes).
 */
import fc from 'fast-check';
import { validateConfig } from '../../src/config/validate.js';
import type { GatewayConfig } from '../../src/config/types.js';

const clusterIds = ['users', 'orders', 'search', 'static'] as const;
const routeIds = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'] as const;

const destinationArb = fc.record(
  {
    id: fc.constantFrom('d1', 'd2', 'd3', 'd4'),
    address: fc.constantFrom('http://10.0.0.1:8080', 'http://10.0.0.2', 'http://svc.internal:9000', 'http://[::1]:81'),
    weight: fc.integer({ min: 1, max: 10_000 }),
    health: fc.constantFrom('up', 'down'),
  },
  { requiredKeys: ['id', 'address'] },
);

const clusterArb = fc.record(
  {
    id: fc.constantFrom(...clusterIds),
    loadBalancing: fc.constantFrom('round-robin', 'weighted-round-robin', 'least-requests', 'power-of-two-choices', 'random', 'first'),
    destinations: fc.uniqueArray(destinationArb, { selector: (d) => d.id, maxLength: 3 }),
    whenAllDown: fc.constantFrom('fail-open', 'fail-closed'),
    retry: fc.record(
      { attempts: fc.integer({ min: 1, max: 10 }), methods: fc.uniqueArray(fc.constantFrom('GET', 'HEAD', 'PUT'), { maxLength: 3 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['id', 'destinations'] },
);

const transformArb = fc.oneof(
  fc.record({ pathRemovePrefix: fc.constantFrom('/api', '/v1') }),
  fc.record({ pathPrefix: fc.constantFrom('/internal', '/v2') }),
  fc.record({ pathSet: fc.constantFrom('/', '/healthz') }),
  fc.record({ requestHeader: fc.constantFrom('X-A', 'X-B'), set: fc.string({ maxLength: 5 }).filter((s) => !/[\r\n\0]/.test(s)) }),
  fc.record({ requestHeader: fc.constantFrom('X-A', 'X-B'), append: fc.constantFrom('1', 'two') }),
  fc.record({ requestHeaderRemove: fc.constantFrom('Cookie', 'X-A') }),
  fc.record({ responseHeader: fc.constantFrom('Cache-Control', 'X-C'), set: fc.constantFrom('no-store', '') }),
  fc.record({ responseHeader: fc.constantFrom('Vary'), append: fc.constantFrom('Accept') }),
  fc.record({ responseHeaderRemove: fc.constantFrom('Server') }),
);

const matchArb = fc.record(
  {
    path: fc.constantFrom('/', '/users', '/users/', '/users/{id}', '/orders/{id}/items/{item}', '/static/{**rest}', '/{**all}'),
    methods: fc.uniqueArray(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), { minLength: 1, maxLength: 3 }),
    hosts: fc.uniqueArray(fc.constantFrom('api.example.com', '*.example.com', 'localhost'), { minLength: 1, maxLength: 2 }),
    headers: fc.array(
      fc.record({ name: fc.constantFrom('X-Canary', 'X-Tenant'), values: fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 2 }) }, { requiredKeys: ['name'] }),
      { minLength: 1, maxLength: 2 },
    ),
  },
  { requiredKeys: ['path'] },
);

function routeArb(clusters: readonly string[]) {
  return fc.record(
    {
      id: fc.constantFrom(...routeIds),
      cluster: fc.constantFrom(...clusters),
      order: fc.integer({ min: -3, max: 3 }),
      match: matchArb,
      transforms: fc.array(transformArb, { maxLength: 3 }),
      timeoutMs: fc.integer({ min: 1, max: 3_600_000 }),
      maxRequestBodyBytes: fc.integer({ min: 0, max: 2 ** 40 }),
      upstreamHost: fc.constantFrom('original', 'destination'),
      authPolicy: fc.constantFrom('jwt-staff', 'jwt-public'),
    },
    { requiredKeys: ['id', 'cluster', 'match'] },
  );
}

/** The auth policies routes may name: both always present, with varying settings. */
const authPoliciesArb = fc.tuple(
  ...(['jwt-staff', 'jwt-public'] as const).map((id) =>
    fc.record(
      {
        id: fc.constant(id),
        jwt: fc.record(
          {
            issuer: fc.constantFrom('https://id.example.com', ['https://a.example', 'https://b.example']),
            audiences: fc.constantFrom(['api'], ['api', 'admin']),
            algorithms: fc.constantFrom(['RS256'], ['ES256', 'RS256']),
            jwksUri: fc.constant('https://id.example.com/jwks.json'),
            clockToleranceSeconds: fc.integer({ min: 0, max: 600 }),
            requiredScopes: fc.constantFrom(['read'], ['read', 'write']),
            claimsToHeaders: fc.constantFrom({ sub: 'X-User-Id' }, { sub: 'X-User-Id', 'org.id': 'X-Org' }),
          },
          { requiredKeys: ['issuer', 'audiences', 'algorithms', 'jwksUri'] },
        ),
      },
    ),
  ),
);

/** Raw input (as a file or the console would send it) that `validateConfig` accepts. */
export const rawConfigArb = fc
  .uniqueArray(clusterArb, { selector: (c) => c.id, maxLength: clusterIds.length })
  .chain((clusters) => {
    const ids = clusters.map((c) => c.id);
    const routes = ids.length === 0 ? fc.constant([]) : fc.uniqueArray(routeArb(ids), { selector: (r) => r.id, maxLength: 5 });
    return fc.tuple(routes, authPoliciesArb).map(([rs, authPolicies]) => ({ routes: rs, clusters, authPolicies }));
  });

/** A validated (normalised, frozen) configuration. */
export const configArb: fc.Arbitrary<GatewayConfig> = rawConfigArb.map((raw) => {
  const result = validateConfig(raw);
  if (!result.ok) throw new Error(`generator produced an invalid config: ${JSON.stringify(result.errors)}`);
  return result.config;
});
