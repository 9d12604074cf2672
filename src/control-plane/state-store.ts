/**
 * The last good configuration on local disk (GATEWAY_STATE_DIR), for a cold start while Redis
 * is unreachable (as Kong's data planes do with their declarative config cache).
 *
 *   snapshot.json   the raw snapshot text of the last snapshot this instance applied
 *   journal.jsonl   the raw change messages it applied on top of it, one per line
 *
 * Only what was applied is written (a rejected version never reaches the disk), and always
 * as the raw text received: nothing is re-serialised on the primary's event loop. A new
 * snapshot replaces both files (written to a temporary file, then renamed: a crash leaves the
 * old or the new file, never half of one). Writes are queued, one at a time.
 */
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';

export interface SavedState {
  readonly snapshot: string;
  readonly journal: readonly string[];
}

export class StateStore {
  readonly #dir: string;
  readonly #log: Logger;
  #queue: Promise<void> = Promise.resolve();
  #journalLines = 0;

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  get journalLines(): number {
    return this.#journalLines;
  }

  async load(): Promise<SavedState | null> {
    let snapshot: string;
    try {
      snapshot = await readFile(join(this.#dir, 'snapshot.json'), 'utf8');
    } catch {
      return null;
    }
    let journal: string[] = [];
    try {
      journal = (await readFile(join(this.#dir, 'journal.jsonl'), 'utf8')).split('\n').filter((l) => l.length > 0);
    } catch {
      journal = [];
    }
    this.#journalLines = journal.length;
    return { snapshot, journal };
  }

  saveSnapshot(text: string): void {
    this.#journalLines = 0;
    this.#enqueue(async () => {
      await mkdir(this.#dir, { recursive: true });
      const tmp = join(this.#dir, `snapshot.json.${process.pid}.tmp`);
      await writeFile(tmp, text);
      await writeFile(join(this.#dir, 'journal.jsonl'), '');
      await rename(tmp, join(this.#dir, 'snapshot.json'));
    });
  }

  appendChange(message: string): void {
    this.#journalLines++;
    this.#enqueue(async () => {
      await appendFile(join(this.#dir, 'journal.jsonl'), message.replaceAll('\n', ' ') + '\n');
    });
  }

  /** Resolves once every queued write is on disk (or failed and was logged). */
  flush(): Promise<void> {
    return this.#queue;
  }

  #enqueue(write: () => Promise<void>): void {
    this.#queue = this.#queue.then(write).catch((err: unknown) => {
      this.#log.warn({ err, dir: this.#dir }, 'could not save the configuration state; a cold start without Redis may use an older one');
    });
  }
}
