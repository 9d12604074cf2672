/**
 * The metrics of one gateway instance, assembled on the primary thread at scrape time:
 *
 *   - the request families counted by workers in shared memory (shared-metrics.ts, rendered
 *     as text: one series per active route can be 100k series);
 *   - the instance's own health, kept in a prom-client Registry: configuration version and
 *     changes, propagation lag, workers, Redis, plus prom-client's process and Node.js
 *     defaults for the primary.
 *
 * Nothing here runs on a worker, and nothing here is on the request path.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApplyOutcome, ConfigApplier } from '../primary/config-applier.js';
import type { Supervisor } from '../primary/supervisor.js';
import type { SharedTables } from '../shm/layout.js';
import { SharedMetrics } from './shared-metrics.js';

/** What the metrics read of an Instance (primary/instance.ts satisfies it). */
export interface MetricsSources {
  /** Per-worker metrics blocks, or null when metrics are off. */
  readonly metrics: readonly SharedArrayBuffer[] | null;
  readonly tables: SharedTables;
  readonly supervisor: Supervisor;
  readonly applier: ConfigApplier;
}

/** Whether the configuration source's Redis connection is up; absent without a Redis source. */
export type RedisConnected = () => boolean;

/** Names of the families kept in the registry; docs/observability.md lists each (a test checks). */
export const INSTANCE_FAMILIES = {
  configVersion: 'fengling_config_version',
  workerConfigVersion: 'fengling_worker_config_version',
  configChanges: 'fengling_config_changes_total',
  propagation: 'fengling_config_propagation_seconds',
  redisConnected: 'fengling_redis_connected',
  workerRestarts: 'fengling_worker_restarts_total',
  workerUp: 'fengling_worker_up',
} as const;

export const PROPAGATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Period of prom-client's event-loop delay sampling on the primary (`nodejs_eventloop_lag_*`). */
const EVENT_LOOP_SAMPLE_MS = 100;
/** Publish times kept for versions no worker acknowledged yet (older ones are forgotten). */
const kPublishTimesKept = 256;

/** Milliseconds since the epoch with sub-millisecond resolution (comparable with a console's timestamps). */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export class InstanceMetrics {
  readonly registry = new Registry();
  readonly #shared: SharedMetrics;
  readonly #sources: MetricsSources;
  readonly #clock: () => number;
  readonly #changes: Counter<'result'>;
  readonly #propagation: Histogram;
  /** Publish time (epoch ms) of recent versions, for the propagation lag. */
  readonly #publishedAt = new Map<number, number>();
  /** Last version each worker acknowledged; -1 while a replacement has not synced yet. */
  readonly #acked: number[];
  readonly #restartsSeen: number[];
  readonly #unwrap: () => void;
  readonly #onApplied = (worker: number, version: number): void => this.#applied(worker, version);
  readonly #onWorkerExit = (worker: number): void => this.#workerExited(worker);

  constructor(sources: MetricsSources, redisConnected: RedisConnected | null = null, clock: () => number = epochMs) {
    if (sources.metrics === null) throw new Error('InstanceMetrics needs the metrics blocks (GATEWAY_METRICS_PORT is 0)');
    this.#sources = sources;
    this.#clock = clock;
    this.#shared = new SharedMetrics(sources.metrics, sources.tables);
    const workers = sources.metrics.length;
    this.#acked = sources.supervisor.status().map((s) => s.appliedVersion);
    while (this.#acked.length < workers) this.#acked.push(-1);
    this.#restartsSeen = new Array<number>(workers).fill(0);
    const registers = [this.registry];
    const { supervisor, applier } = sources;

    // prom-client samples the event loop's delay with a timer of this period. Its default, 10
    // ms, woke the idle primary 100 times a second, on the core a 1-worker instance serves from
    // (strace; idle CPU 0.5% of a core, 0.17% at 100 ms). 100 ms still catches any stall of the
    // primary's loop longer than that, which is what the metric is for.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

    new Gauge({
      name: INSTANCE_FAMILIES.configVersion, help: 'Configuration version this instance published to its workers.', registers,
      collect() { this.set(applier.version); },
    });
    new Gauge({
      name: INSTANCE_FAMILIES.workerConfigVersion, help: 'Configuration version each worker applied (-1: not yet).', labelNames: ['worker'], registers,
      collect() { for (const s of supervisor.status()) this.set({ worker: String(s.index) }, s.appliedVersion); },
    });
    new Gauge({
      name: INSTANCE_FAMILIES.workerUp, help: 'Whether each worker thread is alive and listening: 1 yes, 0 no (being replaced).', labelNames: ['worker'], registers,
      collect() { for (const s of supervisor.status()) this.set({ worker: String(s.index) }, s.listening ? 1 : 0); },
    });
    const restartsSeen = this.#restartsSeen;
    new Counter({
      name: INSTANCE_FAMILIES.workerRestarts, help: 'Worker threads replaced after they exited, by worker index.', labelNames: ['worker'], registers,
      collect() {
        for (const s of supervisor.status()) {
          const delta = s.restarts - (restartsSeen[s.index] ?? 0);
          restartsSeen[s.index] = s.restarts;
          this.inc({ worker: String(s.index) }, Math.max(0, delta));
        }
      },
    });
    this.#changes = new Counter({
      name: INSTANCE_FAMILIES.configChanges, help: 'Configuration changes handled: applied, unchanged (identical, nothing written) or rejected (the last good configuration kept serving).',
      labelNames: ['result'], registers,
    });
    for (const result of ['applied', 'unchanged', 'rejected'] as const) this.#changes.inc({ result }, 0);
    // The configuration in place at start was applied before this object existed.
    if (applier.version > 0) this.#changes.inc({ result: 'applied' });
    this.#propagation = new Histogram({
      name: INSTANCE_FAMILIES.propagation,
      help: 'Time from publishing a configuration version to a worker applying it, one observation per worker and version, in seconds.',
      buckets: PROPAGATION_BUCKETS, registers,
    });

    if (redisConnected !== null) {
      new Gauge({
        name: INSTANCE_FAMILIES.redisConnected, help: 'Whether the configuration source\'s Redis connection is up: 1 yes, 0 no.', registers,
        collect() { this.set(redisConnected() ? 1 : 0); },
      });
    }

    this.#unwrap = applier.onOutcome((outcome) => this.recordOutcome(outcome));
    supervisor.on('applied', this.#onApplied);
    supervisor.on('worker-exit', this.#onWorkerExit);
  }

  /** Count a configuration outcome; an applied version starts its propagation clock. */
  recordOutcome(outcome: ApplyOutcome): void {
    this.#changes.inc({ result: outcome.kind });
    if (outcome.kind === 'applied' && !this.#publishedAt.has(outcome.version)) this.configPublishedAt(outcome.version, this.#clock());
  }

  /**
   * When `version` was published, in epoch milliseconds. A source that knows an earlier time
   * (the console's publish timestamp in a Redis event) may call this before applying, and the
   * lag then covers the whole way from the console to the workers.
   */
  configPublishedAt(version: number, epochMillis: number): void {
    this.#publishedAt.set(version, epochMillis);
    if (this.#publishedAt.size > kPublishTimesKept) {
      const oldest = this.#publishedAt.keys().next().value as number;
      this.#publishedAt.delete(oldest);
    }
  }

  /** Keep route labels current between scrapes (a worker acknowledged new tables). */
  #applied(worker: number, version: number): void {
    this.#shared.refresh();
    const previous = this.#acked[worker] ?? -1;
    this.#acked[worker] = version;
    // A replacement worker's first sync is a start, not a propagation.
    if (previous < 0 || version <= previous) return;
    const published = this.#publishedAt.get(version);
    if (published !== undefined) this.#propagation.observe(Math.max(0, this.#clock() - published) / 1000);
  }

  #workerExited(worker: number): void {
    this.#acked[worker] = -1;
    // The exited thread no longer writes its block and its replacement has not started.
    this.#shared.clearInFlight(worker);
  }

  /** The whole scrape: the shared-memory families, then the registry's. */
  async render(): Promise<string> {
    const shared = this.#shared.render();
    return shared + (await this.registry.metrics());
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    const { supervisor } = this.#sources;
    supervisor.off('applied', this.#onApplied);
    supervisor.off('worker-exit', this.#onWorkerExit);
    this.#unwrap();
    this.registry.clear();
  }
}

