/**
 * The request pipeline of a worker: the hot path. Phases, in order:
 *
 *   1. read    copy what is needed from uWS's stack-allocated request, synchronously; the
 *              worker's in-flight limit and the request limits   (503 WORKER_OVERLOADED, 414 URL_TOO_LONG,
 *                                                                  431 HEADERS_TOO_LARGE)
 *   2. route   normalise the path, match a route                    (404 ROUTE_NOT_FOUND, 400 BAD_PATH)
 *   2a. limit  the route's rate limit: one token from the client key's
 *              bucket in shared memory (one CAS)                     (429 RATE_LIMITED)
 *   3. check   framing and body limit                                (400 BAD_REQUEST, 413 BODY_TOO_LARGE)
 *   3a. auth   the route's auth policy, sync when cached             (401 AUTH_*, 403 AUTH_FORBIDDEN)
 *   4. pick    a destination of the route's cluster (shared atomics) (503 NO_DESTINATION); under the
 *              cluster's concurrency limit, else wait in its queue   (503 UPSTREAM_OVERLOADED)
 *   5. send    build the upstream head once, stream the body with backpressure; a client that
 *              stops sending its body is cut                         (408 BODY_TIMEOUT)
 *   6. relay   the response head and body back, with backpressure    (502/504 UPSTREAM_*)
 *   7. finish  release the in-flight count exactly once, access log
 *
 * The rate limit comes before the framing check and auth on purpose: a refused request costs
 * one hash and one CAS, and a flood never reaches the JWT verifier (or a JWKS fetch for an
 * unknown kid). The price: requests that auth would refuse also spend tokens.
 *
 * A failure is a value (an ErrorCode) turned into a problem+json response; nothing here throws
 * for a bad request or a bad upstream. Failures before the response started may be retried on
 * another destination (the cluster's retry methods, no request body, nothing received); a
 * failure the upstream may have seen (head timeout, reset) only for idempotent methods.
 */
import { performance } from 'node:perf_hooks';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { AuthOutcome } from '../auth/types.js';
import { acquire, admitFrom, release, type PickContext } from '../balancing/index.js';
import { recordFailure, recordSuccess } from '../balancing/outlier.js';
import { ERRORS, problemBody, type ErrorCode } from '../errors.js';
import type { Exchange, ForwardError, RequestBodyMode, ResponseHandler, ResponseHead } from '../forwarder/types.js';
import type { RequestTrace, RequestTracer } from '../observability/tracing-types.js';
import {
  bucketIndex, classIndex, ERROR_INDEX, kBytesIn, kBytesOut, kDurBase, kDurCells, kErrBase, kInFlight, kReqBase, kUpBase, kUpCells,
  METRIC_CLASSES, methodIndex, routeBase, unmatchedSlot,
} from '../shm/metrics-layout.js';
import { KEY_CLIENT_ADDRESS, KEY_HEADER, KeyHasher, ceilSeconds, type RateLimitTable } from '../shm/rate-limit-table.js';
import { hasForbiddenTargetByte, normalizePath } from '../routing/path.js';
import type { CompiledRateLimit, CompiledRoute } from '../transforms/compile.js';
import { connectionListed, responseName } from '../transforms/headers.js';
import { buildRequestHead } from '../transforms/request-head.js';
import { addressText } from './client-address.js';
import type { AdmissionQueue, QueuedRequest } from './admission-queue.js';
import { transferCodingError } from './framing.js';
import { IDEMPOTENT, type ClusterEntry, type DestinationEntry, type WorkerState } from './state.js';

/** Limits on what a client may send (settings; see cli/settings.ts for their ceilings). */
export interface RequestLimits {
  readonly maxUrlBytes: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  /** Longest pause while a client sends its request body (408 BODY_TIMEOUT). */
  readonly bodyTimeoutMs: number;
  /** Requests in flight per worker (503 WORKER_OVERLOADED); 0 = no limit. */
  readonly maxRequestsPerWorker: number;
}

export interface PipelineOptions {
  /** Longest pause between two reads of an upstream response body (the forwarder's). */
  readonly upstreamBodyIdleTimeoutMs: number;
  readonly requestLimits: RequestLimits;
  /** One access log line per request; `trace` is the request's when it was recorded (its ids join the line to the trace). */
  readonly onAccess: ((entry: AccessEntry, trace: RequestTrace | null) => void) | null;
  /** This worker's metrics block (see shm/metrics-layout.ts), or null when metrics are off. */
  readonly metrics: Float64Array | null;
  /** Route table capacity: the unmatched-requests cells sit after the last route slot. */
  readonly maxRoutes: number;
  readonly tracer: RequestTracer | null;
  /** Told when passive outlier detection ejects a destination (rare: a log line). */
  readonly onEjected: ((cluster: string, destination: string, seconds: number) => void) | null;
  /** The instance's shared rate-limit buckets (shm/rate-limit-layout.ts). */
  readonly rateLimits: RateLimitTable;
}

export interface AccessEntry {
  readonly method: string;
  readonly path: string;
  readonly route: string | null;
  readonly destination: string | null;
  readonly status: number;
  readonly code: ErrorCode | null;
  readonly durationMs: number;
}

const PROBLEM_HEADERS = 'application/problem+json';
/** Request bodies up to this size (with a Content-Length) are sent with the head in one write. */
const HOLD_BODY_BYTES = 64 * 1024;
/**
 * The body sweep runs at least this often: besides finding idle bodies it re-arms uWS's own
 * timer, which body bytes do not (measured: a steady upload is cut ~10 s after its head).
 */
const BODY_SWEEP_MAX_MS = 1000;

/**
 * Sent with WORKER_OVERLOADED (the next request will likely land on another worker), and with
 * UPSTREAM_OVERLOADED when the cluster's limits were removed while the request waited.
 */
const RETRY_AFTER_1S: readonly string[] = ['retry-after', '1'];
/** An admission that found every usable destination of the cluster at its limit. */
const AT_LIMIT = Symbol('at-limit');

// Scratch state for the synchronous phase 1: uWS calls back into these without a closure.
let currentReq: HttpRequest | null = null;
let scratch: string[] = [];
/** Header bytes of the request being read: name, value and 4 for `: ` and CRLF, per line. */
let scratchBytes = 0;
function headerOf(lowerName: string): string | undefined {
  const v = currentReq!.getHeader(lowerName);
  return v === '' ? undefined : v;
}
function collectHeader(name: string, value: string): void {
  scratch.push(name, value);
  scratchBytes += name.length + value.length + 4;
}

export class Pipeline {
  readonly #state: WorkerState;
  readonly #pick: PickContext;
  readonly #options: PipelineOptions;
  readonly #metrics: Float64Array | null;
  readonly #key = new KeyHasher();
  readonly #limits: RequestLimits;
  /** maxRequestsPerWorker, with 0 (no limit) as Infinity: one comparison per request. */
  readonly #maxInFlight: number;
  #inFlight = 0;
  /** Requests whose body is being read, swept for idleness (see #sweepBodies). */
  readonly #bodies = new Set<RequestContext>();
  #bodySweep: NodeJS.Timeout | null = null;
  /** While draining, responses close their connection so clients move to another worker. */
  draining = false;
  /** performance.now() when the last request arrived (a draining worker waits for a quiet spell). */
  lastRequestAt = 0;

  constructor(state: WorkerState, pick: PickContext, options: PipelineOptions) {
    this.#state = state;
    this.#pick = pick;
    this.#options = options;
    this.#metrics = options.metrics;
    this.#limits = options.requestLimits;
    this.#maxInFlight = options.requestLimits.maxRequestsPerWorker > 0 ? options.requestLimits.maxRequestsPerWorker : Infinity;
  }

  /** Requests whose response has not finished (for draining, and the in-flight gauge). */
  get inFlight(): number {
    return this.#inFlight;
  }

  begin(): void {
    this.#inFlight++;
    if (this.#metrics !== null) this.#metrics[kInFlight] = this.#inFlight;
  }

  /** Count a finished request: one store per cell, in this worker's own block. */
  record(routeSlot: number, method: string, status: number, code: ErrorCode | null, seconds: number, upstreamSeconds: number, bytesIn: number, bytesOut: number, ended: boolean): void {
    if (ended) this.#inFlight--;
    const m = this.#metrics;
    if (m === null) return;
    if (ended) m[kInFlight] = this.#inFlight;
    const base = routeBase(routeSlot);
    m[base + kReqBase + methodIndex(method) * METRIC_CLASSES.length + classIndex(status)]++;
    m[base + kDurBase + bucketIndex(seconds)]++;
    m[base + kDurBase + kDurCells - 1] += seconds;
    if (upstreamSeconds >= 0) {
      m[base + kUpBase + bucketIndex(upstreamSeconds)]++;
      m[base + kUpBase + kUpCells - 1] += upstreamSeconds;
    }
    if (bytesIn > 0) m[base + kBytesIn] += bytesIn;
    if (bytesOut > 0) m[base + kBytesOut] += bytesOut;
    if (code !== null) m[kErrBase + ERROR_INDEX[code]]++;
  }

  /**
   * Answer a request before it reaches the upstream phases (no route, a limit, a bad request
   * line), count it (under its route, or the unmatched cells when it has none) and log it like
   * any other: a scan of unknown paths shows in the access log, as in nginx's.
   */
  #reject(res: HttpResponse, code: ErrorCode, method: string, path: string, started: number, route: CompiledRoute | null = null,
    extraHeaders?: readonly string[], detail?: string, close = this.draining): void {
    respondProblem(res, code, method, extraHeaders, detail, close);
    const seconds = (performance.now() - started) / 1000;
    const status = ERRORS[code].status;
    this.record(route === null ? unmatchedSlot(this.#options.maxRoutes) : route.slot, method, status, code, seconds, -1, 0, 0, false);
    this.#options.onAccess?.({ method, path, route: route?.id ?? null, destination: null, status, code, durationMs: Math.round(seconds * 1e6) / 1000 }, null);
  }

  handle(res: HttpResponse, req: HttpRequest): void {
    const started = performance.now();
    this.lastRequestAt = started;
    const method = req.getCaseSensitiveMethod();
    // No connection-accept hook exists in this uWS build; requests in flight are what a
    // worker can bound. The connection is closed so the client reconnects, likely elsewhere.
    if (this.#inFlight >= this.#maxInFlight) return this.#reject(res, 'WORKER_OVERLOADED', method, req.getUrl(), started, null, RETRY_AFTER_1S, undefined, true);
    const rawPath = req.getUrl();
    const query = req.getQuery();
    const limits = this.#limits;
    if (rawPath.length + (query ? query.length + 1 : 0) > limits.maxUrlBytes) return this.#reject(res, 'URL_TOO_LONG', method, rawPath.slice(0, 256), started);
    scratch = [];
    scratchBytes = 0;
    req.forEach(collectHeader);
    const headers = scratch;
    if (headers.length > limits.maxHeaderCount * 2) {
      return this.#reject(res, 'HEADERS_TOO_LARGE', method, rawPath, started, null, undefined, `more than ${limits.maxHeaderCount} header lines`);
    }
    if (scratchBytes > limits.maxHeaderBytes) {
      return this.#reject(res, 'HEADERS_TOO_LARGE', method, rawPath, started, null, undefined, `more than ${limits.maxHeaderBytes} bytes of headers`);
    }
    if (!this.#state.ready) return this.#reject(res, 'NOT_READY', method, rawPath, started);

    const path = normalizePath(rawPath);
    if (path === null) return this.#reject(res, 'BAD_PATH', method, rawPath, started);
    // The query is forwarded as received: it must not smuggle a fragment or raw controls.
    if (query && hasForbiddenTargetByte(query)) return this.#reject(res, 'BAD_REQUEST', method, path, started);
    // uWS's getHeader('host') would cross into C++ and convert both strings; forEach gave it.
    const host = headerValue(headers, 'host') ?? '';

    currentReq = req;
    const match = this.#state.routes.match(method, host, path, headerOf);
    currentReq = null;
    if (match === null) return this.#reject(res, 'ROUTE_NOT_FOUND', method, path, started);
    const route = match.payload;
    const limit = route.rateLimit;
    if (limit !== null) {
      const taken = this.#takeToken(res, headers, limit);
      if (taken < 0) return this.#limited(res, route, limit, -taken, method, path, started);
    }

    const tracer = this.#options.tracer;
    let trace: RequestTrace | null = null;
    if (tracer !== null) trace = tracer.start(method, path, route.id, host, headerValue(headers, 'traceparent'), headerValue(headers, 'tracestate'), started);
    const ctx = new RequestContext(this, res, method, path, query, host, route, headers, started, trace);
    ctx.start();
  }

  /**
   * Phase 2a: one token from the bucket of this request's key; >= 0 admitted (tokens left),
   * < 0 refused (minus the ticks until a token). A header key falls back to the client
   * address when the request has no such header (or an empty one), so a client cannot step
   * out of the limit by leaving the header off, and keyless clients do not share one bucket.
   */
  #takeToken(res: HttpResponse, headers: readonly string[], limit: CompiledRateLimit): number {
    const key = this.#key;
    const value = limit.header === null ? '' : headerValue(headers, limit.header) ?? '';
    if (value !== '') key.start(limit, KEY_HEADER).string(value);
    else key.start(limit, KEY_CLIENT_ADDRESS).bytes(new Uint8Array(res.getRemoteAddress()));
    key.finish();
    return this.#options.rateLimits.take(key.hash, key.fingerprint, limit.periodTicks, limit.windowTicks);
  }

  /** 429 with when to come back: Retry-After (a token), RateLimit-Reset (a full bucket). */
  #limited(res: HttpResponse, route: CompiledRoute, limit: CompiledRateLimit, waitTicks: number, method: string, path: string, started: number): void {
    this.#reject(res, 'RATE_LIMITED', method, path, started, route, [
      'retry-after', String(ceilSeconds(waitTicks)),
      'ratelimit-limit', limit.limitText,
      'ratelimit-remaining', '0',
      'ratelimit-reset', String(ceilSeconds(waitTicks + limit.windowTicks - limit.periodTicks)),
    ]);
  }

  /**
   * Phase 4: a destination of the cluster with its in-flight count taken; null when none is
   * usable (the caller answers 503 NO_DESTINATION), AT_LIMIT when the cluster has limits and
   * every usable destination is at them (the request waits in the cluster's queue).
   */
  admit(cluster: ClusterEntry, exclude: DestinationEntry | null): DestinationEntry | null | typeof AT_LIMIT {
    const members = cluster.members;
    const n = members.slots.length;
    if (n === 0) return null;
    let respectHealth = true;
    let idx = cluster.policy.pick(members, this.#pick, true);
    if (idx >= 0 && exclude !== null && cluster.destinations[idx] === exclude && n > 1) {
      // A retry should land elsewhere: one more pick, then the next member in order.
      idx = cluster.policy.pick(members, this.#pick, true);
      if (idx >= 0 && cluster.destinations[idx] === exclude) idx = (idx + 1) % n;
    }
    if (idx < 0 && cluster.failOpen) {
      respectHealth = false;
      idx = cluster.policy.pick(members, this.#pick, false);
    }
    if (idx < 0) return null;
    const limits = cluster.limits;
    if (limits === null) {
      acquire(this.#pick.destinations, members.slots[idx]);
      return cluster.destinations[idx];
    }
    // The policy's choice if it is under the limit, else the next one that is.
    const avoid = exclude === null ? -1 : cluster.destinations.indexOf(exclude);
    idx = admitFrom(members, this.#pick, idx, limits.maxConcurrentPerDestination, respectHealth, avoid);
    return idx < 0 ? AT_LIMIT : cluster.destinations[idx];
  }

  /** Watch a request's body for idleness until it is complete or the request ends. */
  watchBody(ctx: RequestContext): void {
    this.#bodies.add(ctx);
    if (this.#bodySweep === null) {
      const every = Math.min(BODY_SWEEP_MAX_MS, Math.max(10, this.#limits.bodyTimeoutMs / 4));
      this.#bodySweep = setInterval(() => this.#sweepBodies(), every);
    }
  }

  unwatchBody(ctx: RequestContext): void {
    this.#bodies.delete(ctx);
  }

  /**
   * One timer for every body being read, not one per request: each sweep compares a request's
   * byte count with the previous sweep's (no clock read per chunk). It stops when no body is
   * being read.
   */
  #sweepBodies(): void {
    const now = performance.now();
    const timeoutMs = this.#limits.bodyTimeoutMs;
    for (const ctx of this.#bodies) if (!ctx.sweepBody(now, timeoutMs)) this.#bodies.delete(ctx);
    if (this.#bodies.size === 0 && this.#bodySweep !== null) {
      clearInterval(this.#bodySweep);
      this.#bodySweep = null;
    }
  }

  get state(): WorkerState {
    return this.#state;
  }

  get destinationsView(): Int32Array {
    return this.#pick.destinations;
  }

  /** Outcome of one upstream exchange, for passive outlier detection. */
  upstreamOutcome(cluster: ClusterEntry, dest: DestinationEntry, failed: boolean): void {
    const d = this.#pick.destinations;
    if (!failed) return recordSuccess(d, dest.slot);
    if (recordFailure(d, cluster.members, dest.slot, cluster.outlier, this.#pick.nowSeconds())) {
      this.#options.onEjected?.(cluster.id, dest.id, cluster.outlier.ejectionSeconds);
    }
  }

  get options(): PipelineOptions {
    return this.#options;
  }
}

/** Answer with a coded problem+json body (HEAD gets the head only). */
export function respondProblem(res: HttpResponse, code: ErrorCode, method: string, extraHeaders?: readonly string[], detail?: string, close = false): void {
  const spec = ERRORS[code];
  const body = problemBody(code, detail);
  res.cork(() => {
    res.writeStatus(statusLine(spec.status));
    res.writeHeader('content-type', PROBLEM_HEADERS);
    if (extraHeaders) for (let i = 0; i < extraHeaders.length; i += 2) res.writeHeader(extraHeaders[i], extraHeaders[i + 1]);
    if (method === 'HEAD') {
      if (close) {
        // This uWS build closes after a body-less end only through endWithoutBody(0, true),
        // which also writes its own `Content-Length: 0` (a second, different length would be
        // invalid; a non-zero argument aborts the process): the head then states 0.
        res.endWithoutBody(0, true);
      } else {
        res.writeHeader('content-length', String(body.length));
        res.endWithoutBody();
      }
    } else {
      res.end(body, close);
    }
  });
}

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict',
  413: 'Content Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
// The last status line written (most responses repeat it: the parser hands over one constant
// string for `OK`), as latin1 bytes: a reason phrase's obs-text bytes go out as received, and
// uWS copies bytes without the UTF-8 conversion it makes of a string.
let lastStatus = -1;
let lastMessage: string | undefined;
let lastStatusLine = Buffer.alloc(0);
function statusLine(status: number, message?: string): Buffer {
  if (status !== lastStatus || message !== lastMessage) {
    lastStatusLine = Buffer.from(message ? `${status} ${message}` : `${status} ${REASONS[status] ?? ''}`.trimEnd(), 'latin1');
    lastStatus = status;
    lastMessage = message;
  }
  return lastStatusLine;
}

/**
 * The response head relayed for a connection's last head, as one block of bytes: the status
 * line's text and every kept header line, joined by CRLF, for one `writeStatus` (uWS writes
 * `HTTP/1.1 `, the block and a CRLF; its own Date, uWebSockets and framing lines follow). Kept
 * in the head's relayMemo and reused while the next head has the same lines: the same byte
 * arrays, which the parser hands over again for each line that repeats the connection's last
 * head byte for byte (a line seen for the first time has none, and is never in a block), for
 * the same route and status (compared by value: the status line's bytes are one shared cache
 * that another connection's status replaces). One crossing into uWS instead of one per
 * header, and no per-header filtering.
 */
interface HeadBlock {
  readonly route: CompiledRoute;
  readonly statusCode: number;
  readonly statusMessage: string;
  /** The head's headerBytes the block was made from. */
  readonly from: ReadonlyArray<Uint8Array | null>;
  readonly block: Buffer;
}
const CRLF = Buffer.from('\r\n');
const COLON_SP = Buffer.from(': ');

/** Whether two heads' headerBytes are the same arrays, index for index. */
function sameLines(a: ReadonlyArray<Uint8Array | null>, b: ReadonlyArray<Uint8Array | null>): boolean {
  if (a === b) return true; // the parser handed over the same arrays: every line repeated
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One request in flight. It is the forwarder's ResponseHandler, so the upstream path makes no
 * closure per callback; the few uWS callbacks are bound once.
 */
class RequestContext implements ResponseHandler, QueuedRequest {
  readonly #p: Pipeline;
  readonly #res: HttpResponse;
  readonly #method: string;
  readonly #path: string;
  readonly #query: string | undefined;
  readonly #host: string;
  readonly #route: CompiledRoute;
  readonly #headers: string[];
  readonly #started: number;
  readonly #trace: RequestTrace | null;
  /** When the current upstream attempt was sent, and how long until its response head (s). */
  #upstreamSent = 0;
  #upstreamSeconds = -1;
  #bytesOut = 0;

  #cluster: ClusterEntry | null = null;
  #destination: DestinationEntry | null = null;
  #exchange: Exchange | null = null;
  #head = '';
  #bodyMode: RequestBodyMode = 'none';
  #attempt = 0;
  /** The client went away: never touch #res again. */
  #aborted = false;
  /** The response has been completed (or the connection closed). */
  #done = false;
  #released = true;

  // Response relay state.
  #status = 0;
  #statusMessage = '';
  #responseHeaders: readonly string[] | null = null;
  /** Every value of #responseHeaders is ASCII (the parser says so; no per-value check). */
  #responseAscii = false;
  /** The parser's bytes of names and values, index for index with #responseHeaders (or null). */
  #responseHeaderBytes: ReadonlyArray<Uint8Array | null> | null = null;
  /** The head as the parser handed it (for its relayMemo), until the head is written. */
  #responseHead: ResponseHead | null = null;
  #headPending = false;
  #hasBody = true;
  /** Declared response length, or -1 when the upstream streams without Content-Length. */
  #total = -1;
  /** A chunk tryEnd could not write whole: the remainder is retried from onWritable. */
  #stalled: Uint8Array | null = null;
  #stalledOffset = 0;

  // Request body state.
  #bodyReceived = 0;
  #bodyTooLarge = false;
  /** Body chunks that arrived before the upstream exchange existed (while auth was pending). */
  #pendingBody: Buffer[] | null = null;
  #pendingEnd = false;
  /**
   * A small body with a Content-Length is held until it is complete and then sent with the
   * head in one write (one syscall instead of one per uWS chunk).
   */
  #holdBody = false;
  #headReady = false;
  /** The body is being read and watched by the pipeline's sweep (see sweepBody). */
  #bodyWatched = false;
  #bodySeen = 0;
  #bodyIdleSince = 0;

  /** The cluster queue this request waits in for a free destination, or null. */
  #queue: AdmissionQueue | null = null;

  // Auth verdict (phase 3a): headers to drop from the client's and to add.
  #authRemove: ReadonlySet<string> | null = null;
  #authAdd: readonly string[] | null = null;

  constructor(p: Pipeline, res: HttpResponse, method: string, path: string, query: string | undefined,
    host: string, route: CompiledRoute, headers: string[], started: number, trace: RequestTrace | null) {
    this.#p = p;
    this.#res = res;
    this.#method = method;
    this.#path = path;
    this.#query = query;
    this.#host = host;
    this.#route = route;
    this.#headers = headers;
    this.#started = started;
    this.#trace = trace;
  }

  start(): void {
    const res = this.#res;
    res.onAborted(() => this.#onClientAborted());
    this.#p.begin();

    const cluster = this.#p.state.cluster(this.#route.clusterId);
    if (!cluster || !cluster.live) return this.#fail('NO_DESTINATION');
    this.#cluster = cluster;

    // Phase 3: framing (RFC 9112 §6; test/worker/hostile.test.ts). uWS closes the connection
    // on Content-Length together with Transfer-Encoding and on a non-numeric Content-Length;
    // the rest is ours to refuse. Every refusal here closes the connection: uWS may already be
    // reading a body whose length the gateway does not agree with, and what follows it on the
    // connection cannot be trusted to be the next request.
    let contentLength = -1;
    let te: string | null = null;
    let hosts = 0;
    const h = this.#headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i];
      if (name === 'content-length') {
        // Repeated fields with one value are accepted (RFC 9110 §8.6), different values are a
        // smuggling shape.
        const v = h[i + 1].trim();
        if (!/^\d{1,15}$/.test(v) || (contentLength >= 0 && Number(v) !== contentLength)) return this.#fail('BAD_REQUEST', undefined, true);
        contentLength = Number(v);
      } else if (name === 'transfer-encoding') {
        te = te === null ? h[i + 1] : `${te},${h[i + 1]}`;
      } else if (name === 'host' && ++hosts > 1) {
        // Two Host fields: routing read the first, a server behind may read the last
        // (RFC 9112 §3.2: MUST answer 400).
        return this.#fail('BAD_REQUEST', undefined, true);
      }
    }
    let chunked = false;
    if (te !== null) {
      const error = contentLength >= 0 ? 'BAD_REQUEST' : transferCodingError(te);
      if (error !== null) return this.#fail(error, undefined, true);
      chunked = true;
    }
    if (contentLength > this.#route.maxRequestBodyBytes) return this.#fail('BODY_TOO_LARGE');
    this.#bodyMode = chunked ? 'chunked' : contentLength > 0 ? 'length' : 'none';
    this.#holdBody = this.#bodyMode === 'length' && contentLength <= HOLD_BODY_BYTES;
    // uWS requires onData to be registered before the handler returns.
    if (this.#bodyMode !== 'none') {
      res.onData((chunk, isLast) => this.#onClientData(chunk, isLast));
      this.#bodyWatched = true;
      this.#bodyIdleSince = this.#started;
      this.#p.watchBody(this);
    }

    if (this.#route.authPolicy !== null) {
      const auth = this.#p.state.authenticator(this.#route.authPolicy);
      if (auth === undefined) return this.#fail('AUTH_UNAVAILABLE');
      const values: string[] = [];
      for (let i = 0; i < h.length; i += 2) if (h[i] === 'authorization') values.push(h[i + 1]);
      const verdict = auth.check(values);
      if (verdict instanceof Promise) {
        verdict.then((v) => this.#afterAuth(v, contentLength, chunked), () => this.#fail('INTERNAL'));
        return;
      }
      return this.#afterAuth(verdict, contentLength, chunked);
    }
    this.#head = this.#buildHead(contentLength, chunked);
    this.#headReady = true;
    this.#sendWhenReady();
  }

  /** Send once the head is built and, for a held body, the whole body is here. */
  #sendWhenReady(): void {
    if (this.#holdBody && !this.#pendingEnd) return;
    if (this.#queue !== null) return; // waiting for a destination: the queue sends it
    this.#send();
  }

  #afterAuth(verdict: AuthOutcome, contentLength: number, chunked: boolean): void {
    if (this.#aborted || this.#done) return;
    if (!verdict.ok) {
      this.#done = true;
      respondProblem(this.#res, verdict.code, this.#method, ['www-authenticate', verdict.wwwAuthenticate], verdict.detail, this.#p.draining || this.#clientPaused);
      return this.#finish(verdict.status, verdict.code);
    }
    this.#authRemove = verdict.removeHeaders;
    this.#authAdd = verdict.setHeaders;
    this.#head = this.#buildHead(contentLength, chunked);
    this.#headReady = true;
    this.#sendWhenReady();
  }

  /** Phase 5: the upstream request head, built once and reused by retries. */
  #buildHead(contentLength: number, chunked: boolean): string {
    const route = this.#route;
    const path = route.rewritePath ? route.rewritePath(this.#path) : this.#path;
    const client = addressText(this.#res.getRemoteAddress());
    return buildRequestHead(this.#method, this.#query ? `${path}?${this.#query}` : path, this.#headers, route,
      this.#authRemove, this.#authAdd, this.#trace !== null, client, this.#host, contentLength, chunked);
  }

  /** Phase 4: admit on a destination, or wait in the cluster's queue. */
  #send(): void {
    const cluster = this.#cluster!;
    const queue = cluster.queue;
    if (queue !== null && queue.size > 0) {
      // Requests of this cluster already wait: join behind them and let the queue admit in
      // order, so a newcomer never takes a slot freed on another worker (noticed only by the
      // queue's poll) ahead of them.
      if (!queue.offer(this, performance.now())) return this.#overloaded();
      this.#queue = queue;
      queue.drain();
      return;
    }
    const dest = this.#p.admit(cluster, this.#destination);
    if (dest === null) return this.#fail('NO_DESTINATION');
    if (dest === AT_LIMIT) {
      const queue = cluster.queue!;
      if (!queue.offer(this, performance.now())) return this.#overloaded();
      this.#queue = queue;
      return;
    }
    this.#dispatch(dest);
  }

  // ---- QueuedRequest (a limited cluster's wait queue) ----------------------------------

  retryAdmission(): boolean {
    if (this.#done || this.#aborted) return true;
    const dest = this.#p.admit(this.#cluster!, this.#destination);
    if (dest === AT_LIMIT) return false;
    this.#queue = null;
    if (dest === null) this.#fail('NO_DESTINATION');
    else this.#dispatch(dest);
    return true;
  }

  queueTimedOut(): void {
    this.#queue = null;
    this.#overloaded();
  }

  #overloaded(): void {
    this.#fail('UPSTREAM_OVERLOADED', this.#cluster!.limits?.retryAfter ?? RETRY_AFTER_1S);
  }

  /** Phase 5: the destination's in-flight count is taken; send the request. */
  #dispatch(dest: DestinationEntry): void {
    this.#destination = dest;
    this.#attempt++;
    this.#released = false;
    const host = this.#route.upstreamHostFromDestination || !this.#host ? dest.authority : this.#host;
    const opts = this.#p.options;
    let tail = `host: ${host}\r\n`;
    this.#upstreamSent = performance.now();
    if (this.#trace !== null) tail += this.#trace.startUpstream(dest.id, dest.address, this.#attempt, this.#upstreamSent);
    this.#exchange = dest.pool.request({
      method: this.#method,
      head: `${this.#head}${tail}\r\n`,
      bodyMode: this.#bodyMode,
      headTimeoutMs: this.#route.timeoutMs,
      bodyIdleTimeoutMs: opts.upstreamBodyIdleTimeoutMs,
    }, this);
    if (this.#bodyMode !== 'none') {
      const ex = this.#exchange;
      ex.onDrain = () => this.#resumeClient();
      if (this.#pendingBody !== null) {
        for (const chunk of this.#pendingBody) ex.writeBody(chunk);
        this.#pendingBody = null;
        this.#resumeClient();
      }
      if (this.#pendingEnd) ex.endBody();
    }
  }

  /**
   * Pause and resume reading the client's body. In this uWS build resume() on a response that
   * was not paused wedges the connection's next request, so resume only follows a pause.
   */
  #clientPaused = false;
  #pauseClient(): void {
    if (this.#clientPaused || this.#aborted) return;
    this.#clientPaused = true;
    this.#res.pause();
  }

  #resumeClient(): void {
    if (!this.#clientPaused || this.#aborted) return;
    this.#clientPaused = false;
    this.#res.resume();
  }

  #onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.#done || this.#bodyTooLarge) return;
    this.#bodyReceived += chunk.byteLength;
    if (isLast) this.#unwatchBody();
    if (this.#bodyReceived > this.#route.maxRequestBodyBytes) {
      this.#bodyTooLarge = true;
      this.#exchange?.abort();
      this.#releaseDestination();
      if (this.#status === 0) this.#fail('BODY_TOO_LARGE');
      return;
    }
    const ex = this.#exchange;
    if (ex === null) {
      // Not sent yet: a small body is being held whole, or auth is still deciding (then stop
      // reading; the body is bounded by the route's limit either way).
      (this.#pendingBody ??= []).push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        this.#pendingEnd = true;
        if (this.#headReady) this.#sendWhenReady();
      } else if (!this.#holdBody) {
        this.#pauseClient();
      }
      return;
    }
    // uWS neuters the ArrayBuffer when this callback returns: copy before handing it on.
    const ok = chunk.byteLength === 0 ? true : ex.writeBody(Buffer.from(new Uint8Array(chunk)));
    if (isLast) ex.endBody();
    else if (!ok) this.#pauseClient();
  }

  /**
   * Called by the pipeline's body sweep; false when the body no longer needs watching. A body
   * that made no progress for `timeoutMs` while we were reading it ends the request with 408
   * (or, once the response started, a cut connection); a pause of ours (backpressure, auth,
   * the queue) is not the client's and does not count.
   */
  sweepBody(now: number, timeoutMs: number): boolean {
    if (!this.#bodyWatched || this.#aborted) return false;
    if (this.#clientPaused || this.#bodyReceived !== this.#bodySeen) {
      this.#bodySeen = this.#bodyReceived;
      this.#bodyIdleSince = now;
    } else if (now - this.#bodyIdleSince >= timeoutMs) {
      this.#bodyWatched = false;
      this.#bodyTimedOut();
      return false;
    }
    // uWS's own timer is not re-armed by body bytes and would cut a long upload after ~10 s;
    // pause() disarms it and resume() arms it afresh. A paused client stays paused (uWS's
    // timer is off meanwhile).
    if (!this.#clientPaused) {
      this.#res.pause();
      this.#res.resume();
    }
    return true;
  }

  #unwatchBody(): void {
    if (!this.#bodyWatched) return;
    this.#bodyWatched = false;
    this.#p.unwatchBody(this);
  }

  #bodyTimedOut(): void {
    const ex = this.#exchange;
    this.#exchange = null;
    if (ex !== null) ex.abort();
    if (this.#status !== 0) {
      // Part of the response may be out: cutting the connection is the only signal left.
      this.#releaseDestination();
      this.#done = true;
      this.#res.close();
      return this.#finish(408, 'BODY_TIMEOUT');
    }
    this.#fail('BODY_TIMEOUT', undefined, true);
  }

  // ---- ResponseHandler (phase 6) ------------------------------------------------------

  onHead(head: ResponseHead): void {
    const statusCode = head.statusCode;
    const now = performance.now();
    this.#upstreamSeconds = (now - this.#upstreamSent) / 1000;
    if (this.#trace !== null) this.#trace.endUpstream(statusCode, null, now);
    if (this.#aborted) return;
    this.#status = statusCode;
    this.#statusMessage = head.statusMessage;
    this.#responseHeaders = head.headers;
    this.#responseAscii = head.headersAscii;
    this.#responseHeaderBytes = head.headerBytes;
    this.#responseHead = head;
    this.#hasBody = head.hasBody && this.#method !== 'HEAD';
    // The parser framed the response: its Content-Length (-1 when chunked or none) is this one's.
    this.#total = head.contentLength;
    this.#headPending = true;
    // Head and first body bytes usually arrive in one read: write them in one cork (onData,
    // or onEnd for a body-less response). If the read ends before any body, onReadEnd
    // writes the head alone.
  }

  onReadEnd(): void {
    if (!this.#headPending || this.#aborted) return;
    // Not complete, so a body follows (a body-less head completes the response at once).
    this.#res.cork(() => this.#writeHead());
  }

  #writeHead(): void {
    this.#headPending = false;
    const res = this.#res;
    const bytes = this.#responseHeaderBytes!;
    const head = this.#responseHead!;
    this.#responseHead = null;
    const memo = head.relayMemo as HeadBlock | null;
    if (memo !== null && memo.route === this.#route && memo.statusCode === this.#status && memo.statusMessage === this.#statusMessage && sameLines(memo.from, bytes)) {
      res.writeStatus(memo.block);
      return;
    }
    const status = statusLine(this.#status, this.#statusMessage);
    const h = this.#responseHeaders!;
    const drop = this.#route.responseDrop;
    const ascii = this.#responseAscii;
    let listed: string[] | null = null;
    let whole = true;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i].length === 10 && responseName(h[i]).lower === 'connection') listed = connectionListed(h[i + 1]);
      if (bytes[i] === null || bytes[i + 1] === null) whole = false;
    }
    // Every line repeats the connection's last head: relay it as a block, kept for the next.
    const parts: Uint8Array[] | null = whole ? [status] : null;
    if (parts === null) res.writeStatus(status);
    for (let i = 0; i < h.length; i += 2) {
      const name = responseName(h[i]);
      if (name.skip) continue;
      const lower = name.lower;
      if (drop !== null && drop.has(lower)) continue;
      if (listed !== null && listed.includes(lower)) continue;
      if (parts !== null) {
        parts.push(CRLF, bytes[i]!, COLON_SP, bytes[i + 1]!);
        continue;
      }
      // The parser's own bytes where it has them (no conversion in uWS); else the strings,
      // latin1-decoded bytes: a non-ASCII value goes out as the original bytes.
      const value = h[i + 1];
      res.writeHeader(bytes[i] ?? h[i], bytes[i + 1] ?? (ascii || isAscii(value) ? value : Buffer.from(value, 'latin1')));
    }
    const added = this.#route.responseAdd;
    if (parts === null) {
      for (const edit of added) res.writeHeader(edit.name, edit.value);
      return;
    }
    // The route's values are text: UTF-8, as uWS would send the strings.
    for (const edit of added) parts.push(CRLF, Buffer.from(`${edit.name}: ${edit.value}`, 'utf8'));
    const block = Buffer.concat(parts);
    head.relayMemo = { route: this.#route, statusCode: this.#status, statusMessage: this.#statusMessage, from: bytes, block } satisfies HeadBlock;
    res.writeStatus(block);
  }

  onData(chunk: Uint8Array): boolean {
    if (this.#aborted || this.#done) return true;
    this.#bytesOut += chunk.length;
    const res = this.#res;
    let ok = true;
    res.cork(() => {
      if (this.#headPending) {
        this.#writeHead();
        if (this.#total === chunk.length) {
          // The whole body in one piece: one write for head and body.
          res.end(chunk, this.#p.draining);
          this.#done = true;
          return;
        }
      }
      ok = this.#writeBody(chunk);
    });
    return ok;
  }

  #writeBody(chunk: Uint8Array): boolean {
    const res = this.#res;
    if (this.#total < 0) {
      // Unknown length: uWS sends chunked and buffers what the socket cannot take yet.
      const ok = res.write(chunk);
      if (!ok) res.onWritable(() => this.#onWritable());
      return ok;
    }
    const offset = res.getWriteOffset();
    const [ok, done] = res.tryEnd(chunk, this.#total);
    if (done) {
      this.#done = true;
      return true;
    }
    if (ok) return true;
    // tryEnd keeps nothing it could not send: the rest must stay readable until the client's
    // socket drains, and `chunk` is a view of the upstream pool's read buffer, which the pool's
    // next read (on any of its connections) overwrites. So what is left is copied here (at most
    // one read's worth per stalled response; test/worker/stalled-body.test.ts).
    const sent = res.getWriteOffset() - offset;
    this.#stalled = new Uint8Array(chunk.subarray(sent));
    this.#stalledOffset = offset + sent;
    res.onWritable((off) => this.#onWritableTryEnd(off));
    return false;
  }

  #onWritable(): boolean {
    if (this.#aborted || this.#done) return true;
    this.#exchange?.resume();
    return true;
  }

  #onWritableTryEnd(offset: number): boolean {
    if (this.#aborted || this.#done || this.#stalled === null) return true;
    const rest = this.#stalled.subarray(offset - this.#stalledOffset);
    const [ok, done] = this.#res.tryEnd(rest, this.#total);
    if (done) {
      this.#done = true;
      this.#stalled = null;
      return true;
    }
    if (ok) {
      this.#stalled = null;
      this.#exchange?.resume();
    }
    return ok;
  }

  onEnd(_trailers: string[] | null): void {
    // Success for outlier detection is a complete exchange, not a response head: a destination
    // that always resets mid-body would otherwise end its own failure streak on every request
    // and never be ejected. With `serverErrors`, a 5xx answer is a failure too.
    const cluster = this.#cluster!;
    this.#p.upstreamOutcome(cluster, this.#destination!, this.#status >= 500 && cluster.outlier.serverErrors);
    this.#releaseDestination();
    this.#exchange = null;
    if (this.#aborted) return this.#finish(this.#status);
    if (!this.#done) {
      const res = this.#res;
      res.cork(() => {
        if (this.#headPending) this.#writeHead();
        if (!this.#hasBody) {
          // HEAD, 204, 304: uWS's end() would send a body or add Content-Length: 0, and in this
          // build endWithoutBody(length) leaves the connection waiting for that many bytes, so
          // a HEAD response states its length itself and ends without one.
          if (this.#method === 'HEAD' && this.#total >= 0 && this.#status !== 204 && this.#status !== 304) {
            res.writeHeader('content-length', String(this.#total));
          }
          res.endWithoutBody();
        } else if (this.#total < 0) {
          res.end(undefined, this.#p.draining);
        } else if (this.#stalled === null) {
          res.end(undefined, this.#p.draining);
        }
      });
      // A stalled tryEnd still owns the tail of the body: #onWritableTryEnd completes it.
      if (this.#stalled === null) this.#done = true;
    }
    this.#finish(this.#status);
  }

  onError(error: ForwardError): void {
    if (this.#trace !== null && this.#upstreamSeconds < 0) this.#trace.endUpstream(0, error.code);
    if (error.code !== 'UPSTREAM_ABORTED') this.#p.upstreamOutcome(this.#cluster!, this.#destination!, true);
    this.#releaseDestination();
    this.#exchange = null;
    if (this.#aborted) return this.#finish(499);
    if (error.responseStarted || this.#status !== 0) {
      // Part of the response is out: the only honest signal left is to cut the connection.
      this.#done = true;
      this.#res.close();
      return this.#finish(502, error.code);
    }
    const cluster = this.#cluster!;
    if (this.#bodyMode === 'none' && this.#attempt < cluster.attempts && cluster.retryMethods.has(this.#method)
      && (error.retryable || (mayHaveBeenSeen(error.code) && cluster.destinations.length > 1 && IDEMPOTENT.has(this.#method)))) {
      return this.#send();
    }
    this.#fail(error.code);
  }

  // ---- endings --------------------------------------------------------------------------

  /**
   * Answer with the code's problem body. `close` ends the connection after it (bad framing, a
   * stalled body); a draining worker closes every connection it answers, and so does a request
   * whose body the gateway paused (waiting in a queue or for auth): uWS would not read that
   * connection again, so it would sit open and idle forever.
   */
  #fail(code: ErrorCode, extraHeaders?: readonly string[], close = false): void {
    this.#releaseDestination();
    if (!this.#aborted && !this.#done) {
      this.#done = true;
      respondProblem(this.#res, code, this.#method, extraHeaders, undefined, close || this.#p.draining || this.#clientPaused);
    }
    this.#finish(ERRORS[code].status, code);
  }

  #onClientAborted(): void {
    this.#aborted = true;
    const ex = this.#exchange;
    this.#exchange = null;
    if (ex !== null) ex.abort();
    this.#releaseDestination();
    if (!this.#done) {
      this.#done = true;
      this.#finish(499);
    }
  }

  #releaseDestination(): void {
    if (this.#released) return;
    this.#released = true;
    release(this.#p.destinationsView, this.#destination!.slot);
    // A slot of a limited cluster is free: the longest-waiting request of this worker takes it.
    const queue = this.#cluster!.queue;
    if (queue !== null && queue.size > 0) queue.drain();
  }

  #finished = false;
  #finish(status: number, code: ErrorCode | null = null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#queue !== null) {
      this.#queue.remove(this);
      this.#queue = null;
    }
    if (this.#bodyWatched) this.#unwatchBody();
    const now = performance.now();
    const seconds = (now - this.#started) / 1000;
    this.#p.record(this.#route.slot, this.#method, status, code, seconds, this.#upstreamSeconds, this.#bodyReceived, this.#bytesOut, true);
    if (this.#trace !== null) this.#trace.end(status, code, now);
    const log = this.#p.options.onAccess;
    if (log !== null) {
      log({
        method: this.#method, path: this.#path, route: this.#route.id, destination: this.#destination?.id ?? null,
        status, code, durationMs: Math.round(seconds * 1e6) / 1000,
      }, this.#trace);
    }
  }
}

/**
 * Failures before any response byte where the upstream may have received (and acted on) the
 * request: a hung destination and a connection reset without an answer. Like nginx's default
 * `proxy_next_upstream error timeout`, an idempotent request is retried on another
 * destination; a protocol error (the upstream did answer, wrongly) is not retried.
 */
function mayHaveBeenSeen(code: ErrorCode): boolean {
  return code === 'UPSTREAM_HEAD_TIMEOUT' || code === 'UPSTREAM_RESET';
}

/** The first value of a lower-case header name in a flat [name, value, ...] list. */
function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
