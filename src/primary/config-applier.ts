/**
 * ConfigApplier: the one place where a validated configuration becomes shared-table writes.
 *
 * Two entry points, one model (src/control-plane/config-model.ts, keyed by id):
 * - `apply(next)`: a whole validated configuration (the file source, a Redis resync). It is
 *   diffed against the applied one and only the difference is written, as one batch at the
 *   next version (PERF-02). An identical configuration changes nothing: no batch, no version,
 *   no worker wakes up.
 * - `applyChange(change, version)`: a change that is already checked (a Redis patch, or the
 *   difference a resync computed off the primary's event loop). It costs what it touches, and
 *   it publishes the version even when the change is empty, so that an instance adopts the
 *   version of a snapshot it already matched and every worker acknowledges it.
 * A change the tables cannot hold is rejected whole and the last good configuration keeps
 * serving.
 */
import type { ConfigChange, GatewayConfig } from '../config/types.js';
import { ConfigModel, changeSize, deletes, listsOfChange, upserts } from '../control-plane/config-model.js';
import type { Logger } from '../observability/logger.js';
import { TableCapacityError, type TableWriter } from '../shm/table-writer.js';

/** Changes larger than this (rows) are written in stages by applyChangeAsync. */
export const STAGED_THRESHOLD = 2_000;

export type ApplyOutcome =
  | { readonly kind: 'applied'; readonly version: number; readonly change: ConfigChange }
  | { readonly kind: 'unchanged'; readonly version: number }
  | { readonly kind: 'rejected'; readonly version: number; readonly reason: string };

export class ConfigApplier {
  readonly #writer: TableWriter;
  readonly #listeners = new Set<(outcome: ApplyOutcome) => void>();
  readonly #log: Logger;
  readonly #onPublished: (version: number) => void;
  readonly #model = new ConfigModel();
  #hasConfig = false;
  #version = 0;

  constructor(writer: TableWriter, log: Logger, onPublished: (version: number) => void) {
    this.#writer = writer;
    this.#log = log;
    this.#onPublished = onPublished;
  }

  /** Be told every outcome (applied, unchanged, rejected) exactly once; returns the undo. */
  onOutcome(listener: (outcome: ApplyOutcome) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(outcome: ApplyOutcome): ApplyOutcome {
    for (const l of this.#listeners) l(outcome);
    return outcome;
  }

  /** The applied configuration, or null before the first one. Built on demand: O(size). */
  get config(): GatewayConfig | null {
    return this.#hasConfig ? this.#model.toConfig() : null;
  }

  /** The applied configuration keyed by id (read it; change it only through this class). */
  get model(): ConfigModel {
    return this.#model;
  }

  get hasConfig(): boolean {
    return this.#hasConfig;
  }

  get version(): number {
    return this.#version;
  }

  /**
   * Apply a whole validated configuration. `version` is the source's version when it has one
   * (Redis), else the next local number (file source).
   */
  apply(next: GatewayConfig, source: string, version = this.#version + 1): ApplyOutcome {
    const { change, canon } = this.#model.diff(next);
    if (this.#hasConfig && changeSize(change) === 0) {
      this.#log.info({ version: this.#version, source }, 'configuration unchanged');
      return this.#emit({ kind: 'unchanged', version: this.#version });
    }
    return this.applyChange(change, source, version, canon);
  }

  /** Apply a checked change as one batch at `version`, even an empty one (see above). */
  applyChange(change: ConfigChange, source: string, version: number, canon?: ReadonlyMap<object, string>): ApplyOutcome {
    try {
      this.#writer.apply(change, version, canon);
    } catch (err) {
      return this.#rejected(err, version, source);
    }
    return this.#applied(change, source, version, canon);
  }

  /**
   * applyChange for changes of any size without stalling the primary's event loop: a change
   * of more than STAGED_THRESHOLD rows is written in stages (TableWriter.applyStaged) and
   * published at once. The caller serialises calls (the sources run one step at a time).
   */
  async applyChangeAsync(change: ConfigChange, source: string, version: number, canon?: ReadonlyMap<object, string>): Promise<ApplyOutcome> {
    if (changeSize(change) <= STAGED_THRESHOLD) return this.applyChange(change, source, version, canon);
    try {
      await this.#writer.applyStaged(change, version, canon);
    } catch (err) {
      return this.#rejected(err, version, source);
    }
    return this.#applied(change, source, version, canon);
  }

  /**
   * A source rejected a version before it reached the tables (invalid file or change): it is
   * reported like any other outcome. The caller has logged it with its errors.
   */
  rejectedBySource(version: number, reason: string): ApplyOutcome {
    return this.#emit({ kind: 'rejected', version, reason });
  }

  #rejected(err: unknown, version: number, source: string): ApplyOutcome {
    if (!(err instanceof TableCapacityError)) throw err;
    this.#log.error({ code: 'CONFIG_REJECTED', version, source, reason: err.message }, 'configuration rejected; the last good configuration keeps serving');
    return this.#emit({ kind: 'rejected', version, reason: err.message });
  }

  #applied(change: ConfigChange, source: string, version: number, canon?: ReadonlyMap<object, string>): ApplyOutcome {
    this.#model.apply(change, canon as ReadonlyMap<{ readonly id: string }, string> | undefined);
    this.#hasConfig = true;
    this.#version = version;
    const counts: Record<string, number> = {};
    for (const list of listsOfChange(change)) {
      const name = list[0].toUpperCase() + list.slice(1);
      counts[`upsert${name}`] = upserts(change, list).length;
      counts[`delete${name}`] = deletes(change, list).length;
    }
    this.#log.info({
      version, source, routes: this.#model.size('routes'), clusters: this.#model.size('clusters'), change: counts,
    }, 'configuration applied');
    this.#onPublished(version);
    return this.#emit({ kind: 'applied', version, change });
  }
}
