/**
 * One gateway instance (one OS process): shared tables, the table writer, a configuration
 * source, and the supervised worker threads. This is the primary thread's composition root.
 */
import { workerSettings, type Settings } from '../cli/settings.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { startMetricsServer, type MetricsServer } from '../observability/metrics-server.js';
import { allocateTables, type SharedTables } from '../shm/layout.js';
import { allocateMetrics } from '../shm/metrics-layout.js';
import { TableWriter } from '../shm/table-writer.js';
import { RedisSource } from '../control-plane/redis-source.js';
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
  #source: FileSource | RedisSource | null = null;
  /** GET /metrics on GATEWAY_METRICS_PORT (observability/metrics-server.ts); null when off. */
  #metricsServer: MetricsServer | null = null;

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

  /** Where the configuration comes from, for the start line: `file:<path>` or `redis:<url> prefix=...`. */
  get configSource(): string {
    if (this.#source instanceof RedisSource) return this.#source.description;
    return `file:${this.#settings.configPath}`;
  }

  /**
   * Load the configuration, publish it, then start the workers (they come up with it).
   * With REDIS_URL the configuration is the snapshot in Redis (or, while Redis is down, the
   * saved state); when there is neither, the workers start with empty tables and /readyz
   * answers 503 until a configuration arrives.
   */
  async start(): Promise<void> {
    if (this.#settings.redisUrl) {
      const s = this.#settings;
      const source = new RedisSource({
        url: s.redisUrl, prefix: s.redisPrefix, stateDir: s.stateDir, instanceId: s.instanceId,
        antiEntropyMs: s.antiEntropyMs, heartbeatTtlMs: s.heartbeatTtlMs, startWaitMs: s.redisStartWaitMs,
        host: s.host, port: s.port, applier: this.applier, writer: this.writer, supervisor: this.supervisor, log: this.#log,
      });
      this.#source = source;
      await source.start();
      await this.supervisor.start();
      this.#metricsServer = await startMetricsServer(this, this.#settings, this.#log, () => source.heartbeat().connected);
      return;
    }
    const source = new FileSource(this.#settings.configPath, this.applier, this.#log);
    const loaded = await source.load();
    if (!loaded.ok) throw new GatewayError('CONFIG_INVALID', `${this.#settings.configPath}:\n${loaded.message}`);
    const outcome = this.applier.apply(loaded.config, `file:${this.#settings.configPath}`);
    if (outcome.kind === 'rejected') throw new GatewayError('CONFIG_INVALID', outcome.reason);
    await this.supervisor.start();
    this.#metricsServer = await startMetricsServer(this, this.#settings, this.#log);
    source.watch();
    this.#source = source;
  }

  async stop(): Promise<void> {
    if (this.#source instanceof RedisSource) await this.#source.stop();
    else this.#source?.close();
    await this.supervisor.drain(this.#settings.drainTimeoutMs);
    await this.#metricsServer?.close();
  }
}
