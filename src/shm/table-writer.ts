/**
 * TableWriter: the primary's only way to change the shared tables.
 *
 * It turns a ConfigChange (upserts and deletes of routes and clusters) into row writes and
 * patch-log records, published as one batch under the seqlock described in layout.ts. The
 * cost of a change is proportional to the rows it touches, never to the table size (PERF-02).
 *
 * Publish whole: every row text is encoded and every slot reserved before the first shared
 * byte is written, so a change that does not fit (capacity, row size) fails with nothing
 * written and the previous version keeps serving.
 */
import { LOAD_BALANCING_POLICIES, type AuthPolicyConfig, type ClusterConfig, type DestinationConfig, type RouteConfig } from '../config/types.js';
import {
  HEALTH_DOWN, HEALTH_UP,
  kClusterCursor, kClusterPolicy,
  kDestCluster, kDestHealth, kDestOrdinal, kDestWeight,
  kLogHead, kLogMask, kLogSlot, kLogStride, kLogTable, kLogVersion,
  kPublishedVersion, kRowGen, kRowInUse, kRowTextLen, kSeq,
  TABLE_AUTH_POLICIES, TABLE_CLUSTERS, TABLE_DESTINATIONS, TABLE_ROUTES,
  type SharedTables, type TableId, TableViews, textOffset,
} from './layout.js';

/** The batch a writer applies: what changes, not the whole configuration. */
export interface TableChange {
  readonly upsertRoutes: readonly RouteConfig[];
  readonly deleteRoutes: readonly string[];
  readonly upsertClusters: readonly ClusterConfig[];
  readonly deleteClusters: readonly string[];
  readonly upsertAuthPolicies?: readonly AuthPolicyConfig[];
  readonly deleteAuthPolicies?: readonly string[];
}

/** The text a destination row carries (its numeric fields are in the Int32 row). */
export interface DestinationRowText {
  readonly id: string;
  readonly address: string;
}

export class TableCapacityError extends Error {
  readonly code = 'TABLE_CAPACITY';
}

interface PendingRow {
  readonly table: TableId;
  readonly slot: number;
  /** Encoded text, or null for a delete. */
  readonly text: Uint8Array | null;
  readonly fields?: ReadonlyArray<readonly [field: number, value: number]>;
}

const encoder = new TextEncoder();

/** Slot allocation for one table: ids to slots, and a FIFO of freed slots (FIFO delays reuse). */
class SlotMap {
  readonly #byId = new Map<string, number>();
  readonly #free: number[] = [];
  #freeHead = 0;
  #highWater = 0;
  readonly #capacity: number;
  readonly #name: string;

  constructor(capacity: number, name: string) {
    this.#capacity = capacity;
    this.#name = name;
  }

  get(id: string): number | undefined {
    return this.#byId.get(id);
  }

  get size(): number {
    return this.#byId.size;
  }

  ids(): IterableIterator<string> {
    return this.#byId.keys();
  }

  /** Slots a batch would need beyond the free ones; used to check capacity before writing. */
  available(): number {
    return this.#capacity - this.#highWater + (this.#free.length - this.#freeHead);
  }

  assign(id: string): number {
    let slot = this.#byId.get(id);
    if (slot !== undefined) return slot;
    if (this.#freeHead < this.#free.length) {
      slot = this.#free[this.#freeHead++];
      if (this.#freeHead > 1024 && this.#freeHead * 2 > this.#free.length) {
        this.#free.splice(0, this.#freeHead);
        this.#freeHead = 0;
      }
    } else if (this.#highWater < this.#capacity) {
      slot = this.#highWater++;
    } else {
      throw new TableCapacityError(`${this.#name} table is full (${this.#capacity} rows)`);
    }
    this.#byId.set(id, slot);
    return slot;
  }

  release(id: string): number | undefined {
    const slot = this.#byId.get(id);
    if (slot === undefined) return undefined;
    this.#byId.delete(id);
    this.#free.push(slot);
    return slot;
  }
}

export class TableWriter {
  readonly #views: TableViews;
  #staging = false;
  /** The console's health verdicts, consulted when a batch writes a destination row. */
  #healthSource: ((clusterId: string, destinationId: string) => boolean | undefined) | null = null;
  readonly #routes: SlotMap;
  readonly #clusters: SlotMap;
  /** Keyed `clusterId/destinationId`. */
  readonly #destinations: SlotMap;
  readonly #authPolicies: SlotMap;
  /** Destination ids of each cluster, and the health each was last configured with. */
  readonly #clusterDestinations = new Map<string, Map<string, DestinationConfig['health']>>();

  constructor(tables: SharedTables) {
    this.#views = new TableViews(tables);
    const cap = this.#views.capacities;
    this.#routes = new SlotMap(cap.routes, 'route');
    this.#clusters = new SlotMap(cap.clusters, 'cluster');
    this.#destinations = new SlotMap(cap.destinations, 'destination');
    this.#authPolicies = new SlotMap(cap.authPolicies, 'auth policy');
  }

  get publishedVersion(): number {
    return Atomics.load(this.#views.control, kPublishedVersion);
  }

  /** Slot of a destination, for health updates; undefined when unknown. */
  destinationSlot(clusterId: string, destinationId: string): number | undefined {
    return this.#destinations.get(`${clusterId}/${destinationId}`);
  }

  /**
   * Apply a change as one published batch at `version`. Throws TableCapacityError (nothing
   * written) when it does not fit. An empty change still publishes the version, so every
   * worker acknowledges it.
   */
  apply(change: TableChange, version: number, texts?: RowTexts): void {
    if (this.#staging) throw new Error('a staged batch is being written; batches must not interleave');
    const routeTexts = change.upsertRoutes.map((r) => this.#encode(r, TABLE_ROUTES, `route ${r.id}`, texts));
    const pending = this.#plan(change, routeTexts, texts);
    this.#publish(pending, version, null);
  }

  /**
   * The same batch, written without stalling the caller's event loop: route texts are encoded
   * and rows that go into free slots are written over several turns while they are still
   * invisible (not in use, named by no patch-log record), then everything is published in one
   * short seqlocked step. Readers see exactly what apply() would have shown them. Used for
   * large changes (a 100,000-route snapshot); the caller must not start another batch until
   * the promise settles.
   */
  async applyStaged(change: TableChange, version: number, texts?: RowTexts, rowsPerTurn = STAGED_ROWS_PER_TURN): Promise<void> {
    if (this.#staging) throw new Error('a staged batch is being written; batches must not interleave');
    this.#staging = true;
    try {
      const routeTexts: Uint8Array[] = new Array(change.upsertRoutes.length);
      for (let i = 0; i < change.upsertRoutes.length; i++) {
        const r = change.upsertRoutes[i];
        routeTexts[i] = this.#encode(r, TABLE_ROUTES, `route ${r.id}`, texts);
        if (i % rowsPerTurn === rowsPerTurn - 1) await nextTurn();
      }
      const pending = this.#plan(change, routeTexts, texts);
      // Rows bound for a slot that is free now can be written before publishing: no reader
      // looks at a row that is not in use. Rows that replace a row in use wait for the publish.
      const staged = new Set<PendingRow>();
      let written = 0;
      for (const row of pending) {
        if (row.text === null) continue;
        const { rows, stride } = this.#views.table(row.table);
        if (rows[row.slot * stride + kRowInUse] !== 0) continue;
        this.#writeRow(row, false);
        staged.add(row);
        if (++written % rowsPerTurn === 0) await nextTurn();
      }
      this.#publish(pending, version, staged);
    } finally {
      this.#staging = false;
    }
  }

  /**
   * Where console-reported health comes from (the control plane). A destination created by a
   * batch then carries its reported health in that same batch, instead of its configured
   * health for the moment between the batch and a later setHealth().
   */
  setHealthSource(source: (clusterId: string, destinationId: string) => boolean | undefined): void {
    this.#healthSource = source;
  }

  /** Set the console-reported health of a destination (one field, outside any batch). */
  setHealth(slot: number, up: boolean): void {
    const base = slot * this.#views.table(TABLE_DESTINATIONS).stride;
    Atomics.store(this.#views.destinations, base + kDestHealth, up ? HEALTH_UP : HEALTH_DOWN);
  }

  #plan(change: TableChange, routeTexts: readonly Uint8Array[], texts: RowTexts | undefined): PendingRow[] {
    const pending: PendingRow[] = [];
    // Capacity first: count new ids per table, so that a failing batch writes nothing.
    const newRoutes = change.upsertRoutes.filter((r) => this.#routes.get(r.id) === undefined).length;
    const newClusters = change.upsertClusters.filter((c) => this.#clusters.get(c.id) === undefined).length;
    let newDestinations = 0;
    for (const c of change.upsertClusters) {
      for (const d of c.destinations) if (this.#destinations.get(`${c.id}/${d.id}`) === undefined) newDestinations++;
    }
    let freedDestinations = change.deleteClusters.reduce((n, id) => n + (this.#clusterDestinations.get(id)?.size ?? 0), 0);
    for (const c of change.upsertClusters) {
      const previous = this.#clusterDestinations.get(c.id);
      if (!previous) continue;
      const kept = new Set(c.destinations.map((d) => d.id));
      for (const id of previous.keys()) if (!kept.has(id)) freedDestinations++;
    }
    const freedRoutes = change.deleteRoutes.filter((id) => this.#routes.get(id) !== undefined).length;
    const freedClusters = change.deleteClusters.filter((id) => this.#clusters.get(id) !== undefined).length;
    if (newRoutes - freedRoutes > this.#routes.available()) {
      throw new TableCapacityError(`route table is full: ${this.#routes.size} rows used, ${newRoutes} new (raise GATEWAY_MAX_ROUTES)`);
    }
    if (newClusters - freedClusters > this.#clusters.available()) {
      throw new TableCapacityError(`cluster table is full: ${this.#clusters.size} rows used, ${newClusters} new (raise GATEWAY_MAX_CLUSTERS)`);
    }
    if (newDestinations - freedDestinations > this.#destinations.available()) {
      throw new TableCapacityError(`destination table is full: ${this.#destinations.size} rows used, ${newDestinations} new (raise GATEWAY_MAX_DESTINATIONS)`);
    }

    const upsertPolicies = change.upsertAuthPolicies ?? [];
    const deletePolicies = change.deleteAuthPolicies ?? [];
    const newPolicies = upsertPolicies.filter((a) => this.#authPolicies.get(a.id) === undefined).length;
    const freedPolicies = deletePolicies.filter((id) => this.#authPolicies.get(id) !== undefined).length;
    if (newPolicies - freedPolicies > this.#authPolicies.available()) {
      throw new TableCapacityError(`auth policy table is full: ${this.#authPolicies.size} rows used, ${newPolicies} new (raise GATEWAY_MAX_AUTH_POLICIES)`);
    }

    // Encode every text before assigning any slot, so an oversize row fails the batch cleanly.
    const clusterTexts = change.upsertClusters.map((c) => {
      const { destinations: _omit, ...settings } = c;
      return this.#encode(settings, TABLE_CLUSTERS, `cluster ${c.id}`);
    });
    const destTexts = change.upsertClusters.map((c) =>
      c.destinations.map((d) => this.#encode({ id: d.id, address: d.address } satisfies DestinationRowText, TABLE_DESTINATIONS, `destination ${c.id}/${d.id}`)),
    );

    const policyTexts = upsertPolicies.map((a) => this.#encode(a, TABLE_AUTH_POLICIES, `auth policy ${a.id}`, texts));

    // Deletes free their slots first, so an upsert in the same batch may reuse nothing it
    // still needs: freed slots go to the back of a FIFO queue.
    for (const id of change.deleteRoutes) {
      const slot = this.#routes.release(id);
      if (slot !== undefined) pending.push({ table: TABLE_ROUTES, slot, text: null });
    }
    for (const id of deletePolicies) {
      const slot = this.#authPolicies.release(id);
      if (slot !== undefined) pending.push({ table: TABLE_AUTH_POLICIES, slot, text: null });
    }
    upsertPolicies.forEach((a, i) => {
      pending.push({ table: TABLE_AUTH_POLICIES, slot: this.#authPolicies.assign(a.id), text: policyTexts[i] });
    });
    for (const id of change.deleteClusters) {
      const dests = this.#clusterDestinations.get(id);
      if (dests) {
        for (const destId of dests.keys()) {
          const slot = this.#destinations.release(`${id}/${destId}`);
          if (slot !== undefined) pending.push({ table: TABLE_DESTINATIONS, slot, text: null });
        }
        this.#clusterDestinations.delete(id);
      }
      const slot = this.#clusters.release(id);
      if (slot !== undefined) pending.push({ table: TABLE_CLUSTERS, slot, text: null });
    }

    change.upsertClusters.forEach((c, ci) => {
      const isNew = this.#clusters.get(c.id) === undefined;
      const clusterSlot = this.#clusters.assign(c.id);
      const policy = Math.max(0, LOAD_BALANCING_POLICIES.indexOf(c.loadBalancing ?? 'round-robin'));
      const fields: Array<readonly [number, number]> = [[kClusterPolicy, policy]];
      if (isNew) fields.push([kClusterCursor, 0]);
      pending.push({ table: TABLE_CLUSTERS, slot: clusterSlot, text: clusterTexts[ci], fields });

      const previous = this.#clusterDestinations.get(c.id) ?? new Map<string, DestinationConfig['health']>();
      const next = new Map<string, DestinationConfig['health']>();
      // Release the destinations this cluster no longer has before assigning new ones, so
      // that a full table can swap one destination for another.
      const kept = new Set(c.destinations.map((d) => d.id));
      for (const destId of previous.keys()) {
        if (kept.has(destId)) continue;
        const slot = this.#destinations.release(`${c.id}/${destId}`);
        if (slot !== undefined) pending.push({ table: TABLE_DESTINATIONS, slot, text: null });
      }
      c.destinations.forEach((d, ordinal) => {
        const key = `${c.id}/${d.id}`;
        const existed = previous.has(d.id);
        const slot = this.#destinations.assign(key);
        const destFields: Array<readonly [number, number]> = [
          [kDestWeight, d.weight ?? 1],
          [kDestCluster, clusterSlot],
          [kDestOrdinal, ordinal],
        ];
        // Health belongs to the console once a destination exists: the configuration's value
        // is applied when the destination is created or when that configured value changes.
        const reported = this.#healthSource?.(c.id, d.id);
        if (reported !== undefined) {
          destFields.push([kDestHealth, reported ? HEALTH_UP : HEALTH_DOWN]);
        } else if (!existed || previous.get(d.id) !== d.health) {
          destFields.push([kDestHealth, d.health === 'down' ? HEALTH_DOWN : HEALTH_UP]);
        }
        pending.push({ table: TABLE_DESTINATIONS, slot, text: destTexts[ci][ordinal], fields: destFields });
        next.set(d.id, d.health);
      });
      this.#clusterDestinations.set(c.id, next);
    });

    change.upsertRoutes.forEach((r, i) => {
      pending.push({ table: TABLE_ROUTES, slot: this.#routes.assign(r.id), text: routeTexts[i] });
    });
    return pending;
  }

  #encode(value: unknown, table: TableId, what: string, texts?: RowTexts): Uint8Array {
    // A source that already holds the item's canonical JSON (a Redis resync) saves a stringify.
    const json = (texts !== undefined && typeof value === 'object' && value !== null ? texts.get(value) : undefined) ?? JSON.stringify(value);
    const bytes = encoder.encode(json);
    const max = this.#views.table(table).textBytes;
    if (bytes.length > max) {
      throw new TableCapacityError(`${what} is ${bytes.length} bytes as stored; a row holds at most ${max}`);
    }
    return bytes;
  }

  /** Write a row's text and fields; `inUse` only when publishing. */
  #writeRow(row: PendingRow, publish: boolean): void {
    const view = this.#views.table(row.table);
    const { rows, stride, text } = view;
    const base = row.slot * stride;
    if (row.text === null) {
      rows[base + kRowInUse] = 0;
      rows[base + kRowTextLen] = 0;
      return;
    }
    text.set(row.text, textOffset(view, row.slot, row.text.length));
    rows[base + kRowTextLen] = row.text.length;
    if (row.fields) for (const [field, value] of row.fields) Atomics.store(rows, base + field, value);
    if (publish) rows[base + kRowInUse] = 1;
  }

  #publish(pending: readonly PendingRow[], version: number, staged: ReadonlySet<PendingRow> | null): void {
    const { control, patchLog } = this.#views;
    Atomics.add(control, kSeq, 1);
    let head = Atomics.load(control, kLogHead);
    for (const row of pending) {
      const { rows, stride } = this.#views.table(row.table);
      const base = row.slot * stride;
      if (staged !== null && staged.has(row)) rows[base + kRowInUse] = 1;
      else this.#writeRow(row, true);
      rows[base + kRowGen] = (rows[base + kRowGen] + 1) | 0;
      const at = (head & kLogMask) * kLogStride;
      patchLog[at + kLogVersion] = version;
      patchLog[at + kLogTable] = row.table;
      patchLog[at + kLogSlot] = row.slot;
      head = (head + 1) | 0;
    }
    Atomics.store(control, kPublishedVersion, version);
    Atomics.store(control, kLogHead, head);
    Atomics.add(control, kSeq, 1);
  }
}

/** Canonical JSON of items, by item object (from a source that already made it). */
export type RowTexts = ReadonlyMap<object, string>;

/** Rows encoded or written per turn of the event loop by applyStaged. */
export const STAGED_ROWS_PER_TURN = 2_000;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
