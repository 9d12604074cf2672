/**
 * TableReader: a worker's consistent reads of the shared tables (the reader side of the
 * seqlock in layout.ts).
 *
 * `poll()` returns every row that changed since the last successful poll, copied out of shared
 * memory while kSeq stayed even and unchanged, or null when a batch was being written (the
 * caller retries on a later turn of its event loop). A reader that fell more than the patch
 * log's capacity behind, or that has never read, gets a full snapshot of every row in use.
 */
import type { AuthPolicyConfig, ClusterConfig, RouteConfig } from '../config/types.js';
import {
  kDestCluster, kDestOrdinal, kDestWeight,
  kClusterPolicy,
  kLogCapacity, kLogHead, kLogMask, kLogSlot, kLogStride, kLogTable,
  kPublishedVersion, kRowGen, kRowInUse, kRowTextLen, kSeq,
  TABLE_AUTH_POLICIES, TABLE_CLUSTERS, TABLE_DESTINATIONS, TABLE_ROUTES,
  type SharedTables, type TableId, TableViews, textOffset,
} from './layout.js';
import type { DestinationRowText } from './table-writer.js';

export interface DestinationRow extends DestinationRowText {
  readonly slot: number;
  readonly gen: number;
  readonly clusterSlot: number;
  readonly ordinal: number;
  readonly weight: number;
}

export interface ClusterRow {
  readonly slot: number;
  readonly gen: number;
  readonly policy: number;
  readonly config: Omit<ClusterConfig, 'destinations'>;
}

export interface RouteRow {
  readonly slot: number;
  readonly gen: number;
  readonly config: RouteConfig;
}

export interface AuthPolicyRow {
  readonly slot: number;
  readonly gen: number;
  readonly config: AuthPolicyConfig;
}

/** What changed: a slot mapped to its new row, or to null when the row was removed. */
export interface TableBatch {
  readonly version: number;
  /** True when this is a full snapshot: slots absent from the maps are not in use. */
  readonly full: boolean;
  readonly destinations: ReadonlyMap<number, DestinationRow | null>;
  readonly clusters: ReadonlyMap<number, ClusterRow | null>;
  readonly routes: ReadonlyMap<number, RouteRow | null>;
  readonly authPolicies: ReadonlyMap<number, AuthPolicyRow | null>;
}

const decoder = new TextDecoder();

export class TableReader {
  readonly #views: TableViews;
  /** Patch-log records consumed so far; -1 before the first (full) read. */
  #cursor = -1;
  #version = 0;
  /** Private copy of the row text being decoded; grows to the largest row size read. */
  #scratch = new Uint8Array(0);

  constructor(tables: SharedTables) {
    this.#views = new TableViews(tables);
  }

  get views(): TableViews {
    return this.#views;
  }

  /** Version of the last batch returned by poll(). */
  get version(): number {
    return this.#version;
  }

  /** True when the writer has published something this reader has not read yet. */
  hasNews(): boolean {
    return Atomics.load(this.#views.control, kLogHead) !== this.#cursor;
  }

  /** Changes since the last poll, or null when the writer is mid-batch (retry later). */
  poll(): TableBatch | null {
    const { control } = this.#views;
    const seq = Atomics.load(control, kSeq);
    if ((seq & 1) === 1) return null;
    const head = Atomics.load(control, kLogHead);
    const version = Atomics.load(control, kPublishedVersion);
    const behind = (head - this.#cursor) | 0;
    const full = this.#cursor < 0 || behind > kLogCapacity || behind < 0;
    let batch: TableBatch;
    try {
      batch = full ? this.#readAll(version) : this.#readSince(head, version);
    } catch (err) {
      // A row torn by a concurrent batch can fail to parse; only then is this expected.
      if (Atomics.load(control, kSeq) !== seq) return null;
      throw err;
    }
    if (Atomics.load(control, kSeq) !== seq) return null;
    this.#cursor = head;
    this.#version = version;
    return batch;
  }

  #readSince(head: number, version: number): TableBatch {
    const destinations = new Map<number, DestinationRow | null>();
    const clusters = new Map<number, ClusterRow | null>();
    const routes = new Map<number, RouteRow | null>();
    const authPolicies = new Map<number, AuthPolicyRow | null>();
    const log = this.#views.patchLog;
    for (let i = this.#cursor; i !== head; i = (i + 1) | 0) {
      const at = (i & kLogMask) * kLogStride;
      const table = log[at + kLogTable] as TableId;
      const slot = log[at + kLogSlot];
      // A slot written twice in the range is read once, as it is now.
      if (table === TABLE_DESTINATIONS) { if (!destinations.has(slot)) destinations.set(slot, this.#destination(slot)); }
      else if (table === TABLE_CLUSTERS) { if (!clusters.has(slot)) clusters.set(slot, this.#cluster(slot)); }
      else if (table === TABLE_ROUTES) { if (!routes.has(slot)) routes.set(slot, this.#route(slot)); }
      else if (!authPolicies.has(slot)) authPolicies.set(slot, this.#authPolicy(slot));
    }
    return { version, full: false, destinations, clusters, routes, authPolicies };
  }

  #readAll(version: number): TableBatch {
    const destinations = new Map<number, DestinationRow | null>();
    const clusters = new Map<number, ClusterRow | null>();
    const routes = new Map<number, RouteRow | null>();
    const authPolicies = new Map<number, AuthPolicyRow | null>();
    const cap = this.#views.capacities;
    for (let s = 0; s < cap.destinations; s++) { const r = this.#destination(s); if (r) destinations.set(s, r); }
    for (let s = 0; s < cap.clusters; s++) { const r = this.#cluster(s); if (r) clusters.set(s, r); }
    for (let s = 0; s < cap.routes; s++) { const r = this.#route(s); if (r) routes.set(s, r); }
    for (let s = 0; s < cap.authPolicies; s++) { const r = this.#authPolicy(s); if (r) authPolicies.set(s, r); }
    return { version, full: true, destinations, clusters, routes, authPolicies };
  }

  #text(table: TableId, slot: number): unknown {
    const view = this.#views.table(table);
    const { rows, stride, text, textBytes } = view;
    // A torn row (a batch being written meanwhile) may show any length: clamp it; the
    // seqlock check in poll() discards what was read.
    const len = Math.min(Math.max(rows[slot * stride + kRowTextLen], 0), textBytes);
    const at = textOffset(view, slot, len);
    // TextDecoder refuses shared memory: copy the row's bytes into a private scratch buffer
    // first (one per reader, not one allocation per row: a full read is 100,000 rows).
    if (this.#scratch.length < len) this.#scratch = new Uint8Array(textBytes);
    this.#scratch.set(text.subarray(at, at + len));
    return JSON.parse(decoder.decode(this.#scratch.subarray(0, len)));
  }

  #inUse(table: TableId, slot: number): boolean {
    const { rows, stride } = this.#views.table(table);
    return rows[slot * stride + kRowInUse] === 1;
  }

  #destination(slot: number): DestinationRow | null {
    if (!this.#inUse(TABLE_DESTINATIONS, slot)) return null;
    const { rows, stride } = this.#views.table(TABLE_DESTINATIONS);
    const base = slot * stride;
    const text = this.#text(TABLE_DESTINATIONS, slot) as DestinationRowText;
    return {
      slot,
      gen: rows[base + kRowGen],
      id: text.id,
      address: text.address,
      clusterSlot: rows[base + kDestCluster],
      ordinal: rows[base + kDestOrdinal],
      weight: rows[base + kDestWeight],
    };
  }

  #cluster(slot: number): ClusterRow | null {
    if (!this.#inUse(TABLE_CLUSTERS, slot)) return null;
    const { rows, stride } = this.#views.table(TABLE_CLUSTERS);
    const base = slot * stride;
    return {
      slot,
      gen: rows[base + kRowGen],
      policy: rows[base + kClusterPolicy],
      config: this.#text(TABLE_CLUSTERS, slot) as ClusterRow['config'],
    };
  }

  #route(slot: number): RouteRow | null {
    if (!this.#inUse(TABLE_ROUTES, slot)) return null;
    const { rows, stride } = this.#views.table(TABLE_ROUTES);
    return { slot, gen: rows[slot * stride + kRowGen], config: this.#text(TABLE_ROUTES, slot) as RouteConfig };
  }

  #authPolicy(slot: number): AuthPolicyRow | null {
    if (!this.#inUse(TABLE_AUTH_POLICIES, slot)) return null;
    const { rows, stride } = this.#views.table(TABLE_AUTH_POLICIES);
    return { slot, gen: rows[slot * stride + kRowGen], config: this.#text(TABLE_AUTH_POLICIES, slot) as AuthPolicyConfig };
  }
}
