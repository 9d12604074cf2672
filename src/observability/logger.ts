/**
 * pino JSON logs to stdout. Every thread writes straight to fd 1 (no hop through the primary);
 * lines carry `thread` (primary or worker index) so one instance's log reads as one stream.
 *
 * With tracing on, the lines written while a request finishes (its access log line) carry the
 * request's `trace_id` and `span_id` (the server span): the tracer sets them when it ends the
 * span and they are cleared at the end of that turn of the event loop, so no later, unrelated
 * line inherits them.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../cli/settings.js';

export type { Logger };

interface TraceLogFields {
  readonly trace_id: string;
  readonly span_id: string;
}

let traceFields: TraceLogFields | null = null;
let clearScheduled = false;

function clearTraceFields(): void {
  traceFields = null;
  clearScheduled = false;
}

/** Log lines written from now until the end of this turn carry these ids (see the file comment). */
export function setTraceLogFields(traceId: string, spanId: string): void {
  traceFields = { trace_id: traceId, span_id: spanId };
  if (!clearScheduled) {
    clearScheduled = true;
    queueMicrotask(clearTraceFields);
  }
}

export function createLogger(level: LogLevel, thread: string | number): Logger {
  return pino(
    {
      level, base: { pid: process.pid, thread }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
      // pino merges the line's fields into the object the mixin returns: always a fresh one.
      mixin: () => (traceFields === null ? {} : { trace_id: traceFields.trace_id, span_id: traceFields.span_id }),
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
