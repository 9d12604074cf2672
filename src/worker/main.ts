/**
 * Worker thread entry: one uWS server on the shared port, serving from the shared tables.
 *
 * Life cycle: load native uWS -> read the tables -> listen -> serve; on 'tables-changed' read
 * the tables again (seqlock, retried on a later turn when a batch is mid-write); on 'drain'
 * close the listen socket, let in-flight requests finish until the deadline, report, exit.
 * This uWS build aborts the whole process if a thread exits with a listen socket open, so the
 * listen socket is always closed before the thread ends.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { us_listen_socket } from 'uWebSockets.js';
import { createAuthenticatorFactory } from '../auth/index.js';
import { Http1Pool } from '../forwarder/http1-pool.js';
import type { PrimaryToWorker, WorkerData, WorkerToPrimary } from '../ipc/messages.js';
import { kDraining, kInstanceReady } from '../shm/layout.js';
import { TableReader } from '../shm/table-reader.js';
import { RateLimitTable } from '../shm/rate-limit-table.js';
import { createLogger } from '../observability/logger.js';
import { createRequestTracer } from '../observability/tracing.js';
import { GatewayError, problemBody } from '../errors.js';
import { Pipeline, respondProblem } from './pipeline.js';
import { MANAGEMENT_PREFIX, ManagementRelay } from './management-relay.js';
import { WorkerState } from './state.js';
import { loadNativeUws } from './uws.js';

const data = workerData as WorkerData;
const settings = data.settings;
const log = createLogger(settings.logLevel, data.workerIndex);
const port = parentPort!;

function send(msg: WorkerToPrimary): void {
  port.postMessage(msg);
}

let uws: ReturnType<typeof loadNativeUws>;
try {
  uws = loadNativeUws();
} catch (err) {
  const e = err as GatewayError;
  log.fatal({ code: e.code }, e.message);
  send({ type: 'listen-failed', message: `${e.code}: ${e.message}` });
  process.exit(1);
}

const reader = new TableReader(data.tables);
const control = reader.views.control;
const rateLimits = new RateLimitTable(data.rateLimits);
const state = new WorkerState(
  (host, p, options) => new Http1Pool({ host, port: p }, options),
  {
    maxIdleConnections: settings.upstreamMaxIdle,
    idleTimeoutMs: settings.upstreamIdleTimeoutMs,
    connectTimeoutMs: settings.upstreamConnectTimeoutMs,
    maxResponseHeadBytes: settings.maxResponseHeadBytes,
  },
  createAuthenticatorFactory({ log }),
  rateLimits.hashSeed,
);
const tracer = createRequestTracer(process.env, log);
const pipeline = new Pipeline(state, {
  destinations: reader.views.destinations,
  clusters: reader.views.clusters,
  random: Math.random,
  nowSeconds: () => Math.floor(Date.now() / 1000),
}, {
  upstreamBodyIdleTimeoutMs: settings.upstreamBodyTimeoutMs,
  requestLimits: {
    maxUrlBytes: settings.maxUrlBytes,
    maxHeaderCount: settings.maxHeaderCount,
    maxHeaderBytes: settings.maxHeaderBytes,
    bodyTimeoutMs: settings.requestBodyTimeoutMs,
    maxRequestsPerWorker: settings.maxRequestsPerWorker,
  },
  onAccess: settings.accessLog
    ? (entry, trace) => log.info(trace === null ? { access: entry } : { trace_id: trace.traceId, span_id: trace.spanId, access: entry }, 'request')
    : null,
  metrics: data.metrics ? new Float64Array(data.metrics) : null,
  maxRoutes: data.maxRoutes,
  tracer,
  onEjected: (cluster, destination, seconds) => log.warn({ cluster, destination, seconds }, 'destination ejected by passive outlier detection'),
  rateLimits,
});

let syncScheduled = false;
/** Read the tables and apply what changed; retried on a later turn while a batch is mid-write. */
function sync(): void {
  syncScheduled = false;
  const batch = reader.poll();
  if (batch === null) {
    scheduleSync();
    return;
  }
  try {
    state.apply(batch);
  } catch (err) {
    // A bug, not bad input (the primary validated it): say so loudly and keep serving.
    log.error({ err, version: batch.version }, 'applying a table batch failed');
    return;
  }
  log.debug({ version: batch.version, routes: state.routes.size, full: batch.full }, 'tables applied');
  send({ type: 'applied', version: batch.version, routes: state.routes.size });
}
function scheduleSync(): void {
  if (syncScheduled) return;
  syncScheduled = true;
  setImmediate(sync);
}

sync();
// Backstop for a lost notification: a cheap check of the log head once a second.
const backstop = setInterval(() => { if (reader.hasNews()) scheduleSync(); }, 1000);
backstop.unref();

const app = uws.App();
app.get('/healthz', (res) => {
  res.cork(() => {
    res.writeHeader('content-type', 'application/json');
    res.end('{"status":"alive"}');
  });
});
app.get('/readyz', (res) => {
  const ready = Atomics.load(control, kInstanceReady) === 1 && Atomics.load(control, kDraining) === 0 && state.ready;
  if (!ready) return respondProblem(res, 'NOT_READY', 'GET');
  res.cork(() => {
    res.writeHeader('content-type', 'application/json');
    res.end(`{"status":"ready","version":${state.version}}`);
  });
});
if (settings.faultInjection) {
  // Test-only (GATEWAY_FAULT_INJECTION): an uncaught exception, as a real bug would throw,
  // to exercise worker replacement under traffic. Answered first so the caller knows which
  // worker it hit.
  app.get('/__fengling/fault/crash-worker', (res) => {
    res.cork(() => res.end(JSON.stringify({ worker: data.workerIndex, crashing: true })));
    setTimeout(() => { throw new Error(`fault injection: worker ${data.workerIndex} crashes on request`); }, 10);
  });
}
const management = new ManagementRelay(send);
app.any(`${MANAGEMENT_PREFIX}*`, (res, req) => management.handle(res, req));
app.any('/*', (res, req) => {
  try {
    pipeline.handle(res, req);
  } catch (err) {
    // Never let one request take the worker down; a throw here is a bug worth a log line.
    log.error({ err }, 'request handler threw');
    try {
      res.cork(() => {
        res.writeStatus('500 Internal Server Error');
        res.writeHeader('content-type', 'application/problem+json');
        res.end(problemBody('INTERNAL'));
      });
    } catch {
      /* the response was already completed or aborted */
    }
  }
});

let listenSocket: us_listen_socket | null = null;
app.listen(settings.host, settings.port, (socket) => {
  if (!socket) {
    const message = `cannot listen on ${settings.host}:${settings.port}`;
    log.fatal({ code: 'LISTEN_FAILED' }, message);
    send({ type: 'listen-failed', message });
    process.exit(1);
  }
  listenSocket = socket;
  send({ type: 'listening', port: uws.us_socket_local_port(socket as never) });
});

port.on('message', (msg: PrimaryToWorker) => {
  if (msg.type === 'tables-changed') scheduleSync();
  else if (msg.type === 'management-reply') management.reply(msg.id, msg.reply);
  else if (msg.type === 'drain') drain(msg.deadlineMs);
});

/**
 * Close every uWS socket (listen and client) before this thread ends: this uWS build aborts
 * the whole process when a thread's loop closes with its sockets open. `close()` exists on the
 * native App but is missing from the package's type declarations.
 */
function closeUws(): void {
  if (listenSocket) {
    uws.us_listen_socket_close(listenSocket);
    listenSocket = null;
  }
  (app as unknown as { close(): void }).close();
}

/** How long a draining worker waits without a new request before closing its connections. */
const DRAIN_QUIET_MS = 200;
let draining = false;
function drain(deadlineMs: number): void {
  if (draining) return;
  draining = true;
  // New connections go to the instance's other workers or instances; requests that still
  // arrive on open keep-alive connections are served, and their connections then close.
  if (listenSocket) {
    uws.us_listen_socket_close(listenSocket);
    listenSocket = null;
  }
  pipeline.draining = true;
  const until = Date.now() + deadlineMs;
  const check = (): void => {
    // Close once nothing is in flight AND no request has started for DRAIN_QUIET_MS: a client
    // whose request is on its way over an idle keep-alive connection gets it served (with
    // Connection: close) instead of a reset. The deadline bounds both waits.
    const quiet = performance.now() - pipeline.lastRequestAt >= DRAIN_QUIET_MS;
    if ((pipeline.inFlight > 0 || !quiet) && Date.now() < until) {
      setTimeout(check, 10);
      return;
    }
    const unfinished = pipeline.inFlight;
    closeUws();
    state.close();
    clearInterval(backstop);
    send({ type: 'drained', unfinished });
    // Spans still batched are exported before the thread ends (bounded), and socket close
    // callbacks run meanwhile.
    const flushed = tracer ? Promise.race([tracer.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]) : Promise.resolve();
    void flushed.then(() => setTimeout(() => process.exit(0), 20));
  };
  check();
}

// A bug that escapes every handler ends this worker only: its sockets are closed first (see
// closeUws), the primary replaces it, and the other workers never notice.
let crashing = false;
function crash(err: unknown): void {
  if (crashing) return;
  crashing = true;
  log.fatal({ err }, 'worker crashed; closing its sockets and exiting');
  try {
    closeUws();
  } catch {
    /* already closed */
  }
  setTimeout(() => process.exit(1), 20);
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
