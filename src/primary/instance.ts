/**
 * One gateway instance (one OS process): shared tables, the table writer, a configuration
 * source, and the supervised worker threads. This is the primary thread's composition root.
 */
import { workerSettings, type Settings } from '../cli/settings.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { allocateTables, type SharedTables } from '../shm/layout.js';
import { allocateMetrics } from '../shm/metrics-layout.js';
import { TableWriter } from '../shm/table-writer.js';
import { ConfigApplier } from './config-applier.js';
import { FileSource } from './file-source.js';
import { Supervisor } from './supervisor.js';

export class Instance {
  readonly tables: SharedTables;
  /** Per-worker metrics blocks, read at scrape time; null when GATEWAY_METRICS_PORT=0. */
  readonly metrics: readonly SharedArrayBuffer[] | null;
  readonly writer: TableWriter;
  readonly supervisor: Supervisor;
  readonly applier: ConfigApplier;
  readonly #settings: Settings;
  readonly #log: Logger;
  #source: FileSource | null = null;

  constructor(settings: Settings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    this.tables = allocateTables({ routes: settings.maxRoutes, clusters: settings.maxClusters, destinations: settings.maxDestinations, authPolicies: settings.maxAuthPolicies });
    this.writer = new TableWriter(this.tables);
    this.metrics = settings.metricsPort === 0 ? null : allocateMetrics(settings.workers, settings.maxRoutes);
    this.supervisor = new Supervisor({
      workers: settings.workers, settings: workerSettings(settings), tables: this.tables,
      metrics: this.metrics, maxRoutes: settings.maxRoutes, log,
    });
    this.applier = new ConfigApplier(this.writer, log, (version) => this.supervisor.notify(version));
  }

  /** Load the configuration, publish it, then start the workers (they come up with it). */
  async start(): Promise<void> {
    const source = new FileSource(this.#settings.configPath, this.applier, this.#log);
    const loaded = await source.load();
    if (!loaded.ok) throw new GatewayError('CONFIG_INVALID', `${this.#settings.configPath}:\n${loaded.message}`);
    const outcome = this.applier.apply(loaded.config, `file:${this.#settings.configPath}`);
    if (outcome.kind === 'rejected') throw new GatewayError('CONFIG_INVALID', outcome.reason);
    await this.supervisor.start();
    source.watch();
    this.#source = source;
  }

  async stop(): Promise<void> {
    this.#source?.close();
    await this.supervisor.drain(this.#settings.drainTimeoutMs);
  }
}
