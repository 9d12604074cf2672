/**
 * Micro-benchmark of the worker's route table (src/routing/route-table.ts).
 *
 *   npx tsc -p . && node bench/micro/route-match.mjs
 *
 * Tables of 10, 1k, 10k and 100k generated routes shaped like a real gateway's: per
 * service `/api/svc{i}/users/{id}`, `/api/svc{i}/orders/{id}/items`, `/api/svc{i}/{**rest}`,
 * every tenth service on a host (exact or wildcard), some with methods. Measured: a hit
 * deep in the table, a hit through a host route, a miss, and one upsert + remove into the
 * largest table. Prints ops/sec; `--quick` shortens each measurement.
 */

import Benchmark from 'benchmark';
import { RouteTable, normalizePath } from '../../dist/routing/route-table.js';

const quick = process.argv.includes('--quick');
const SIZES = [10, 1_000, 10_000, 100_000];
const noHeaders = () => undefined;

/** Routes for service i, about four per service. */
function routesOf(i) {
  const hosts = i % 10 === 0 ? [i % 20 === 0 ? `svc${i}.example.com` : `*.svc${i}.example.com`] : undefined;
  return [
    { id: `svc${i}-user`, cluster: 'c', match: { path: `/api/svc${i}/users/{id}`, hosts } },
    { id: `svc${i}-user-write`, cluster: 'c', match: { path: `/api/svc${i}/users/{id}`, methods: ['PUT', 'DELETE'], hosts } },
    { id: `svc${i}-items`, cluster: 'c', match: { path: `/api/svc${i}/orders/{id}/items`, hosts } },
    { id: `svc${i}-rest`, cluster: 'c', match: { path: `/api/svc${i}/{**rest}`, hosts } },
  ];
}

function buildTable(size) {
  const table = new RouteTable();
  for (let i = 0; table.size < size; i++) {
    for (const route of routesOf(i)) {
      if (table.size >= size) break;
      table.upsert(route, { cluster: route.cluster });
    }
  }
  return table;
}

function opsPerSec(bench) {
  return Math.round(bench.hz).toLocaleString('en-US');
}

const results = [];
const suite = new Benchmark.Suite();
const options = quick ? { maxTime: 0.5, minSamples: 5 } : { maxTime: 2 };
const tables = new Map();

for (const size of SIZES) {
  const started = process.hrtime.bigint();
  const table = buildTable(size);
  const buildMs = Number(process.hrtime.bigint() - started) / 1e6;
  tables.set(size, table);
  const lastService = Math.floor((size - 1) / 4);
  // A service without hosts near the end of the table, so no early exit helps.
  const hitService = lastService % 10 === 0 ? Math.max(lastService - 1, 1) : lastService;
  const hitPath = `/api/svc${hitService}/users/12345`;
  const hostService = lastService >= 20 ? Math.floor(lastService / 20) * 20 : 0;
  const hostPath = `/api/svc${hostService}/users/7`;
  const missPath = `/api/nosuchsvc/users/12345`;
  let sink = 0;
  if (table.match('GET', 'gw.example.com', hitPath, noHeaders) === null) throw new Error(`no hit for ${hitPath}`);
  if (table.match('GET', `svc${hostService}.example.com:443`, hostPath, noHeaders) === null) throw new Error(`no hit for ${hostPath}`);
  if (table.match('GET', 'gw.example.com', missPath, noHeaders) !== null) throw new Error('miss matched');
  console.log(`built ${size} routes in ${buildMs.toFixed(1)} ms`);

  suite.add(`match hit      ${String(size).padStart(6)} routes`, () => {
    sink ^= table.match('GET', 'gw.example.com', hitPath, noHeaders).routeId.length;
  }, options);
  suite.add(`match host hit ${String(size).padStart(6)} routes`, () => {
    sink ^= table.match('GET', `svc${hostService}.example.com:443`, hostPath, noHeaders).routeId.length;
  }, options);
  suite.add(`match miss     ${String(size).padStart(6)} routes`, () => {
    sink ^= table.match('GET', 'gw.example.com', missPath, noHeaders) === null ? 1 : 0;
  }, options);
  if (size === SIZES[SIZES.length - 1]) {
    suite.add(`match hit + params.id + normalizePath ${size} routes`, () => {
      const m = table.match('GET', 'gw.example.com', normalizePath(hitPath), noHeaders);
      sink ^= m.params.id.length;
    }, options);
    let n = 0;
    // One upsert of a new route and its removal, so the table stays at `size` routes.
    suite.add(`upsert + remove into ${size} routes`, () => {
      const id = `bench-${n++ & 1023}`;
      table.upsert({ id, cluster: 'c', match: { path: `/api/bench${n & 1023}/things/{id}` } }, null);
      table.remove(id);
    }, options);
    suite.add(`upsert replace existing in ${size} routes`, () => {
      const i = (n++ * 7919) % (size / 4);
      const [route] = routesOf(i);
      table.upsert(route, { cluster: route.cluster });
    }, options);
  }
}

suite
  .on('cycle', (event) => {
    const bench = event.target;
    results.push([bench.name, opsPerSec(bench), `±${bench.stats.rme.toFixed(1)}%`]);
    console.log(`${bench.name.padEnd(48)} ${opsPerSec(bench).padStart(14)} ops/sec ±${bench.stats.rme.toFixed(1)}%`);
  })
  .run();
