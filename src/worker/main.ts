/**
 * Worker thread entry: one uWS server on the shared port, serving from the shared tables.
 *
 * Life cycle: load native uWS -> read the tables -> listen -> serve; on 'tables-changed' read
 * the tables again (seqlock, retried on a later turn when a batch is mid-write); on 'drain'
 * close the listen socket, let in-flight requests finish until the deadline, report, exit.
 * This uWS build aborts the whole process if a thread exits with a listen socket open, so the
 * listen socket is always closed before the thread ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { us_listen_socket } from 'uWebSockets.js';
import { createAuthenticator } from '../auth/index.js';
import { Http1Pool } from '../forwarder/http1-pool.js';
import type { PrimaryToWorker, WorkerData, WorkerToPrimary } from '../ipc/messages.js';
import { kDraining, kInstanceReady } from '../shm/layout.js';
import { TableReader } from '../shm/table-reader.js';
import { createLogger } from '../observability/logger.js';
import { GatewayError, problemBody } from '../errors.js';
import { Pipeline, respondProblem } from './pipeline.js';
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
const state = new WorkerState(
  (host, p, options) => new Http1Pool({ host, port: p }, options),
  {
    maxIdleConnections: settings.upstreamMaxIdle,
    idleTimeoutMs: settings.upstreamIdleTimeoutMs,
    connectTimeoutMs: settings.upstreamConnectTimeoutMs,
    maxResponseHeadBytes: settings.maxResponseHeadBytes,
  },
  createAuthenticator,
);
const pipeline = new Pipeline(state, {
  destinations: reader.views.destinations,
  clusters: reader.views.clusters,
  random: Math.random,
  nowSeconds: () => Math.floor(Date.now() / 1000),
}, {
  bodyIdleTimeoutMs: settings.upstreamBodyTimeoutMs,
  onAccess: settings.accessLog ? (entry) => log.info({ access: entry }, 'request') : null,
  metrics: data.metrics ? new Float64Array(data.metrics) : null,
  maxRoutes: data.maxRoutes,
  tracer: null,
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
  else if (msg.type === 'drain') drain(msg.deadlineMs);
});

function drain(deadlineMs: number): void {
  if (listenSocket) {
    uws.us_listen_socket_close(listenSocket);
    listenSocket = null;
  }
  const until = Date.now() + deadlineMs;
  const check = (): void => {
    if (pipeline.inFlight > 0 && Date.now() < until) {
      setTimeout(check, 10);
      return;
    }
    state.close();
    send({ type: 'drained', unfinished: pipeline.inFlight });
    clearInterval(backstop);
    // Give the message a turn to leave, then end the thread.
    setTimeout(() => process.exit(0), 10);
  };
  check();
}
