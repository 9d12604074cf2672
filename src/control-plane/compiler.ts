/**
 * The primary's side of snapshot compilation: one piscina thread that validates and
 * serialises a snapshot (compile-task.ts) while the primary's event loop keeps serving the
 * subscription, the heartbeats and the workers. One thread is enough: snapshots are compiled
 * one at a time (the control-plane queue is serial). It is started on first use and kept while
 * snapshots keep coming, then ends after POOL_IDLE_MS without one: an idle thread that compiled
 * 100,000 routes held ~135 MiB (its heap is never collected once it stops allocating), and a
 * later resync (rare: a gap, an epoch change, a reconnect) pays the thread's start again
 * (about a second to load the validator).
 *
 * A small snapshot (under INLINE_BYTES of text) is compiled on the primary itself: that takes
 * well under a millisecond, less than the hop to the pool.
 */
import { existsSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ConfigError } from '../config/types.js';
import { compileText, type CompileChunk, type CompileResult, type CompileTask } from './compile-task.js';
import type { CanonicalLists } from './config-model.js';

const TASK_FILE = fileURLToPath(new URL('./compile-task.js', import.meta.url));
const CHUNK_SIZE = 2_000;
export const INLINE_BYTES = 64 * 1024;
/** The compile thread ends after this long without a snapshot (see above). */
export const POOL_IDLE_MS = 30_000;

export type Compiled =
  | { readonly ok: true; readonly epoch: string; readonly version: number; readonly lists: CanonicalLists }
  | { readonly ok: false; readonly reason: string; readonly errors: readonly ConfigError[] };

export class SnapshotCompiler {
  #pool: Piscina | null = null;
  readonly #idleMs: number;

  /** `idleMs`: how long the compile thread outlives its last snapshot (tests shorten it). */
  constructor(idleMs = POOL_IDLE_MS) {
    this.#idleMs = idleMs;
  }

  async compile(text: string): Promise<Compiled> {
    if (text.length < INLINE_BYTES) {
      const lists = new Map<string, Array<readonly [string, string]>>();
      const result = compileText(text, (list, pairs) => {
        let all = lists.get(list);
        if (!all) lists.set(list, (all = []));
        for (const pair of pairs) all.push(pair);
      }, CHUNK_SIZE);
      return result.ok ? { ok: true, epoch: result.epoch, version: result.version, lists } : result;
    }
    const pool = this.#ensurePool();
    const { port1, port2 } = new MessageChannel();
    const lists = new Map<string, Array<readonly [string, string]>>();
    const received = new Promise<void>((resolve) => {
      port1.on('message', (chunk: CompileChunk) => {
        if (chunk.kind === 'done') {
          port1.close();
          resolve();
          return;
        }
        let pairs = lists.get(chunk.list);
        if (!pairs) lists.set(chunk.list, (pairs = []));
        for (const pair of chunk.pairs) pairs.push(pair);
      });
    });
    const task: CompileTask = { text, port: port2, chunkSize: CHUNK_SIZE };
    const [result] = await Promise.all([pool.run(task, { transferList: [port2] }) as Promise<CompileResult>, received]);
    if (!result.ok) return result;
    return { ok: true, epoch: result.epoch, version: result.version, lists };
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    await pool?.destroy();
  }

  #ensurePool(): Piscina {
    if (!existsSync(TASK_FILE)) throw new Error(`${TASK_FILE} is missing: build the project (npm run build)`);
    this.#pool ??= new Piscina({ filename: TASK_FILE, minThreads: 0, maxThreads: 1, idleTimeout: this.#idleMs });
    return this.#pool;
  }
}
