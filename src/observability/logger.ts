/**
 * pino JSON logs to stdout. Every thread writes straight to fd 1 (no hop through the primary);
 * lines carry `thread` (primary or worker index) so one instance's log reads as one stream.
 *
 * With tracing on, a recorded request's access log line carries its `trace_id` and `span_id`
 * (the server span): the worker puts them into that line's fields (worker/main.ts), so no other
 * line can inherit them.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../cli/settings.js';

export type { Logger };

export function createLogger(level: LogLevel, thread: string | number): Logger {
  return pino(
    {
      level, base: { pid: process.pid, thread }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
