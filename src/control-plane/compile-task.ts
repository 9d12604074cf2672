/**
 * The piscina task that takes a snapshot's heavy work off the primary's event loop: parse the
 * JSON text, validate the whole configuration (1-2 s for 100,000 routes), and serialise each
 * item canonically. The canonical texts stream back to the primary in chunks over a
 * MessagePort, so the primary receives them across many turns of its event loop (the
 * subscription, the heartbeats and the workers' supervision keep running in between) and
 * diffs them against what it applied with one string comparison per item.
 *
 * This file must be built: piscina loads dist/control-plane/compile-task.js.
 */
import type { MessagePort } from 'node:worker_threads';
import { canonicalJson } from '../config/canonical.js';
import { validateConfig } from '../config/validate.js';
import type { ConfigError } from '../config/types.js';
import { decodeSnapshot } from './codec.js';
import { listsOfConfig } from './config-model.js';

export interface CompileTask {
  readonly text: string;
  readonly port: MessagePort;
  readonly chunkSize: number;
}

/** Sent on the port: a slice of one list, then `done`. */
export type CompileChunk =
  | { readonly kind: 'items'; readonly list: string; readonly pairs: ReadonlyArray<readonly [string, string]> }
  | { readonly kind: 'done' };

export type CompileResult =
  | { readonly ok: true; readonly epoch: string; readonly version: number; readonly counts: Readonly<Record<string, number>> }
  | { readonly ok: false; readonly reason: string; readonly errors: readonly ConfigError[] };

/** At most this many validation errors travel back (the first ones, in document order). */
const MAX_ERRORS = 50;

export default function compileSnapshot(task: CompileTask): CompileResult {
  try {
    return compileText(task.text, (list, pairs) => task.port.postMessage({ kind: 'items', list, pairs } satisfies CompileChunk), task.chunkSize);
  } finally {
    task.port.postMessage({ kind: 'done' } satisfies CompileChunk);
    task.port.close();
  }
}

/** Decode, validate and serialise a snapshot; `emit` receives the canonical texts in slices. */
export function compileText(
  text: string,
  emit: (list: string, pairs: ReadonlyArray<readonly [string, string]>) => void,
  chunkSize: number,
): CompileResult {
  const decoded = decodeSnapshot(text);
  if (!decoded.ok) return { ok: false, reason: `snapshot is malformed: ${decoded.reason}`, errors: [] };
  const result = validateConfig(decoded.value.config);
  if (!result.ok) {
    return { ok: false, reason: `snapshot version ${decoded.value.version} is invalid (${result.errors.length} errors)`, errors: result.errors.slice(0, MAX_ERRORS) };
  }
  const counts: Record<string, number> = {};
  const config = result.config as unknown as Record<string, ReadonlyArray<{ readonly id: string }>>;
  for (const list of listsOfConfig(config)) {
    const items = config[list];
    counts[list] = items.length;
    if (items.length === 0) emit(list, []);
    for (let start = 0; start < items.length; start += chunkSize) {
      emit(list, items.slice(start, start + chunkSize).map((item) => [item.id, canonicalJson(item)] as const));
    }
  }
  return { ok: true, epoch: decoded.value.epoch, version: decoded.value.version, counts };
}
