/**
 * Micro-benchmark of JWT route authentication (src/auth), per worker thread:
 *
 *   npx tsc -p . && node bench/micro/jwt.mjs [--quick]
 *
 * For RS256, ES256 and HS256 policies (static keys, generated at start-up, nothing on disk):
 * - cached:   `check()` of a token already verified: the synchronous path every request
 *             after the first takes (bearer parsing, one LRU lookup, the frozen verdict);
 * - uncached: a full verification (header, key selection, jose signature and claims check,
 *             claim mapping) with the verdict cache disabled;
 * - open:     the baseline cost of a route without auth (reading the Authorization values).
 * Prints ops/sec and the cached/uncached ratio. The gateway-level ratio (JWT route vs open
 * route throughput, issue goal >= 90 %) is for the load bench (bench/run.mjs).
 */
import Benchmark from 'benchmark';
import { exportJWK, generateKeyPair, generateSecret, SignJWT } from 'jose';
import { createAuthenticatorFactory } from '../../dist/auth/index.js';

const quick = process.argv.includes('--quick');
const silent = { info() {}, warn() {}, error() {} };
const ISSUER = 'https://id.bench.example';
const AUDIENCE = 'bench-api';

async function setup(alg) {
  const env = {};
  let signingKey;
  if (alg === 'HS256') {
    signingKey = await generateSecret('HS256', { extractable: true });
    env.BENCH_SECRET = (await exportJWK(signingKey)).k;
  } else {
    const pair = await generateKeyPair(alg, { extractable: true });
    signingKey = pair.privateKey;
    env.BENCH_KEY = JSON.stringify(await exportJWK(pair.publicKey));
  }
  const keys = alg === 'HS256' ? [{ secret: '${BENCH_SECRET}', encoding: 'base64url' }] : [{ env: 'BENCH_KEY' }];
  const policy = (cache) => ({
    id: `bench-${alg}-${cache}`,
    jwt: {
      issuer: ISSUER, audiences: [AUDIENCE], algorithms: [alg], keys,
      requiredScopes: ['bench:read'], claimsToHeaders: { sub: 'X-User-Id', tenant: 'X-Tenant-Id' },
      tokenCache: { maxEntries: cache ? 10_000 : 0, negativeTtlSeconds: 0 },
    },
  });
  const factory = createAuthenticatorFactory({ log: silent, env });
  const cached = factory(policy(true));
  const uncached = factory(policy(false));
  const token = await new SignJWT({ sub: 'user-1', tenant: 'acme', scope: 'bench:read' })
    .setProtectedHeader({ alg }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('2h')
    .sign(signingKey);
  const values = [`Bearer ${token}`];
  // Warm both: keys imported, the cached verdict stored.
  for (const a of [cached, uncached]) {
    const v = await a.check(values);
    if (!v.ok) throw new Error(`${alg}: the benchmark token was rejected: ${v.detail}`);
  }
  return { cached, uncached, values };
}

function run(suite) {
  return new Promise((resolve) => {
    const results = new Map();
    suite
      .on('cycle', (event) => {
        const b = event.target;
        results.set(b.name, b.hz);
        console.log(`  ${String(b)}`);
      })
      .on('complete', () => resolve(results))
      .run({ async: true });
  });
}

const options = quick ? { maxTime: 0.5, minSamples: 5 } : { maxTime: 3 };
console.log(`node ${process.version}, jwt micro-benchmark${quick ? ' (quick)' : ''}`);

const open = new Benchmark.Suite();
const headers = ['host', 'gw', 'authorization', 'Bearer x', 'accept', '*/*'];
open.add('open route: collect Authorization values', () => {
  const v = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'authorization') v.push(headers[i + 1]);
  return v;
}, options);
await run(open);

const summary = [];
for (const alg of ['RS256', 'ES256', 'HS256']) {
  const { cached, uncached, values } = await setup(alg);
  const suite = new Benchmark.Suite();
  suite.add(`${alg} cached`, () => {
    const v = cached.check(values);
    if (v instanceof Promise || !v.ok) throw new Error('cached path was not synchronous and ok');
  }, options);
  suite.add(`${alg} uncached (full verification)`, {
    defer: true,
    fn: (deferred) => {
      Promise.resolve(uncached.check(values)).then(() => deferred.resolve());
    },
    ...options,
  });
  const r = await run(suite);
  const c = r.get(`${alg} cached`);
  const u = r.get(`${alg} uncached (full verification)`);
  summary.push({ alg, cachedOpsPerSec: Math.round(c), uncachedOpsPerSec: Math.round(u), ratio: Math.round(c / u) });
  cached.close();
  uncached.close();
}
console.table(summary);
