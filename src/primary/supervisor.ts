/**
 * Supervisor: starts GATEWAY_WORKERS worker threads, tells them when the tables change,
 * tracks the version each one applied, replaces a worker that dies (with exponential backoff
 * so a crash loop does not spin) and drains them all on shutdown.
 *
 * A worker's death never takes the others down: each worker is its own thread with its own
 * uWS loop; the others keep their listen sockets on the shared port and keep serving.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { WorkerSettings } from '../cli/settings.js';
import type { ManagementReply, PrimaryToWorker, WorkerData, WorkerToPrimary } from '../ipc/messages.js';
import type { Logger } from '../observability/logger.js';
import { kDraining, kInstanceReady, type SharedTables } from '../shm/layout.js';

const WORKER_ENTRY = new URL('../worker/main.js', import.meta.url);

export interface WorkerStatus {
  readonly index: number;
  readonly threadId: number;
  readonly appliedVersion: number;
  readonly listening: boolean;
  readonly restarts: number;
}

interface Slot {
  index: number;
  worker: Worker | null;
  appliedVersion: number;
  listening: boolean;
  restarts: number;
  /** Consecutive quick deaths, for the backoff. */
  crashes: number;
  startedAt: number;
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly settings: WorkerSettings;
  readonly tables: SharedTables;
  /** One metrics block per worker index (kept across replacements), or null when metrics are off. */
  readonly metrics: readonly SharedArrayBuffer[] | null;
  readonly maxRoutes: number;
  /** The rate-limit bucket table (one for all workers; a replacement worker gets the same). */
  readonly rateLimits: SharedArrayBuffer;
  readonly log: Logger;
  /** Backoff before restarting a worker: min(max, base * 2^(crashes-1)). */
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
}

/** A worker that lived this long before dying resets the crash count. */
const STABLE_AFTER_MS = 30_000;

export class Supervisor extends EventEmitter {
  readonly #opts: SupervisorOptions;
  readonly #slots: Slot[] = [];
  readonly #control: Int32Array;
  #publishedVersion = -1;
  #stopping = false;

  constructor(opts: SupervisorOptions) {
    super();
    this.#opts = opts;
    this.#control = new Int32Array(opts.tables.control);
  }

  /** Start every worker; resolves when all listen, rejects when one cannot. */
  start(): Promise<void> {
    const listening: Array<Promise<void>> = [];
    for (let i = 0; i < this.#opts.workers; i++) {
      const slot: Slot = { index: i, worker: null, appliedVersion: -1, listening: false, restarts: 0, crashes: 0, startedAt: 0 };
      this.#slots.push(slot);
      listening.push(new Promise((resolve, reject) => this.#spawn(slot, resolve, reject)));
    }
    return Promise.all(listening).then(() => undefined);
  }

  /** Tell every worker that the tables changed up to `version`. */
  notify(version: number): void {
    this.#publishedVersion = version;
    this.#broadcast({ type: 'tables-changed', version });
  }

  status(): WorkerStatus[] {
    return this.#slots.map((s) => ({
      index: s.index, threadId: s.worker?.threadId ?? -1, appliedVersion: s.appliedVersion, listening: s.listening, restarts: s.restarts,
    }));
  }

  /** True once every worker applied the latest published version. */
  converged(): boolean {
    return this.#slots.every((s) => s.appliedVersion === this.#publishedVersion);
  }

  /**
   * Drain: mark the instance draining (readyz 503), ask every worker to stop accepting and
   * finish its in-flight requests within `deadlineMs`, resolve when all have exited.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    Atomics.store(this.#control, kDraining, 1);
    const exits = this.#slots.filter((s) => s.worker).map((s) => new Promise<void>((resolve) => {
      const w = s.worker!;
      const hard = setTimeout(() => {
        this.#opts.log.warn({ worker: s.index }, 'worker did not finish draining in time; terminating it');
        void w.terminate();
      }, deadlineMs + 5_000);
      w.once('exit', () => { clearTimeout(hard); resolve(); });
    }));
    this.#broadcast({ type: 'drain', deadlineMs });
    await Promise.all(exits);
  }

  /** Answer a management request relayed by a worker (a no-op when that worker is gone). */
  replyManagement(workerIndex: number, id: number, reply: ManagementReply): void {
    this.#slots[workerIndex]?.worker?.postMessage({ type: 'management-reply', id, reply } satisfies PrimaryToWorker);
  }

  #broadcast(msg: PrimaryToWorker): void {
    for (const s of this.#slots) s.worker?.postMessage(msg);
  }

  #spawn(slot: Slot, onListening?: () => void, onFailed?: (err: Error) => void): void {
    const data: WorkerData = {
      workerIndex: slot.index, tables: this.#opts.tables, settings: this.#opts.settings,
      metrics: this.#opts.metrics?.[slot.index] ?? null, maxRoutes: this.#opts.maxRoutes, rateLimits: this.#opts.rateLimits,
    };
    const worker = new Worker(WORKER_ENTRY, { workerData: data, stdout: false, stderr: false });
    slot.worker = worker;
    slot.listening = false;
    slot.appliedVersion = -1;
    slot.startedAt = Date.now();
    const log = this.#opts.log;

    worker.on('message', (msg: WorkerToPrimary) => {
      switch (msg.type) {
        case 'listening':
          slot.listening = true;
          if (slot.restarts > 0) log.info({ worker: slot.index, threadId: worker.threadId, restarts: slot.restarts }, 'replacement worker listening');
          else log.debug({ worker: slot.index, threadId: worker.threadId }, 'worker listening');
          onListening?.();
          break;
        case 'applied':
          slot.appliedVersion = msg.version;
          this.#updateReady();
          this.emit('applied', slot.index, msg.version);
          break;
        case 'listen-failed':
          log.error({ worker: slot.index, code: 'LISTEN_FAILED' }, msg.message);
          onFailed?.(new Error(msg.message));
          break;
        case 'management-request':
          this.emit('management-request', slot.index, msg.id, msg.request);
          break;
        case 'drained':
          if (msg.unfinished > 0) log.warn({ worker: slot.index, unfinished: msg.unfinished }, 'drain deadline passed with requests unfinished');
          break;
      }
    });
    worker.on('error', (err) => log.error({ worker: slot.index, err }, 'worker thread failed'));
    worker.on('exit', (code) => {
      slot.worker = null;
      slot.listening = false;
      if (this.#stopping) return;
      const lived = Date.now() - slot.startedAt;
      slot.crashes = lived > STABLE_AFTER_MS ? 1 : slot.crashes + 1;
      const base = this.#opts.restartBaseMs ?? 100;
      const delay = Math.min(this.#opts.restartMaxMs ?? 30_000, base * 2 ** (slot.crashes - 1));
      log.error({ worker: slot.index, exitCode: code, livedMs: lived, restartInMs: delay }, 'worker exited; replacing it');
      this.emit('worker-exit', slot.index, code);
      const timer = setTimeout(() => {
        if (this.#stopping) return;
        slot.restarts++;
        this.#spawn(slot);
      }, delay);
      timer.unref();
    });
  }

  /** The instance is ready once every worker has applied a configuration, and stays so. */
  #updateReady(): void {
    if (Atomics.load(this.#control, kInstanceReady) === 1) return;
    if (this.#slots.every((s) => s.appliedVersion >= 1)) {
      Atomics.store(this.#control, kInstanceReady, 1);
      this.emit('ready');
    }
  }
}
