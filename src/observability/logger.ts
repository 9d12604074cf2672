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

/** The ids the next log lines carry; '' = none. Two strings, not an object: this runs per traced request. */
let traceIdField = '';
let spanIdField = '';
let clearScheduled = false;

function clearTraceFields(): void {
  traceIdField = '';
  spanIdField = '';
  clearScheduled = false;
}

/** Log lines written from now until the end of this turn carry these ids (see the file comment). */
export function setTraceLogFields(traceId: string, spanId: string): void {
  traceIdField = traceId;
  spanIdField = spanId;
  if (!clearScheduled) {
    clearScheduled = true;
    queueMicrotask(clearTraceFields);
  }
}

/** The fields a log line written now carries (the logger's mixin): a fresh object. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  return traceIdField === '' ? {} : { trace_id: traceIdField, span_id: spanIdField };
}

export function createLogger(level: LogLevel, thread: string | number): Logger {
  return pino(
    {
      level, base: { pid: process.pid, thread }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
      // pino merges the line's fields into the object the mixin returns: always a fresh one.
      mixin: traceLogFields,
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
