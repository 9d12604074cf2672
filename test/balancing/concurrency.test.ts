import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { HEALTH_UP, kClusterCursor, kClusterStride, kDestHealth, kDestInFlight, kDestStride } from '../../src/shm/layout.js';

const FIXTURE = new URL('./fixtures/picker-worker.mjs', import.meta.url);
const BUILT = new URL('../../dist/balancing/index.js', import.meta.url);

function run(policy: string, threads: number, picks: number, n: number, holdEvery = 8) {
  if (!existsSync(BUILT)) throw new Error('dist/ is missing: run `npm run build` (npm test does it) before this test');
  const destinations = new SharedArrayBuffer(n * kDestStride * 4);
  const clusters = new SharedArrayBuffer(kClusterStride * 4);
  const d = new Int32Array(destinations);
  for (let i = 0; i < n; i++) d[i * kDestStride + kDestHealth] = HEALTH_UP;
  const done = Array.from({ length: threads }, () => new Promise<number[]>((resolve, reject) => {
    const w = new Worker(FIXTURE, { workerData: { destinations, clusters, policy, picks, n, holdEvery } });
    w.once('message', resolve);
    w.once('error', reject);
  }));
  return Promise.all(done).then((perThread) => ({
    totals: perThread.reduce((acc, c) => acc.map((x, i) => x + c[i]), new Array<number>(n).fill(0)),
    inFlight: Array.from({ length: n }, (_, i) => Atomics.load(d, i * kDestStride + kDestInFlight)),
    cursor: Atomics.load(new Int32Array(clusters), kClusterCursor),
  }));
}

describe('balancing across real worker threads', () => {
  it('roundRobin_staysExact_acrossFourThreads', async () => {
    const { totals, inFlight, cursor } = await run('round-robin', 4, 50_000, 5);
    expect(totals).toEqual([40_000, 40_000, 40_000, 40_000, 40_000]);
    expect(cursor).toBe(200_000);
    expect(inFlight).toEqual([0, 0, 0, 0, 0]);
  });

  it('leastRequests_returnsInFlightToZero_andSpreadsLoad', async () => {
    const { totals, inFlight } = await run('least-requests', 4, 20_000, 4, 16);
    expect(inFlight).toEqual([0, 0, 0, 0]);
    expect(totals.reduce((a, b) => a + b)).toBe(80_000);
    for (const t of totals) expect(t).toBeGreaterThan(10_000);
  });

  it('powerOfTwoChoices_returnsInFlightToZero', async () => {
    const { totals, inFlight } = await run('power-of-two-choices', 3, 20_000, 6, 32);
    expect(inFlight).toEqual([0, 0, 0, 0, 0, 0]);
    expect(totals.reduce((a, b) => a + b)).toBe(60_000);
  });
});
