import { describe, expect, it } from 'vitest';
import type { ClusterConfig, RouteConfig } from '../../src/config/types.js';
import {
  allocateTables, HEALTH_DOWN, HEALTH_UP, kDestHealth, kDestInFlight, kDestStride, kLogCapacity, kRouteTextBytes, kSeq,
  kTextClassShifts, TableViews,
} from '../../src/shm/layout.js';
import { TableReader } from '../../src/shm/table-reader.js';
import { TableCapacityError, TableWriter, type TableChange } from '../../src/shm/table-writer.js';

const small = { routes: 64, clusters: 8, destinations: 16, authPolicies: 4 };

function route(id: string, cluster = 'c1', path = `/${id}`): RouteConfig {
  return { id, cluster, match: { path } };
}
function cluster(id: string, dests: Array<[string, number?]>): ClusterConfig {
  return { id, destinations: dests.map(([d, w]) => ({ id: d, address: `http://127.0.0.1:${9000 + d.length}`, ...(w ? { weight: w } : {}) })) };
}
function change(partial: Partial<TableChange>): TableChange {
  return { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [], ...partial };
}

describe('shared tables', () => {
  it('poll_returnsFullSnapshot_onFirstRead', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a'], ['b', 3]])], upsertRoutes: [route('r1'), route('r2')] }), 1);
    const batch = new TableReader(tables).poll()!;
    expect(batch.full).toBe(true);
    expect(batch.version).toBe(1);
    expect([...batch.routes.values()].map((r) => r!.config.id).sort()).toEqual(['r1', 'r2']);
    expect([...batch.clusters.values()].map((c) => c!.config.id)).toEqual(['c1']);
    const dests = [...batch.destinations.values()].map((d) => [d!.id, d!.weight, d!.ordinal]);
    expect(dests.sort()).toEqual([['a', 1, 0], ['b', 3, 1]]);
  });

  it('poll_returnsOnlyChangedRows_afterAnIncrementalBatch', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    const routes = Array.from({ length: 40 }, (_, i) => route(`r${i}`));
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: routes }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    writer.apply(change({ upsertRoutes: [route('r7', 'c1', '/seven')], deleteRoutes: ['r8'] }), 2);
    const batch = reader.poll()!;
    expect(batch.full).toBe(false);
    expect(batch.version).toBe(2);
    expect(batch.clusters.size).toBe(0);
    expect(batch.destinations.size).toBe(0);
    const rows = [...batch.routes.values()];
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r === null)).toHaveLength(1);
    expect(rows.find((r) => r !== null)!.config.match.path).toBe('/seven');
  });

  it('poll_returnsNull_whileTheWriterIsMidBatch', () => {
    const tables = allocateTables(small);
    const reader = new TableReader(tables);
    const control = new TableViews(tables).control;
    Atomics.add(control, kSeq, 1);
    expect(reader.poll()).toBeNull();
    Atomics.add(control, kSeq, 1);
    expect(reader.poll()).not.toBeNull();
  });

  it('apply_writesNothing_whenTheBatchDoesNotFit', () => {
    const tables = allocateTables({ routes: 4, clusters: 2, destinations: 4, authPolicies: 1 });
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: [route('r1')] }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    const tooMany = Array.from({ length: 5 }, (_, i) => route(`x${i}`));
    expect(() => writer.apply(change({ upsertRoutes: tooMany }), 2)).toThrow(TableCapacityError);
    expect(writer.publishedVersion).toBe(1);
    expect(reader.hasNews()).toBe(false);
    // Slots were not leaked by the failed attempt: a batch that fits still goes in.
    writer.apply(change({ upsertRoutes: tooMany.slice(0, 3) }), 2);
    expect(reader.poll()!.routes.size).toBe(3);
  });

  it('apply_rejectsARowLargerThanItsSlot_andWritesNothing', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    const huge: RouteConfig = { id: 'big', cluster: 'c1', match: { path: '/big', headers: [{ name: 'x', values: ['v'.repeat(4000)] }] } };
    expect(() => writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: [huge] }), 1)).toThrow(/holds at most/);
    expect(new TableReader(tables).poll()!.clusters.size).toBe(0);
  });

  it('smallRows_touchOnlyTheSmallestTextClass', () => {
    // A written byte makes its page resident: 100,000 routes of ~100 bytes must not touch
    // 100,000 places of the largest row size.
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: Array.from({ length: small.routes }, (_, i) => route(`r${i}`)) }), 1);
    const text = new TableViews(tables).routeText;
    const smallest = small.routes * (kRouteTextBytes >> kTextClassShifts[0]);
    expect(text.subarray(0, smallest).some((b) => b !== 0)).toBe(true);
    expect(text.subarray(smallest).every((b) => b === 0)).toBe(true);
    expect(new TableReader(tables).poll()!.routes.size).toBe(small.routes);
  });

  it('rowText_isReadBack_whenAnUpsertMovesItToAnotherClass', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: [route('r1'), route('r2')] }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    const withHeader = (bytes: number): RouteConfig => ({ ...route('r1'), match: { path: '/r1', headers: [{ name: 'x', values: ['v'.repeat(bytes)] }] } });
    // Largest class, middle class, back to the smallest: each version reads back whole, and
    // the neighbour in the next slot is never disturbed.
    const versions = [withHeader(kRouteTextBytes - 200), withHeader((kRouteTextBytes >> kTextClassShifts[1]) - 100), route('r1', 'c1', '/small')];
    versions.forEach((next, i) => {
      writer.apply(change({ upsertRoutes: [next] }), i + 2);
      const rows = [...reader.poll()!.routes.values()];
      expect(rows.map((r) => r!.config)).toEqual([next]);
      const all = new TableReader(tables).poll()!;
      const byId = new Map([...all.routes.values()].map((r) => [r!.config.id, r!.config]));
      expect(byId.get('r1')).toEqual(next);
      expect(byId.get('r2')).toEqual(route('r2'));
    });
  });

  it('clusterUpsert_keepsDestinationSlotsAndHealth_whenDestinationsStay', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a'], ['b']])] }), 1);
    const slotA = writer.destinationSlot('c1', 'a')!;
    writer.setHealth(slotA, false);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a', 5], ['b'], ['c']])] }), 2);
    expect(writer.destinationSlot('c1', 'a')).toBe(slotA);
    const views = new TableViews(tables);
    expect(views.destinations[slotA * kDestStride + kDestHealth]).toBe(HEALTH_DOWN);
    const slotC = writer.destinationSlot('c1', 'c')!;
    expect(views.destinations[slotC * kDestStride + kDestHealth]).toBe(HEALTH_UP);
  });

  it('removedDestination_freesItsSlot_andReaderSeesItGone', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a'], ['b']])] }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    const slotB = writer.destinationSlot('c1', 'b')!;
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])] }), 2);
    expect(writer.destinationSlot('c1', 'b')).toBeUndefined();
    expect(reader.poll()!.destinations.get(slotB)).toBeNull();
  });

  it('reusedSlot_keepsTheInFlightCountOfTheOldOccupant', () => {
    // Requests still running on a removed destination release their count later; resetting
    // it on reuse would drive the new occupant's count negative.
    const tables = allocateTables({ routes: 4, clusters: 2, destinations: 1, authPolicies: 1 });
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])] }), 1);
    const views = new TableViews(tables);
    const slot = writer.destinationSlot('c1', 'a')!;
    Atomics.add(views.destinations, slot * kDestStride + kDestInFlight, 2);
    writer.apply(change({ upsertClusters: [cluster('c1', [['z']])] }), 2);
    expect(writer.destinationSlot('c1', 'z')).toBe(slot);
    expect(views.destinations[slot * kDestStride + kDestInFlight]).toBe(2);
  });

  it('reader_fallsBackToAFullSnapshot_whenItFellBehindThePatchLog', () => {
    const tables = allocateTables({ routes: 4, clusters: 2, destinations: 2, authPolicies: 1 });
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: [route('r1')] }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    let v = 1;
    // Each batch writes one record; overflow the ring.
    for (let i = 0; i <= kLogCapacity; i++) writer.apply(change({ upsertRoutes: [route('r1', 'c1', `/p${i}`)] }), ++v);
    const batch = reader.poll()!;
    expect(batch.full).toBe(true);
    expect(batch.routes.size).toBe(1);
    expect([...batch.routes.values()][0]!.config.match.path).toBe(`/p${kLogCapacity}`);
  });

  it('deleteCluster_removesItsDestinations', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']]), cluster('c2', [['b']])] }), 1);
    const reader = new TableReader(tables);
    reader.poll();
    writer.apply(change({ deleteClusters: ['c2'] }), 2);
    const batch = reader.poll()!;
    expect([...batch.clusters.values()]).toEqual([null]);
    expect([...batch.destinations.values()]).toEqual([null]);
    expect(writer.destinationSlot('c2', 'b')).toBeUndefined();
  });

  it('applyStaged_showsReadersNothingUntilItPublishes_thenTheSameAsApply', async () => {
    const staged = allocateTables(small);
    const plain = allocateTables(small);
    const ws = new TableWriter(staged);
    const wp = new TableWriter(plain);
    const first = change({ upsertClusters: [cluster('c1', [['a'], ['b', 2]])], upsertRoutes: [route('keep'), route('gone')] });
    ws.apply(first, 1);
    wp.apply(first, 1);
    const reader = new TableReader(staged);
    reader.poll();

    const next = change({
      upsertClusters: [cluster('c1', [['a'], ['z']])],
      upsertRoutes: [route('keep', 'c1', '/kept/changed'), ...Array.from({ length: 30 }, (_, i) => route(`n${i}`))],
      deleteRoutes: ['gone'],
    });
    const done = ws.applyStaged(next, 2, undefined, 4);
    // Several turns pass while rows are staged: the reader sees no news at all.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      expect(reader.hasNews()).toBe(false);
      expect(reader.poll()!.routes.size).toBe(0);
    }
    await done;
    wp.apply(next, 2);
    const fromStaged = new TableReader(staged).poll()!;
    const fromPlain = new TableReader(plain).poll()!;
    const ids = (b: typeof fromStaged) => [...b.routes.values()].map((r) => `${r!.config.id}:${r!.config.match.path}`).sort();
    expect(ids(fromStaged)).toEqual(ids(fromPlain));
    expect([...fromStaged.destinations.values()].map((d) => d!.id).sort()).toEqual(['a', 'z']);
    expect(fromStaged.version).toBe(2);
    const incremental = reader.poll()!;
    expect(incremental.full).toBe(false);
    // 'gone' freed its slot and a new route took it in the same batch: 31 rows changed.
    const changed = [...incremental.routes.values()].map((r) => r?.config.id);
    expect(changed).toHaveLength(31);
    expect(changed).not.toContain('gone');
  });

  it('applyStaged_refusesToInterleaveWithAnotherBatch', async () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    const pending = writer.applyStaged(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: Array.from({ length: 20 }, (_, i) => route(`r${i}`)) }), 1, undefined, 2);
    expect(() => writer.apply(change({ upsertRoutes: [route('x')] }), 2)).toThrow(/staged/);
    await pending;
    writer.apply(change({ upsertRoutes: [route('x')] }), 2);
    expect(writer.publishedVersion).toBe(2);
  });

  it('apply_usesTheSourcesCanonicalText_whenGiven', () => {
    const tables = allocateTables(small);
    const writer = new TableWriter(tables);
    const r = route('r1');
    writer.apply(change({ upsertClusters: [cluster('c1', [['a']])], upsertRoutes: [r] }), 1, new Map([[r, '{"cluster":"c1","id":"r1","match":{"path":"/canon"}}']]));
    const batch = new TableReader(tables).poll()!;
    expect([...batch.routes.values()][0]!.config.match.path).toBe('/canon');
  });
});
