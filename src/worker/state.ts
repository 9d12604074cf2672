/**
 * A worker's compiled view of the shared tables: the route table, the clusters with their
 * members, and one upstream pool per destination. Everything here is a cache derived from the
 * tables and updated by the same patches (TableReader batches); live state (health, in-flight
 * counts, cursors) is never copied: pickers read it from shared memory on every request.
 *
 * `apply` runs synchronously in one task: a request handled before it sees the old batch,
 * one handled after sees the new one, never a mix.
 */
import { policyByIndex, smoothWeightedOrder, type BalancingPolicy, type ClusterMembers } from '../balancing/index.js';
import { OUTLIER_DEFAULTS, type OutlierSettings } from '../balancing/outlier.js';
import type { AuthenticatorFactory, RouteAuthenticator } from '../auth/types.js';
import type { ClusterConfig, HttpMethod } from '../config/types.js';
import type { UpstreamPool, UpstreamPoolOptions } from '../forwarder/types.js';
import { RouteTable } from '../routing/route-table.js';
import { AdmissionQueue } from './admission-queue.js';
import type { ClusterRow, DestinationRow, RouteRow, TableBatch } from '../shm/table-reader.js';
import { compileRoute, type CompiledRoute } from '../transforms/compile.js';

export interface DestinationEntry {
  readonly slot: number;
  readonly id: string;
  readonly address: string;
  /** `host:port`, sent as Host when a route asks for the destination's authority. */
  readonly authority: string;
  readonly pool: UpstreamPool;
  row: DestinationRow;
}

/** A cluster's `limits`, compiled: the Retry-After value is formatted once. */
export interface ClusterLimits {
  readonly maxConcurrentPerDestination: number;
  /** [name, value] for respondProblem. */
  readonly retryAfter: readonly string[];
}

const LIMIT_DEFAULTS = { maxQueuedPerWorker: 100, queueTimeoutMs: 1000, retryAfterSeconds: 1 } as const;

/** The idempotent methods of RFC 9110 §9.2.2: the default retry methods. */
const IDEMPOTENT_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'];
/**
 * Only these are retried after a failure the upstream may have seen (no response head in time,
 * or the connection reset before any response byte), whatever a cluster's retry methods say.
 */
export const IDEMPOTENT: ReadonlySet<string> = new Set(IDEMPOTENT_METHODS);

export interface ClusterEntry {
  readonly id: string;
  slot: number;
  config: Omit<ClusterConfig, 'destinations'>;
  policy: BalancingPolicy;
  members: ClusterMembers;
  /** Index-aligned with members.slots. */
  destinations: DestinationEntry[];
  failOpen: boolean;
  attempts: number;
  retryMethods: ReadonlySet<string>;
  outlier: OutlierSettings;
  /** The per-destination concurrency limit; null = none (the hot path's one check). */
  limits: ClusterLimits | null;
  /**
   * This worker's wait queue, made when the cluster first has limits. It outlives a change
   * that removes them: the requests still waiting are then admitted by its next poll.
   */
  queue: AdmissionQueue | null;
  /** False once the cluster is deleted (a route still holding it then finds no destination). */
  live: boolean;
}

export type PoolFactory = (host: string, port: number, options: UpstreamPoolOptions) => UpstreamPool;

export class WorkerState {
  readonly routes = new RouteTable<CompiledRoute>();
  readonly #clustersBySlot = new Map<number, ClusterEntry>();
  readonly #clustersById = new Map<string, ClusterEntry>();
  readonly #destinations = new Map<number, DestinationEntry>();
  /** Destinations by the slot of their cluster row, so a cluster rebuild touches only its own. */
  readonly #destinationsByCluster = new Map<number, Set<DestinationEntry>>();
  readonly #routeIdBySlot = new Map<number, string>();
  readonly #authenticators = new Map<string, RouteAuthenticator>();
  readonly #authIdBySlot = new Map<number, string>();
  readonly #authFactory: AuthenticatorFactory;
  readonly #poolFactory: PoolFactory;
  readonly #poolOptions: UpstreamPoolOptions;
  /** The instance's rate-limit hash seed, compiled into each route's key seeds. */
  readonly #rateLimitSeed: number;
  #version = -1;

  constructor(poolFactory: PoolFactory, poolOptions: UpstreamPoolOptions, authFactory: AuthenticatorFactory, rateLimitSeed = 0) {
    this.#poolFactory = poolFactory;
    this.#authFactory = authFactory;
    this.#poolOptions = poolOptions;
    this.#rateLimitSeed = rateLimitSeed;
  }

  /** Version of the last applied batch; -1 before the first. */
  get version(): number {
    return this.#version;
  }

  /** A configuration has been applied (versions start at 1; empty tables at 0 are not one). */
  get ready(): boolean {
    return this.#version >= 1;
  }

  cluster(id: string): ClusterEntry | undefined {
    return this.#clustersById.get(id);
  }

  /** The authenticator of an auth policy, or undefined when no such policy is configured. */
  authenticator(policyId: string): RouteAuthenticator | undefined {
    return this.#authenticators.get(policyId);
  }

  clusters(): IterableIterator<ClusterEntry> {
    return this.#clustersById.values();
  }

  apply(batch: TableBatch): void {
    const touched = new Set<ClusterEntry>();
    if (batch.full) this.#dropAbsent(batch);

    for (const [slot, row] of batch.authPolicies) {
      const previous = this.#authIdBySlot.get(slot);
      if (previous !== undefined && (row === null || row.config.id !== previous)) {
        this.#authenticators.get(previous)?.close();
        this.#authenticators.delete(previous);
        this.#authIdBySlot.delete(slot);
      }
      if (row) {
        this.#authenticators.get(row.config.id)?.close();
        this.#authenticators.set(row.config.id, this.#authFactory(row.config));
        this.#authIdBySlot.set(slot, row.config.id);
      }
    }
    for (const [slot, row] of batch.clusters) {
      if (row) this.#upsertCluster(slot, row, touched);
    }
    for (const [slot, row] of batch.destinations) {
      this.#applyDestination(slot, row, touched);
    }
    for (const [slot, row] of batch.routes) {
      if (row) this.#upsertRoute(row);
      else this.#removeRoute(slot);
    }
    for (const [slot, row] of batch.clusters) {
      if (!row) this.#removeCluster(slot);
    }
    for (const cluster of touched) if (cluster.live) this.#rebuildMembers(cluster);
    this.#version = batch.version;
  }

  /** Close every upstream pool (shutdown). */
  close(): void {
    for (const d of this.#destinations.values()) d.pool.close();
    for (const a of this.#authenticators.values()) a.close();
  }

  #dropAbsent(batch: TableBatch): void {
    for (const slot of [...this.#routeIdBySlot.keys()]) if (!batch.routes.has(slot)) this.#removeRoute(slot);
    for (const slot of [...this.#destinations.keys()]) if (!batch.destinations.has(slot)) this.#applyDestination(slot, null, new Set());
    for (const slot of [...this.#clustersBySlot.keys()]) if (!batch.clusters.has(slot)) this.#removeCluster(slot);
    for (const [slot, id] of [...this.#authIdBySlot]) {
      if (batch.authPolicies.has(slot)) continue;
      this.#authenticators.get(id)?.close();
      this.#authenticators.delete(id);
      this.#authIdBySlot.delete(slot);
    }
  }

  #upsertCluster(slot: number, row: ClusterRow, touched: Set<ClusterEntry>): void {
    const id = row.config.id;
    // The slot may have been freed and reused by another cluster within the batches read.
    const occupant = this.#clustersBySlot.get(slot);
    if (occupant && occupant.id !== id) this.#removeCluster(slot);
    let entry = this.#clustersById.get(id);
    if (entry && entry.slot !== slot) this.#clustersBySlot.delete(entry.slot);
    const attempts = row.config.retry?.attempts ?? 2;
    const retryMethods = new Set<string>(row.config.retry?.methods ?? IDEMPOTENT_METHODS);
    const outlier: OutlierSettings = { ...OUTLIER_DEFAULTS, ...row.config.outlierDetection };
    const configured = row.config.limits;
    let limits: ClusterLimits | null = null;
    let queue = entry?.queue ?? null;
    if (configured !== undefined) {
      const l = { ...LIMIT_DEFAULTS, ...configured };
      limits = { maxConcurrentPerDestination: l.maxConcurrentPerDestination, retryAfter: ['retry-after', String(l.retryAfterSeconds)] };
      if (queue === null) queue = new AdmissionQueue(l.maxQueuedPerWorker, l.queueTimeoutMs);
      else queue.configure(l.maxQueuedPerWorker, l.queueTimeoutMs);
    }
    if (!entry) {
      entry = {
        id, slot, config: row.config, policy: policyByIndex(row.policy),
        members: { clusterSlot: slot, slots: new Int32Array(0), weightedOrder: null },
        destinations: [], failOpen: row.config.whenAllDown === 'fail-open', attempts, retryMethods, outlier, limits, queue, live: true,
      };
      this.#clustersById.set(id, entry);
    } else {
      entry.slot = slot;
      entry.config = row.config;
      entry.policy = policyByIndex(row.policy);
      entry.failOpen = row.config.whenAllDown === 'fail-open';
      entry.attempts = attempts;
      entry.retryMethods = retryMethods;
      entry.outlier = outlier;
      entry.limits = limits;
      entry.queue = queue;
      entry.live = true;
    }
    this.#clustersBySlot.set(slot, entry);
    touched.add(entry);
  }

  #removeCluster(slot: number): void {
    const entry = this.#clustersBySlot.get(slot);
    if (!entry) return;
    this.#clustersBySlot.delete(slot);
    this.#destinationsByCluster.delete(slot);
    if (this.#clustersById.get(entry.id) === entry) this.#clustersById.delete(entry.id);
    entry.live = false;
    entry.destinations = [];
    entry.members = { clusterSlot: slot, slots: new Int32Array(0), weightedOrder: null };
  }

  #applyDestination(slot: number, row: DestinationRow | null, touched: Set<ClusterEntry>): void {
    const old = this.#destinations.get(slot);
    if (old) {
      const oldCluster = this.#clustersBySlot.get(old.row.clusterSlot);
      if (oldCluster) touched.add(oldCluster);
    }
    if (old) this.#destinationsByCluster.get(old.row.clusterSlot)?.delete(old);
    if (!row) {
      if (old) {
        old.pool.close();
        this.#destinations.delete(slot);
      }
      return;
    }
    let entry: DestinationEntry;
    if (old && old.address === row.address && old.id === row.id) {
      old.row = row;
      entry = old;
    } else {
      old?.pool.close();
      const url = new URL(row.address);
      const port = url.port ? Number(url.port) : 80;
      const host = url.hostname.replace(/^\[|\]$/g, '');
      entry = {
        slot, id: row.id, address: row.address, authority: url.host, row,
        pool: this.#poolFactory(host, port, this.#poolOptions),
      };
      this.#destinations.set(slot, entry);
    }
    let set = this.#destinationsByCluster.get(row.clusterSlot);
    if (!set) this.#destinationsByCluster.set(row.clusterSlot, (set = new Set()));
    set.add(entry);
    const cluster = this.#clustersBySlot.get(row.clusterSlot);
    if (cluster) touched.add(cluster);
  }

  #rebuildMembers(cluster: ClusterEntry): void {
    const members = [...(this.#destinationsByCluster.get(cluster.slot) ?? [])]
      .sort((a, b) => a.row.ordinal - b.row.ordinal);
    cluster.destinations = members;
    const slots = Int32Array.from(members, (d) => d.slot);
    const weighted = cluster.config.loadBalancing === 'weighted-round-robin';
    cluster.members = {
      clusterSlot: cluster.slot,
      slots,
      weightedOrder: weighted ? smoothWeightedOrder(members.map((d) => d.row.weight)) : null,
    };
  }

  #upsertRoute(row: RouteRow): void {
    const previousId = this.#routeIdBySlot.get(row.slot);
    if (previousId !== undefined && previousId !== row.config.id) this.routes.remove(previousId);
    this.routes.upsert(row.config, compileRoute(row.config, row.slot, this.#rateLimitSeed));
    this.#routeIdBySlot.set(row.slot, row.config.id);
  }

  #removeRoute(slot: number): void {
    const id = this.#routeIdBySlot.get(slot);
    if (id === undefined) return;
    this.#routeIdBySlot.delete(slot);
    this.routes.remove(id);
  }
}
