/**
 * The seam between the worker pipeline and tracing (OBS-01). With tracing off the pipeline
 * holds `null` and pays one comparison per request; with it on, one RequestTrace per sampled
 * request (an unsampled request gets null too, but its traceparent is still propagated).
 */
/**
 * Every method that starts or ends a span takes `at`, the `performance.now()` reading of that
 * moment when the caller already has one (the pipeline reads the clock for its own timings);
 * it defaults to a fresh reading.
 */
export interface RequestTrace {
  /** Trace id and span id of the server span (hex), e.g. for log lines. */
  readonly traceId: string;
  readonly spanId: string;
  /**
   * Start the client span of one upstream attempt; returns the header lines to send upstream
   * so that the upstream's spans join this trace: `traceparent: ...\r\n`, and
   * `tracestate: ...\r\n` when the caller sent a (valid) one.
   */
  startUpstream(destinationId: string, address: string, attempt: number, at?: number): string;
  /** End the current client span: the upstream status, or the error code when it failed. */
  endUpstream(status: number, errorCode: string | null, at?: number): void;
  /** End the server span with the status sent to the client (499: client went away). */
  end(status: number, errorCode: string | null, at?: number): void;
}

export interface RequestTracer {
  /**
   * Start the server span of a request that matched `routeId`. `traceparent`/`tracestate` are
   * the caller's headers (W3C), when present. Returns null when tracing decides not to record;
   * then the pipeline forwards the caller's traceparent unchanged.
   */
  start(method: string, path: string, routeId: string, host: string, traceparent: string | undefined, tracestate: string | undefined, at?: number): RequestTrace | null;
}
