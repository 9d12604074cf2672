/**
 * ConfigApplier: the one place where a validated configuration becomes shared-table writes.
 *
 * Given the next whole configuration (from any source), it diffs it against the applied one
 * and writes only the difference as one batch at the next version (PERF-02). An identical
 * configuration changes nothing: no batch, no version, no worker wakes up. A change the
 * tables cannot hold is rejected whole and the last good configuration keeps serving.
 */
import { diffConfigs, isEmptyChange } from '../config/diff.js';
import type { ConfigChange, GatewayConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { TableCapacityError, type TableWriter } from '../shm/table-writer.js';

export type ApplyOutcome =
  | { readonly kind: 'applied'; readonly version: number; readonly change: ConfigChange }
  | { readonly kind: 'unchanged'; readonly version: number }
  | { readonly kind: 'rejected'; readonly version: number; readonly reason: string };

const EMPTY: GatewayConfig = { routes: [], clusters: [] };

export class ConfigApplier {
  readonly #writer: TableWriter;
  readonly #log: Logger;
  readonly #onPublished: (version: number) => void;
  #config: GatewayConfig | null = null;
  #version = 0;

  constructor(writer: TableWriter, log: Logger, onPublished: (version: number) => void) {
    this.#writer = writer;
    this.#log = log;
    this.#onPublished = onPublished;
  }

  get config(): GatewayConfig | null {
    return this.#config;
  }

  get version(): number {
    return this.#version;
  }

  /**
   * Apply a whole validated configuration. `version` is the source's version when it has one
   * (Redis), else the next local number (file source).
   */
  apply(next: GatewayConfig, source: string, version = this.#version + 1): ApplyOutcome {
    const change = diffConfigs(this.#config ?? EMPTY, next);
    if (this.#config !== null && isEmptyChange(change)) {
      this.#log.info({ version: this.#version, source }, 'configuration unchanged');
      return { kind: 'unchanged', version: this.#version };
    }
    try {
      this.#writer.apply(change, version);
    } catch (err) {
      if (!(err instanceof TableCapacityError)) throw err;
      this.#log.error({ code: 'CONFIG_REJECTED', version, source, reason: err.message }, 'configuration rejected; the last good configuration keeps serving');
      return { kind: 'rejected', version, reason: err.message };
    }
    this.#config = next;
    this.#version = version;
    this.#log.info({
      version, source, routes: next.routes.length, clusters: next.clusters.length,
      change: {
        upsertRoutes: change.upsertRoutes.length, deleteRoutes: change.deleteRoutes.length,
        upsertClusters: change.upsertClusters.length, deleteClusters: change.deleteClusters.length,
      },
    }, 'configuration applied');
    this.#onPublished(version);
    return { kind: 'applied', version, change };
  }
}
