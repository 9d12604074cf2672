/**
 * Getting recorded spans out of a worker (OBS-01): a batch queue with the semantics of
 * OpenTelemetry's BatchSpanProcessor (OTEL_BSP_*), an OTLP/HTTP exporter that posts the
 * encoders' bytes (see below for how), and a console exporter for debugging.
 *
 *   span ended ──▶ SpanBatcher: appended to the last open batch (≤ maxExportBatchSize spans),
 *                  encoded there at once when the exporter has an encoder (the span's fields
 *                  are still in cache, and the record is garbage right away); ≤ maxQueueSize
 *                  spans wait in all, the rest are dropped and counted
 *                     │ every scheduledDelay, or at once when a batch is full
 *                     ▼
 *                  exporter.export(first batch)   one batch at a time; the queue stops
 *                     │                           waiting for it after exportTimeout
 *                     ▼
 *                  OtlpHttpExporter: close the body ─▶ POST (keep-alive), retried on
 *                  429/502/503/504 and network errors with backoff until OTEL_EXPORTER_OTLP_TIMEOUT
 *
 * An http:// collector is posted to through the forwarder's own keep-alive HTTP/1.1 pool (the
 * client of the hot path), not node:http: a POST costs the worker about half the CPU, which at
 * 100% sampling is one POST per 256 requests (docs/performance.md). https:// uses node:https.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Http1Pool } from '../forwarder/http1-pool.js';
import type { Exchange, ForwardError, ResponseHandler, ResponseHead } from '../forwarder/types.js';
import { responseName } from '../transforms/headers.js';
import { ByteWriter, type SpanEncoder } from './otlp-encode.js';
import { type SpanClock, spanAttributes, type SpanRecord } from './span-record.js';

export interface SpanExporter {
  /**
   * When set, spans are encoded into their batch as they end (PendingBatch.writer) instead of
   * kept as records (PendingBatch.records).
   */
  readonly encoder: SpanEncoder | null;
  /** A writer for a new batch's body (encoders only; reused from finished batches). */
  takeWriter?(): ByteWriter;
  /** Send one batch; resolves when it was accepted, rejects with the reason it was not. */
  export(batch: PendingBatch): Promise<void>;
  /** Release connections; called after the last export. */
  shutdown(): void;
}

/** Spans waiting for one export: encoded into a body begun in `writer`, or kept as `records`. */
export class PendingBatch {
  count = 0;
  readonly records: SpanRecord[] | null;
  readonly writer: ByteWriter | null;
  readonly #encoder: SpanEncoder | null;

  constructor(exporter: SpanExporter) {
    const encoder = exporter.encoder;
    this.#encoder = encoder;
    if (encoder === null) {
      this.records = [];
      this.writer = null;
    } else {
      this.records = null;
      this.writer = exporter.takeWriter?.() ?? new ByteWriter(64 * 1024);
      encoder.begin(this.writer);
    }
  }

  /** A batch of `spans`, as the batcher would have built it. */
  static of(exporter: SpanExporter, spans: readonly SpanRecord[]): PendingBatch {
    const batch = new PendingBatch(exporter);
    for (const span of spans) batch.add(span);
    return batch;
  }

  add(span: SpanRecord): void {
    if (this.#encoder !== null) this.#encoder.append(this.writer!, span, this.count);
    else this.records!.push(span);
    this.count++;
  }
}

export interface BatchSettings {
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/**
 * The BatchSpanProcessor's rules on compact spans: spans wait in a queue of at most
 * maxQueueSize (later ones are dropped and counted); a batch of at most maxExportBatchSize
 * leaves scheduledDelayMillis after the first span arrives, or at once (next turn) when a
 * full batch waits; one export at a time, abandoned after exportTimeoutMillis; shutdown
 * exports everything queued and stops taking spans.
 */
export class SpanBatcher {
  readonly #exporter: SpanExporter;
  readonly #settings: BatchSettings;
  readonly #onError: (err: Error) => void;
  readonly #onDrop: (dropped: number) => void;
  /** Batches waiting, oldest first; only the last one takes new spans. */
  #batches: PendingBatch[] = [];
  /** Spans in #batches. */
  #queued = 0;
  #dropped = 0;
  #exporting = false;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  #closed = false;

  constructor(exporter: SpanExporter, settings: BatchSettings, onError: (err: Error) => void, onDrop: (dropped: number) => void) {
    this.#exporter = exporter;
    this.#settings = settings.maxExportBatchSize > settings.maxQueueSize ? { ...settings, maxExportBatchSize: settings.maxQueueSize } : settings;
    this.#onError = onError;
    this.#onDrop = onDrop;
  }

  /** Spans waiting for export. */
  get queued(): number {
    return this.#queued;
  }

  add(span: SpanRecord): void {
    if (this.#closed) return;
    if (this.#queued >= this.#settings.maxQueueSize) {
      this.#dropped++;
      return;
    }
    const batches = this.#batches;
    let batch = batches.length === 0 ? null : batches[batches.length - 1];
    if (batch === null || batch.count >= this.#settings.maxExportBatchSize) {
      batch = new PendingBatch(this.#exporter);
      batches.push(batch);
    }
    batch.add(span);
    this.#queued++;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#exporting || this.#closed) return;
    if (this.#batches.length > 0 && this.#batches[0].count >= this.#settings.maxExportBatchSize) {
      if (this.#immediate === null) this.#immediate = setImmediate(this.#flush);
      return;
    }
    if (this.#timer !== null) return;
    this.#timer = setTimeout(this.#flush, this.#settings.scheduledDelayMillis);
    this.#timer.unref();
  }

  readonly #flush = (): void => {
    // The timer and the immediate may both be pending (the queue filled while the timer ran):
    // whichever fires first exports, the other finds it busy. One export at a time.
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    if (this.#exporting || this.#closed) return;
    this.#exporting = true;
    this.#exportOne().then(
      () => {
        this.#exporting = false;
        if (this.#queued > 0) this.#schedule();
      },
      (err: unknown) => {
        this.#exporting = false;
        this.#onError(err instanceof Error ? err : new Error(String(err)));
        if (this.#queued > 0) this.#schedule();
      },
    );
  };

  /** Export the next batch; settles when the exporter does or the export timeout passes. */
  #exportOne(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#dropped > 0) {
      this.#onDrop(this.#dropped);
      this.#dropped = 0;
    }
    const { exportTimeoutMillis } = this.#settings;
    const batch = this.#batches.shift();
    if (batch === undefined) return Promise.resolve();
    this.#queued -= batch.count;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`export timed out after ${exportTimeoutMillis} ms`)), exportTimeoutMillis);
      this.#exporter.export(batch).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** Export everything queued (in batches, together), then release the exporter. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    const batches: Promise<void>[] = [];
    while (this.#batches.length > 0) batches.push(this.#exportOne().catch((err: unknown) => this.#onError(err instanceof Error ? err : new Error(String(err)))));
    await Promise.all(batches);
    this.#exporter.shutdown();
  }
}

/** The exporter settings OTEL_EXPORTER_OTLP_* give (see tracingSettings). */
export interface OtlpHttpSettings {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMillis: number;
  readonly compression: 'none' | 'gzip';
  /** PEM file paths for https: trusted CA, client certificate and key. */
  readonly certificate?: string;
  readonly clientCertificate?: string;
  readonly clientKey?: string;
}

const gzipAsync = promisify(gzip);
const USER_AGENT = 'fengling-gateway-otlp';
/** In-flight exports at most (those the queue stopped waiting for count): OpenTelemetry's default. */
const CONCURRENCY_LIMIT = 30;
/** Retries as OpenTelemetry's OTLP exporters do them: up to 5, backoff 1 s x1.5 up to 5 s, ±20% jitter. */
const MAX_RETRIES = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_NETWORK_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH']);
/** A collector's answer is read (for its status) up to this size; the body is not used. */
const MAX_RESPONSE_BYTES = 64 * 1024;

type Attempt = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly retryAfterMs: number | null; readonly error: Error };

/** Header names the exporter writes itself; the same names among OTEL_EXPORTER_OTLP_HEADERS are not sent. */
const OWN_HEADERS = new Set(['host', 'content-type', 'content-length', 'content-encoding', 'user-agent', 'transfer-encoding', 'connection']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value without CR, LF, NUL or another control byte other than tab (RFC 9110 §5.5). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Why a header of OTEL_EXPORTER_OTLP_HEADERS cannot be sent, or null when it can. */
export function otlpHeaderProblem(name: string, value: string): string | null {
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  if (!FIELD_VALUE.test(value)) return `the value of ${JSON.stringify(name)} holds a control character (CR, LF, NUL...)`;
  return null;
}

/** Forwarder failures an export retries, as the OTLP exporters retry connection errors. */
const RETRYABLE_FORWARD_ERRORS = new Set(['UPSTREAM_CONNECT_FAILED', 'UPSTREAM_CONNECT_TIMEOUT', 'UPSTREAM_RESET', 'UPSTREAM_HEAD_TIMEOUT', 'UPSTREAM_BODY_TIMEOUT']);
/** Idle keep-alive connections to the collector are closed after this (below the 5 s keep-alive timeout of many servers). */
const COLLECTOR_IDLE_TIMEOUT_MS = 4000;

/** OTLP over HTTP (http/protobuf or http/json, by the encoder): one keep-alive pool (http://) or agent (https://) per worker. */
export class OtlpHttpExporter implements SpanExporter {
  readonly encoder: SpanEncoder;
  readonly #settings: OtlpHttpSettings;
  readonly #url: URL;
  /** http:// collectors: the forwarder's pool, and the request head up to content-length. */
  readonly #pool: Http1Pool | null = null;
  readonly #headPrefix: string = '';
  /** https:// collectors: node:https, and the headers of every POST but content-length. */
  readonly #agent: HttpsAgent | null = null;
  readonly #httpsHeaders: Readonly<Record<string, string>> = {};
  /** Writers whose last body is sent: reused, so a batch's body is not a fresh allocation. */
  readonly #writers: ByteWriter[] = [];
  #inFlight = 0;

  constructor(encoder: SpanEncoder, settings: OtlpHttpSettings) {
    this.encoder = encoder;
    this.#settings = settings;
    this.#url = new URL(settings.url);
    for (const [name, value] of Object.entries(settings.headers)) {
      const problem = otlpHeaderProblem(name, value);
      if (problem !== null) throw new Error(`OTLP exporter header: ${problem}`);
    }
    // The same headers whichever way the POST goes: the exporter's own, then the user's others.
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'content-type': encoder.contentType };
    for (const [name, value] of Object.entries(settings.headers)) if (!OWN_HEADERS.has(name.toLowerCase())) headers[name] = value;
    if (settings.compression === 'gzip') headers['content-encoding'] = 'gzip';
    if (this.#url.protocol === 'https:') {
      const pem = (path: string | undefined): Buffer | undefined => (path === undefined ? undefined : readFileSync(path));
      this.#agent = new HttpsAgent({ keepAlive: true, ca: pem(settings.certificate), cert: pem(settings.clientCertificate), key: pem(settings.clientKey) });
      this.#httpsHeaders = headers;
      return;
    }
    if (this.#url.protocol !== 'http:') throw new Error(`OTLP exporter: unsupported URL scheme ${this.#url.protocol} (http: or https:)`);
    const host = this.#url.hostname.startsWith('[') ? this.#url.hostname.slice(1, -1) : this.#url.hostname;
    this.#pool = new Http1Pool({ host, port: this.#url.port === '' ? 80 : Number(this.#url.port) }, {
      maxIdleConnections: 4, idleTimeoutMs: COLLECTOR_IDLE_TIMEOUT_MS, connectTimeoutMs: settings.timeoutMillis, maxResponseHeadBytes: 16 * 1024,
    });
    let head = `POST ${this.#url.pathname}${this.#url.search} HTTP/1.1\r\nhost: ${this.#url.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    this.#headPrefix = head;
  }

  takeWriter(): ByteWriter {
    return this.#writers.pop() ?? new ByteWriter(64 * 1024);
  }

  async export(batch: PendingBatch): Promise<void> {
    if (this.#inFlight >= CONCURRENCY_LIMIT) throw new Error('concurrent export limit reached');
    this.#inFlight++;
    let writer: ByteWriter | null = batch.writer!;
    try {
      let body = this.encoder.finish(writer);
      if (this.#settings.compression === 'gzip') {
        body = await gzipAsync(body);
        this.#writers.push(writer);
        writer = null;
      }
      const deadline = Date.now() + this.#settings.timeoutMillis;
      let backoff = INITIAL_BACKOFF_MS;
      for (let retries = 0; ; retries++) {
        const result = await this.#post(body, Math.max(1, deadline - Date.now()));
        if (result.ok) {
          // The collector answered, so it read the whole body: the writer may be reused. (After a
          // failure the socket may still hold the body, and the writer is left to the GC.)
          if (writer !== null) this.#writers.push(writer);
          return;
        }
        if (!result.retry || retries >= MAX_RETRIES) throw result.error;
        const wait = result.retryAfterMs ?? Math.min(backoff * (0.8 + Math.random() * 0.4), MAX_BACKOFF_MS);
        backoff *= BACKOFF_MULTIPLIER;
        if (wait > deadline - Date.now()) throw result.error;
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
      }
    } finally {
      this.#inFlight--;
    }
  }

  #post(body: Buffer, timeoutMs: number): Promise<Attempt> {
    const pool = this.#pool;
    if (pool !== null) return postThroughPool(pool, `${this.#headPrefix}content-length: ${body.length}\r\n\r\n`, body, timeoutMs);
    return new Promise((resolve) => {
      const headers = { ...this.#httpsHeaders, 'content-length': body.length };
      const req = httpsRequest(this.#url, { method: 'POST', agent: this.#agent!, headers }, (res: IncomingMessage) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('error', () => undefined);
        res.on('close', () => resolve(answered(res.statusCode ?? 0, res.statusMessage ?? '', res.headers['retry-after'])));
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        resolve({ ok: false, retry: true, retryAfterMs: null, error: new Error('request timed out') });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        resolve({ ok: false, retry: err.code !== undefined && RETRYABLE_NETWORK_ERRORS.has(err.code), retryAfterMs: null, error: err });
      });
      req.end(body);
    });
  }

  shutdown(): void {
    this.#pool?.close();
    this.#agent?.destroy();
  }
}

/** One POST over the forwarder's pool: the same outcomes #post gives with node:https. */
function postThroughPool(pool: Http1Pool, head: string, body: Buffer, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const post = new CollectorPost(resolve);
    const exchange = pool.request({ method: 'POST', head, bodyMode: 'length', headTimeoutMs: timeoutMs, bodyIdleTimeoutMs: timeoutMs }, post);
    post.exchange = exchange;
    if (body.length > 0) exchange.writeBody(body);
    exchange.endBody();
  });
}

/**
 * The response handler of one POST to the collector. A class, not an object literal of
 * closures: the pool's connections call their handlers from the same call sites as the
 * proxy's requests, and closures made per POST gave those sites a new target each time. As a
 * class (prototype methods, two targets in all), a traced request costs 1,400 instructions
 * fewer in bench/instructions.mjs.
 */
class CollectorPost implements ResponseHandler {
  readonly #resolve: (attempt: Attempt) => void;
  exchange: Exchange | null = null;
  #status = 0;
  #statusMessage = '';
  #retryAfter: string | undefined = undefined;
  #size = 0;
  #settled = false;

  constructor(resolve: (attempt: Attempt) => void) {
    this.#resolve = resolve;
  }

  #settle(attempt: Attempt): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(attempt);
  }

  onHead(head: ResponseHead): void {
    this.#status = head.statusCode;
    this.#statusMessage = head.statusMessage;
    const headers = head.headers;
    for (let i = 0; i < headers.length; i += 2) if (responseName(headers[i]).lower === 'retry-after') this.#retryAfter = headers[i + 1];
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > MAX_RESPONSE_BYTES) {
      this.exchange?.abort();
      this.#settle({ ok: false, retry: false, retryAfterMs: null, error: new Error(`collector answered ${this.#status} with more than ${MAX_RESPONSE_BYTES} bytes`) });
      return false;
    }
    return true;
  }

  onEnd(): void {
    this.#settle(answered(this.#status, this.#statusMessage, this.#retryAfter));
  }

  onError(error: ForwardError): void {
    this.#settle({ ok: false, retry: RETRYABLE_FORWARD_ERRORS.has(error.code), retryAfterMs: null, error: new Error(`${error.code}: ${error.message.replace('the upstream', 'the collector')}`) });
  }
}

/** The outcome of a POST the collector answered in full: 2xx accepted, 429/502/503/504 retried (after Retry-After when given). */
function answered(status: number, statusMessage: string, retryAfterValue: string | undefined): Attempt {
  if (status >= 200 && status <= 299) return { ok: true };
  return { ok: false, retry: RETRYABLE_STATUS.has(status), retryAfterMs: retryAfter(retryAfterValue), error: new Error(`collector answered ${status} ${statusMessage}`.trim()) };
}

/** Retry-After in milliseconds (seconds or an HTTP date), or null. */
function retryAfter(value: string | undefined): number | null {
  if (value === undefined) return null;
  const seconds = Number.parseInt(value, 10);
  if (Number.isInteger(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** API SpanKind numbering (SERVER 1, CLIENT 2), as OpenTelemetry's ConsoleSpanExporter prints it. */
const API_KIND_OFFSET = 1;

/** Spans printed to stdout (`OTEL_TRACES_EXPORTER=console`), in the fields OpenTelemetry's ConsoleSpanExporter prints. */
export class ConsoleSpanExporter implements SpanExporter {
  readonly encoder = null;
  readonly #resource: Readonly<Record<string, string>>;
  readonly #scopeName: string;
  readonly #clock: SpanClock;

  constructor(resource: Readonly<Record<string, string>>, scopeName: string, clock: SpanClock) {
    this.#resource = resource;
    this.#scopeName = scopeName;
    this.#clock = clock;
  }

  export(batch: PendingBatch): Promise<void> {
    for (const span of batch.records!) {
      console.dir({
        resource: { attributes: this.#resource },
        instrumentationScope: { name: this.#scopeName },
        traceId: span.traceId,
        parentSpanContext: span.parentSpanId === null ? undefined : { traceId: span.traceId, spanId: span.parentSpanId, isRemote: span.parentIsRemote },
        traceState: span.traceState ?? undefined,
        name: span.name,
        id: span.spanId,
        kind: span.kind - API_KIND_OFFSET,
        timestamp: Math.round(Number(this.#clock.decimal(span.startTime)) / 1000),
        duration: Math.round((span.endTime - span.startTime) * 1000),
        attributes: spanAttributes(span),
        status: span.statusMessage === null ? { code: span.statusCode } : { code: span.statusCode, message: span.statusMessage },
        events: [],
        links: [],
      }, { depth: 3 });
    }
    return Promise.resolve();
  }

  shutdown(): void {}
}
