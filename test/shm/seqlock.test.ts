import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../src/config/types.js';
import { allocateTables } from '../../src/shm/layout.js';
import { TableWriter } from '../../src/shm/table-writer.js';

const BUILT = new URL('../../dist/shm/table-reader.js', import.meta.url);

describe('seqlock across real threads', () => {
  it('reader_neverSeesHalfABatch_whileTheWriterPublishesContinuously', async () => {
    if (!existsSync(BUILT)) throw new Error('dist/ is missing: run `npm run build` (npm test does it) first');
    const tables = allocateTables({ routes: 256, clusters: 4, destinations: 4, authPolicies: 1 });
    const writer = new TableWriter(tables);
    const routes = (v: number): RouteConfig[] => Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, cluster: 'c', match: { path: `/v${v}/r${i}` } }));
    writer.apply({ upsertRoutes: routes(1), deleteRoutes: [], upsertClusters: [{ id: 'c', destinations: [{ id: 'd', address: 'http://127.0.0.1:1' }] }], deleteClusters: [] }, 1);

    const ms = 1500;
    const worker = new Worker(new URL('./fixtures/reader-worker.mjs', import.meta.url), { workerData: { tables, ms } });
    const report = new Promise<{ polls: number; retries: number; torn: number; versionsSeen: number; routes: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // Write as fast as possible for the reader's whole window, yielding now and then so the
    // test's own timers run; the reader thread runs in parallel on the other core.
    const until = Date.now() + ms + 200;
    let v = 1;
    while (Date.now() < until) {
      for (let i = 0; i < 200; i++) writer.apply({ upsertRoutes: routes(++v), deleteRoutes: [], upsertClusters: [], deleteClusters: [] }, v);
      await new Promise((r) => setImmediate(r));
    }
    const r = await report;
    expect(r.torn).toBe(0);
    expect(r.routes).toBe(40);
    // The race was real: the reader saw many versions and had to retry mid-write batches.
    expect(r.versionsSeen).toBeGreaterThan(50);
    expect(v).toBeGreaterThan(1000);
  });
});
