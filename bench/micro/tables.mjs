// Micro-benchmarks of the control path's table writes and the hot path's picks:
//   node bench/micro/tables.mjs [--quick]      (after `npm run build`)
// - apply one route patch (TableWriter) and read it back (TableReader) with 100, 10k, 100k routes loaded;
// - each balancing policy's pick over 8 destinations, with acquire/release.
import Benchmark from 'benchmark';
import { allocateTables } from '../../dist/shm/layout.js';
import { TableWriter } from '../../dist/shm/table-writer.js';
import { TableReader } from '../../dist/shm/table-reader.js';
import { policyByName, smoothWeightedOrder, acquire, release } from '../../dist/balancing/index.js';
import { LOAD_BALANCING_POLICIES } from '../../dist/config/types.js';
import { HEALTH_UP, kDestHealth, kDestStride, kClusterStride } from '../../dist/shm/layout.js';

const quick = process.argv.includes('--quick');
const suite = new Benchmark.Suite();
const opts = quick ? { maxTime: 0.5, minSamples: 5 } : { maxTime: 2 };

const empty = { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [] };
for (const n of [100, 10_000, 100_000]) {
  const tables = allocateTables({ routes: 131_072, clusters: 16, destinations: 16, authPolicies: 1 });
  const writer = new TableWriter(tables);
  const routes = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, cluster: 'c', match: { path: `/api/svc${i}/{**rest}` } }));
  writer.apply({ ...empty, upsertClusters: [{ id: 'c', destinations: [{ id: 'd', address: 'http://127.0.0.1:9000' }] }], upsertRoutes: routes }, 1);
  const reader = new TableReader(tables);
  reader.poll();
  let v = 1;
  suite.add(`apply+read one route patch, ${n.toLocaleString('en')} routes loaded`, () => {
    v++;
    writer.apply({ ...empty, upsertRoutes: [{ id: 'r42', cluster: 'c', match: { path: `/api/v${v}/{**rest}` } }] }, v);
    const batch = reader.poll();
    if (!batch || batch.routes.size !== 1) throw new Error('expected exactly one changed row');
  }, opts);
}

const n = 8;
const destinations = new Int32Array(new SharedArrayBuffer(n * kDestStride * 4));
const clusters = new Int32Array(new SharedArrayBuffer(kClusterStride * 4));
for (let i = 0; i < n; i++) destinations[i * kDestStride + kDestHealth] = HEALTH_UP;
const ctx = { destinations, clusters, random: Math.random, nowSeconds: () => 1 };
const members = { clusterSlot: 0, slots: Int32Array.from({ length: n }, (_, i) => i), weightedOrder: smoothWeightedOrder([5, 1, 1, 1, 2, 2, 3, 1]) };
for (const name of LOAD_BALANCING_POLICIES) {
  const policy = policyByName(name);
  suite.add(`pick + acquire/release: ${name} (8 destinations)`, () => {
    const idx = policy.pick(members, ctx, true);
    acquire(destinations, idx);
    release(destinations, idx);
  }, opts);
}

suite
  .on('cycle', (e) => {
    const t = e.target;
    console.log(`${t.name.padEnd(62)} ${Math.round(t.hz).toLocaleString('en').padStart(12)} ops/s  ±${t.stats.rme.toFixed(1)}%  (${(1e6 / t.hz).toFixed(2)} µs)`);
  })
  .run();
