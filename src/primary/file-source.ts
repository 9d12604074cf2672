/**
 * The file configuration source: load GATEWAY_CONFIG at start, then watch it. A valid edit is
 * applied without a restart; an invalid edit is rejected with every error logged and the last
 * good configuration keeps serving.
 *
 * The directory is watched rather than the file, because editors and `kubectl`'s ConfigMap
 * mounts replace the file (rename or symlink swap) instead of writing into it. Bursts of
 * events are debounced into one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { formatErrors } from '../config/validate.js';
import { loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { ConfigApplier } from './config-applier.js';

const DEBOUNCE_MS = 100;

export class FileSource {
  readonly #path: string;
  readonly #applier: ConfigApplier;
  readonly #log: Logger;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reloading = Promise.resolve();

  constructor(path: string, applier: ConfigApplier, log: Logger) {
    this.#path = path;
    this.#applier = applier;
    this.#log = log;
  }

  /** Load once; the configuration or every error. */
  async load(): Promise<{ ok: true; config: GatewayConfig } | { ok: false; message: string }> {
    const result = await loadConfigFile(this.#path);
    if (!result.ok) return { ok: false, message: formatErrors(result.errors) };
    return { ok: true, config: result.config };
  }

  watch(): void {
    const file = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file && !String(name).startsWith('..')) return;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#reloading = this.#reloading.then(() => this.#reload());
      }, DEBOUNCE_MS);
    });
  }

  /** Re-read the file now (POST /api/gateway/reload); resolves when applied or rejected. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reload());
    return this.#reloading;
  }

  close(): void {
    this.#watcher?.close();
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #reload(): Promise<void> {
    let result;
    try {
      result = await loadConfigFile(this.#path);
    } catch (err) {
      this.#log.error({ code: 'CONFIG_REJECTED', err, file: this.#path }, 'configuration file could not be read; the last good configuration keeps serving');
      return;
    }
    if (!result.ok) {
      // The version this edit would have become; the applied version stays where it is.
      const version = this.#applier.version + 1;
      const reason = formatErrors(result.errors);
      this.#log.error({ code: 'CONFIG_REJECTED', file: this.#path, version, appliedVersion: this.#applier.version, errors: result.errors }, `configuration file rejected; the last good configuration keeps serving:\n${reason}`);
      this.#applier.rejectedBySource(version, reason);
      return;
    }
    this.#applier.apply(result.config, `file:${this.#path}`);
  }
}
