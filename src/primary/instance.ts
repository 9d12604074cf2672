/**
 * One gateway instance (one OS process): shared tables, the table writer, a configuration
 * source, and the supervised worker threads. This is the primary thread's composition root.
 */
import { randomInt } from 'node:crypto';
import { workerSettings, type Settings } from '../cli/settings.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { startMetricsServer, type MetricsServer } from '../observability/metrics-server.js';
import { allocateTables, type SharedTables } from '../shm/layout.js';
import { allocateMetrics } from '../shm/metrics-layout.js';
import { allocateRateLimits } from '../shm/rate-limit-layout.js';
import { TableWriter } from '../shm/table-writer.js';
import { RedisSource } from '../control-plane/redis-source.js';
import { AdminKeysError, loadAdminKeys, type AdminKeys } from '../management/admin-keys.js';
import { ManagementApi } from '../management/api.js';
import { createBackend } from '../management/backend.js';
import type { ManagementRequest } from '../ipc/messages.js';
import { problemBody } from '../errors.js';
import { ConfigApplier } from './config-applier.js';
import { FileSource } from './file-source.js';
import { Supervisor } from './supervisor.js';

export class Instance {
  readonly tables: SharedTables;
  /** Per-worker metrics blocks, read at scrape time; null when GATEWAY_METRICS_PORT=0. */
  readonly metrics: readonly SharedArrayBuffer[] | null;
  /** The rate-limit buckets every worker updates (shm/rate-limit-layout.ts). */
  readonly rateLimits: SharedArrayBuffer;
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
    // A random hash seed per instance: clients cannot compute keys that crowd one probe window.
    this.rateLimits = allocateRateLimits(settings.rateLimitBuckets, randomInt(2 ** 31));
    this.supervisor = new Supervisor({
      workers: settings.workers, settings: workerSettings(settings), tables: this.tables,
      metrics: this.metrics, maxRoutes: settings.maxRoutes, rateLimits: this.rateLimits, log,
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
      this.#startManagement(source);
      await source.start();
      await this.supervisor.start();
      this.#metricsServer = await startMetricsServer(this, this.#settings, this.#log, () => source.heartbeat().connected);
      return;
    }
    const source = new FileSource(this.#settings.configPath, this.applier, this.#log);
    this.#startManagement(source);
    const loaded = await source.load();
    if (!loaded.ok) throw new GatewayError('CONFIG_INVALID', `${this.#settings.configPath}:\n${loaded.message}`);
    const outcome = this.applier.apply(loaded.config, `file:${this.#settings.configPath}`);
    if (outcome.kind === 'rejected') throw new GatewayError('CONFIG_INVALID', outcome.reason);
    await this.supervisor.start();
    this.#metricsServer = await startMetricsServer(this, this.#settings, this.#log);
    source.watch();
    this.#source = source;
  }

  /**
   * The management API (src/management): workers relay /api/gateway/* here. Without admin
   * keys it answers 404 and a warning says so: there is never a default credential.
   */
  #startManagement(source: FileSource | RedisSource): void {
    let keys: AdminKeys | null = null;
    const file = this.#settings.adminKeysFile;
    if (file) {
      try {
        keys = loadAdminKeys(file);
      } catch (err) {
        const detail = err instanceof AdminKeysError ? err.message : (err as Error).message;
        throw new GatewayError('SETTING_INVALID', `GATEWAY_ADMIN_KEYS_FILE=${file}: ${detail}`);
      }
      if (keys.size === 0) this.#log.warn({ file }, 'GATEWAY_ADMIN_KEYS_FILE holds no key: the management API is off');
    } else {
      this.#log.warn('GATEWAY_ADMIN_KEYS_FILE is not set: unless the configuration names admin JWTs (managementAuth), the management API (/api/gateway/*) is off');
    }
    const redis = source instanceof RedisSource ? source : null;
    const api = new ManagementApi(keys, createBackend({
      instanceId: this.#settings.instanceId,
      applier: this.applier,
      supervisor: this.supervisor,
      writer: this.writer,
      tables: this.tables,
      log: this.#log,
      sourceStatus: () => (redis ? { source: this.configSource, redis: redis.heartbeat() } : { source: this.configSource }),
      reload: () => (redis ? redis.resyncNow('management reload') : (source as FileSource).reload()),
      redis: redis ? redis.commandConnection : null,
    }));
    this.supervisor.on('management-request', (worker: number, id: number, request: ManagementRequest) => {
      api.handle(request).then(
        (reply) => this.supervisor.replyManagement(worker, id, reply),
        (err: unknown) => {
          this.#log.error({ err, path: request.path }, 'management request failed');
          this.supervisor.replyManagement(worker, id, {
            status: 503, headers: ['content-type', 'application/problem+json'],
            body: JSON.stringify({ ...JSON.parse(problemBody('CONTROL_PLANE_ERROR', `the request could not be completed: ${(err as Error).message}`)), status: 503 }),
          });
        },
      );
    });
  }

  async stop(): Promise<void> {
    if (this.#source instanceof RedisSource) await this.#source.stop();
    else this.#source?.close();
    await this.supervisor.drain(this.#settings.drainTimeoutMs);
    await this.#metricsServer?.close();
  }
}
