/**
 * Distributed tracing (OBS-01): the RequestTracer a worker's pipeline calls. One tracer per
 * worker thread records compact spans (span-record.ts) and hands them to a batch queue with
 * the BatchSpanProcessor's rules (span-export.ts), which encodes OTLP directly from the records
 * (otlp-encode.ts); exporting never happens on the request's own turn. It speaks the
 * OpenTelemetry settings (OTEL_*), W3C Trace Context and OTLP, but does not go through the
 * OpenTelemetry SDK: the SDK's span objects, context propagation, id generator and
 * transformer cost about a quarter of a worker's time at 100% sampling (docs/performance.md).
 *
 *   caller ──traceparent──▶ [server span  "GET <route id>"]             kind SERVER, parent: the caller's span
 *                               └─ [client span "GET"]  ──traceparent──▶ upstream
 *                                  kind CLIENT, one per upstream attempt (a retry is a second client span)
 *
 * Sampling follows OTEL_TRACES_SAMPLER (default parentbased_always_on): a caller's unsampled
 * traceparent (flags 00) gives an unsampled span, start() returns null, and the pipeline
 * forwards the caller's traceparent unchanged, so the decision travels on.
 *
 * Off unless OTEL_TRACES_EXPORTER names an exporter (the OpenTelemetry default is `otlp`; ours
 * is off, so a gateway never tries to reach a collector nobody configured). Off, the factory
 * returns null and the pipeline pays one comparison per request.
 *
 * The context is passed explicitly (no AsyncLocalStorage context manager, no global provider):
 * the pipeline holds its RequestTrace, and nothing else in the worker creates spans.
 *
 * Per recorded request: one CompactRequestTrace, a SpanRecord for the server span and one per
 * upstream attempt, and the id and traceparent strings; nothing else is allocated until export.
 */
import { performance } from 'node:perf_hooks';
import { parseKeyPairsIntoRecord } from '@opentelemetry/core';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from './logger.js';
import { OtlpJsonEncoder, OtlpProtobufEncoder } from './otlp-encode.js';
import { ConsoleSpanExporter, OtlpHttpExporter, otlpHeaderProblem, SpanBatcher, type BatchSettings, type OtlpHttpSettings, type SpanExporter } from './span-export.js';
import {
  emptyTraceparent, IdSource, normalizeTraceState, parseTraceparent, SLOT_DESTINATION, SLOT_ERROR_CODE, SLOT_ERROR_TYPE, SLOT_METHOD,
  SLOT_METHOD_ORIGINAL, SLOT_RESEND_COUNT, SLOT_ROUTE, SLOT_SERVER_ADDRESS, SLOT_SERVER_PORT, SLOT_STATUS_CODE,
  SLOT_URL_PATH, SLOT_URL_SCHEME, sampledTraceparentLine, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, SpanClock, SpanRecord, STATUS_ERROR,
  traceIdRatioSampled,
} from './span-record.js';
import type { RequestTrace, RequestTracer } from './tracing-types.js';

export { ATTR_FENGLING_DESTINATION, ATTR_FENGLING_ERROR_CODE } from './span-record.js';

export const DEFAULT_SERVICE_NAME = 'fengling-gateway';
export const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';
/** error.type of a request whose client went away before the response ended (no ErrorCode). */
export const CLIENT_ABORTED_ERROR = 'CLIENT_ABORTED';
/** The instrumentation scope of the gateway's spans. */
export const SCOPE_NAME = 'fengling-gateway';

type Env = Readonly<Record<string, string | undefined>>;

export type ExporterName = 'otlp' | 'console';
export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** Tracing settings read from the standard OTEL_* variables; every problem is a warning, never fatal. */
export interface TracingSettings {
  readonly exporters: readonly ExporterName[];
  readonly protocol: OtlpProtocol;
  readonly url: string;
  /** OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE, _CLIENT_* (and their _TRACES_ forms). */
  readonly otlp: Omit<OtlpHttpSettings, 'url'>;
  readonly samplerName: string;
  readonly plan: SamplingPlan;
  readonly serviceName: string;
  readonly resource: Readonly<Record<string, string>>;
  readonly batch: BatchSettings;
}

/** Parse the OTEL_* variables; null when tracing is off. Problems go to `warn`. */
export function tracingSettings(env: Env, warn: (message: string) => void): TracingSettings | null {
  if (flag(env.OTEL_SDK_DISABLED)) return null;
  const exporters: ExporterName[] = [];
  for (const raw of (env.OTEL_TRACES_EXPORTER ?? '').split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '' || name === 'none') continue;
    if (name === 'otlp' || name === 'console') {
      if (!exporters.includes(name)) exporters.push(name);
    } else {
      warn(`OTEL_TRACES_EXPORTER: unsupported exporter ${JSON.stringify(name)} ignored (supported: otlp, console, none)`);
    }
  }
  if (exporters.length === 0) return null;

  const rawProtocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim().toLowerCase();
  let protocol: OtlpProtocol = 'http/protobuf';
  if (rawProtocol === 'http/json' || rawProtocol === 'http/protobuf') protocol = rawProtocol;
  else warn(`OTEL_EXPORTER_OTLP_PROTOCOL: ${JSON.stringify(rawProtocol)} is not supported (http/json, http/protobuf); using http/protobuf`);

  const { name: samplerName, plan } = samplerFromEnv(env, warn);
  const resource = resourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || resource[ATTR_SERVICE_NAME] || DEFAULT_SERVICE_NAME;
  return {
    exporters, protocol, url: otlpTracesUrl(env), otlp: otlpExporterSettings(env, warn), samplerName, plan, serviceName, resource,
    batch: {
      scheduledDelayMillis: positive(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, warn),
      exportTimeoutMillis: positive(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, warn),
      maxQueueSize: positive(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, warn),
      maxExportBatchSize: positive(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, warn),
    },
  };
}

/** The traces URL: the signal-specific endpoint as given, else the base endpoint + /v1/traces. */
export function otlpTracesUrl(env: Env): string {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`;
  return DEFAULT_OTLP_TRACES_URL;
}

/**
 * The OTLP exporter's own variables, as OpenTelemetry's OTLP/HTTP exporters read them: the
 * `_TRACES_` form wins (headers: merged over the general ones), timeout 10 s, no compression.
 */
export function otlpExporterSettings(env: Env, warn: (message: string) => void): Omit<OtlpHttpSettings, 'url'> {
  const pick = (name: string): string | undefined => env[`OTEL_EXPORTER_OTLP_TRACES_${name}`]?.trim() || env[`OTEL_EXPORTER_OTLP_${name}`]?.trim() || undefined;
  const headers = { ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) };
  for (const [name, value] of Object.entries(headers)) {
    const problem = otlpHeaderProblem(name, value);
    if (problem === null) continue;
    warn(`OTEL_EXPORTER_OTLP_HEADERS: ${problem}; that header is not sent`);
    delete headers[name];
  }
  const timeoutMillis = positive(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', positive(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, warn), warn);
  let compression: 'none' | 'gzip' = 'none';
  const rawCompression = pick('COMPRESSION')?.toLowerCase();
  if (rawCompression === 'gzip') compression = 'gzip';
  else if (rawCompression !== undefined && rawCompression !== 'none') warn(`OTEL_EXPORTER_OTLP_COMPRESSION: ${JSON.stringify(rawCompression)} is not supported (gzip, none); using none`);
  return {
    headers, timeoutMillis, compression,
    certificate: pick('CERTIFICATE'), clientCertificate: pick('CLIENT_CERTIFICATE'), clientKey: pick('CLIENT_KEY'),
  };
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the specification defines them. */
export function samplerFromEnv(env: Env, warn: (message: string) => void): { name: string; plan: SamplingPlan } {
  let name = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase() || 'parentbased_always_on';
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
    if (!raw) return 1;
    const n = Number(raw);
    if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
    warn(`OTEL_TRACES_SAMPLER_ARG: ${JSON.stringify(raw)} is not a probability from 0 to 1; using 1`);
    return 1;
  };
  switch (name) {
    case 'always_on': return { name, plan: { rootRatio: 1, followParent: false, never: false } };
    case 'always_off': return { name, plan: { rootRatio: 0, followParent: false, never: true } };
    case 'traceidratio': {
      const r = ratio();
      return { name, plan: { rootRatio: r, followParent: false, never: r === 0 } };
    }
    case 'parentbased_always_off': return { name, plan: { rootRatio: 0, followParent: true, never: false } };
    case 'parentbased_traceidratio': {
      const r = ratio();
      return { name, plan: { rootRatio: r, followParent: true, never: false } };
    }
    case 'parentbased_always_on': break;
    default:
      warn(`OTEL_TRACES_SAMPLER: unsupported sampler ${JSON.stringify(name)}; using parentbased_always_on`);
      name = 'parentbased_always_on';
  }
  return { name, plan: { rootRatio: 1, followParent: true, never: false } };
}

/**
 * What the configured sampler decides, known before any span exists, so that a request that
 * will not be recorded costs no span at all:
 * `never` records nothing; a request without a (valid) parent is recorded with probability
 * `rootRatio`; with `followParent` a caller's traceparent decides by its sampled flag, and
 * without it (`always_on`, `traceidratio`) the caller's trace id decides as OpenTelemetry's
 * TraceIdRatioBased sampler would (ratio 1: always).
 */
export interface SamplingPlan {
  readonly rootRatio: number;
  readonly followParent: boolean;
  readonly never: boolean;
}

/** The sampled flag of a valid W3C traceparent, or undefined when it is not one. */
export function traceparentSampled(value: string): boolean | undefined {
  const fields = emptyTraceparent();
  return parseTraceparent(value, fields) ? (fields.flags & 1) === 1 : undefined;
}

/** OTEL_RESOURCE_ATTRIBUTES: `key=value,key2=value2`, values percent-encoded. */
function resourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      /* a malformed escape: skip that attribute */
    }
  }
  return out;
}

function flag(raw: string | undefined): boolean {
  return raw !== undefined && raw.trim().toLowerCase() === 'true';
}

function positive(env: Env, name: string, fallback: number, warn: (message: string) => void): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  warn(`${name}: ${JSON.stringify(raw)} is not a positive whole number; using ${fallback}`);
  return fallback;
}

/** A RequestTracer with a flush for shutdown. */
export interface GatewayTracer extends RequestTracer {
  /** Export what is buffered and stop; call before the thread exits. */
  shutdown(): Promise<void>;
}

const COMPLAINT_INTERVAL_MS = 60_000;

/**
 * The worker's tracer, or null when tracing is off (OTEL_TRACES_EXPORTER unset or `none`).
 * `env` is the process environment (worker threads get a copy of the primary's).
 */
export function createRequestTracer(env: Env, log: Logger): GatewayTracer | null {
  const settings = tracingSettings(env, (message) => log.warn({ code: 'SETTING_INVALID' }, message));
  if (settings === null) return null;
  const clock = new SpanClock();
  const resource = { ...settings.resource, [ATTR_SERVICE_NAME]: settings.serviceName };
  const origin = { resource, scopeName: SCOPE_NAME };
  // Export failures (collector down) and full queues would otherwise vanish: say so, each at most once a minute.
  let lastFailure = -COMPLAINT_INTERVAL_MS;
  let lastDrop = -COMPLAINT_INTERVAL_MS;
  let dropped = 0;
  const onError = (err: Error): void => {
    const now = performance.now();
    if (now - lastFailure < COMPLAINT_INTERVAL_MS) return;
    lastFailure = now;
    log.warn({ err: err.message, url: settings.url }, 'exporting trace spans failed');
  };
  const onDrop = (count: number): void => {
    dropped += count;
    const now = performance.now();
    if (now - lastDrop < COMPLAINT_INTERVAL_MS) return;
    lastDrop = now;
    log.warn({ dropped, maxQueueSize: settings.batch.maxQueueSize }, 'trace spans dropped: the export queue was full');
    dropped = 0;
  };
  const batchers = settings.exporters.map((name) => {
    let exporter: SpanExporter;
    if (name === 'console') {
      exporter = new ConsoleSpanExporter(resource, SCOPE_NAME, clock);
    } else {
      const encoder = settings.protocol === 'http/json' ? new OtlpJsonEncoder(origin, clock) : new OtlpProtobufEncoder(origin, clock);
      exporter = new OtlpHttpExporter(encoder, { ...settings.otlp, url: settings.url });
    }
    return new SpanBatcher(exporter, settings.batch, onError, onDrop);
  });
  const sink: SpanSink = batchers.length === 1 ? batchers[0] : new FanOut(batchers);
  log.debug({ exporters: settings.exporters, protocol: settings.protocol, url: settings.url, sampler: settings.samplerName }, 'tracing on');
  return new CompactRequestTracer(settings.plan, sink, async () => {
    await Promise.all(batchers.map((b) => b.shutdown()));
  });
}

/** Where ended spans go: the batch queue (a SpanBatcher), or several. A method call, where a function-valued field cost a generic call per span. */
export interface SpanSink {
  add(span: SpanRecord): void;
}

/** Each span to every one of several queues (OTEL_TRACES_EXPORTER=otlp,console). */
class FanOut implements SpanSink {
  readonly #sinks: readonly SpanSink[];

  constructor(sinks: readonly SpanSink[]) {
    this.#sinks = sinks;
  }

  add(span: SpanRecord): void {
    for (const sink of this.#sinks) sink.add(span);
  }
}

/**
 * The HTTP methods semantic conventions name, each mapped to its own literal: attributes then
 * hold one string per method, not the request's fresh copy, so the encoder's comparison with
 * the last span's value is by reference.
 */
const KNOWN_METHODS = new Map(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'].map((m) => [m, m]));

interface HostPort {
  readonly host: string;
  readonly port: number | undefined;
}

/** `host[:port]` or `[v6][:port]` of a Host header or an address's authority. */
export function splitHostPort(authority: string): HostPort {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end > 0) {
      const port = authority[end + 1] === ':' ? Number(authority.slice(end + 2)) : undefined;
      return { host: authority.slice(1, end), port: Number.isInteger(port) ? port : undefined };
    }
  }
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(':') === colon) {
    const port = Number(authority.slice(colon + 1));
    return { host: authority.slice(0, colon), port: Number.isInteger(port) && port > 0 ? port : undefined };
  }
  return { host: authority, port: undefined };
}

/** splitHostPort(authority), remembered under `key` in a cache of at most 10,000 entries. */
function cachedHostPort(cache: Map<string, HostPort>, key: string, authority: string): HostPort {
  let hp = cache.get(key);
  if (hp === undefined) {
    if (cache.size >= 10_000) cache.clear();
    hp = splitHostPort(authority);
    cache.set(key, hp);
  }
  return hp;
}

/**
 * The RequestTracer: decides (SamplingPlan), then records a server span per request and a
 * client span per upstream attempt as SpanRecords, each handed to the sink when it ends.
 */
export class CompactRequestTracer implements GatewayTracer {
  readonly #plan: SamplingPlan;
  readonly #sink: SpanSink;
  readonly #shutdown: () => Promise<void>;
  readonly #ids = new IdSource();
  /** The caller's traceparent, parsed into this (reused) object. */
  readonly #parent = emptyTraceparent();
  /** Parsed destination addresses (they change with the configuration, rarely) and Host values (few). */
  readonly #destinations = new Map<string, HostPort>();
  readonly #hosts = new Map<string, HostPort>();
  /** The last tracestate normalized: callers tend to send the same one again and again. */
  #lastTraceState = '';
  #lastTraceStateNormalized = '';
  #lastNameMethod = '';
  #lastNameRoute = '';
  #lastName = '';
  /**
   * The last request's method and Host, with what was derived from them: requests tend to repeat
   * both, and comparing a fresh string with the last one costs less than hashing it for a lookup.
   */
  #lastMethod = '';
  /** Its KNOWN_METHODS literal, or '' when it is not one. */
  #lastMethodKnown = '';
  #lastHost = '';
  #lastHostPort: HostPort = { host: '', port: undefined };

  constructor(plan: SamplingPlan, sink: SpanSink, shutdown: () => Promise<void> = () => Promise.resolve()) {
    this.#plan = plan;
    this.#sink = sink;
    this.#shutdown = shutdown;
  }

  start(method: string, path: string, routeId: string, host: string, traceparent: string | undefined, tracestate: string | undefined, at = performance.now()): RequestTrace | null {
    const plan = this.#plan;
    if (plan.never) return null;
    const parent = this.#parent;
    const hasParent = traceparent !== undefined && parseTraceparent(traceparent, parent);
    let record: boolean;
    if (!hasParent) record = plan.rootRatio >= 1 || (plan.rootRatio > 0 && Math.random() < plan.rootRatio);
    else if (plan.followParent) record = (parent.flags & 1) === 1;
    else record = traceIdRatioSampled(parent, plan.rootRatio);
    if (!record) return null;

    if (method !== this.#lastMethod) {
      this.#lastMethod = method;
      this.#lastMethodKnown = KNOWN_METHODS.get(method) ?? '';
    }
    const knownMethod = this.#lastMethodKnown;
    const known = knownMethod !== '';
    const spanMethod = known ? knownMethod : '_OTHER';
    const ids = this.#ids;
    ids.drawSpanId();
    const name = this.#serverName(known ? knownMethod : 'HTTP', routeId);
    let server: SpanRecord;
    if (hasParent) {
      const state = tracestate === undefined ? null : this.#traceState(tracestate);
      server = new SpanRecord(true, state, SPAN_KIND_SERVER, name, at);
      server.setIds(parent, ids, parent);
    } else {
      ids.drawTraceId();
      server = new SpanRecord(false, null, SPAN_KIND_SERVER, name, at);
      server.setIds(ids, ids, null);
    }
    const a = server.attributes;
    a[SLOT_METHOD] = spanMethod;
    a[SLOT_ROUTE] = routeId;
    a[SLOT_URL_PATH] = path;
    a[SLOT_URL_SCHEME] = 'http';
    if (!known) a[SLOT_METHOD_ORIGINAL] = method;
    if (host) {
      if (host !== this.#lastHost) {
        this.#lastHost = host;
        this.#lastHostPort = cachedHostPort(this.#hosts, host, host);
      }
      const hp = this.#lastHostPort;
      a[SLOT_SERVER_ADDRESS] = hp.host;
      if (hp.port !== undefined) a[SLOT_SERVER_PORT] = hp.port;
    }
    return new CompactRequestTrace(this, server, spanMethod);
  }

  /** `METHOD route`, kept from the last request: requests of one route tend to follow each other. */
  #serverName(method: string, routeId: string): string {
    if (method !== this.#lastNameMethod || routeId !== this.#lastNameRoute) {
      this.#lastNameMethod = method;
      this.#lastNameRoute = routeId;
      this.#lastName = `${method} ${routeId}`;
    }
    return this.#lastName;
  }

  /** A caller's tracestate as it travels on: normalized (see normalizeTraceState), null when empty. */
  #traceState(raw: string): string | null {
    if (raw !== this.#lastTraceState) {
      this.#lastTraceState = raw;
      this.#lastTraceStateNormalized = normalizeTraceState(raw);
    }
    return this.#lastTraceStateNormalized === '' ? null : this.#lastTraceStateNormalized;
  }

  /** The client span of one upstream attempt (used by CompactRequestTrace); recorded, as its server span is. */
  startClient(server: SpanRecord, method: string, destinationId: string, address: string, attempt: number, at: number): SpanRecord {
    const hp = this.#destinations.get(address) ?? cachedHostPort(this.#destinations, address, address.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, ''));
    const ids = this.#ids;
    ids.drawSpanId();
    const client = new SpanRecord(false, server.traceState, SPAN_KIND_CLIENT, method === '_OTHER' ? 'HTTP' : method, at);
    client.setIds(server, ids, server);
    const a = client.attributes;
    a[SLOT_METHOD] = method;
    a[SLOT_SERVER_ADDRESS] = hp.host;
    a[SLOT_SERVER_PORT] = hp.port ?? 80;
    a[SLOT_DESTINATION] = destinationId;
    if (attempt > 1) a[SLOT_RESEND_COUNT] = attempt - 1;
    return client;
  }

  /** A span has ended: to the batch queue(s). */
  ended(span: SpanRecord, at: number): void {
    span.endTime = at;
    this.#sink.add(span);
  }

  shutdown(): Promise<void> {
    return this.#shutdown();
  }
}

class CompactRequestTrace implements RequestTrace {
  readonly #tracer: CompactRequestTracer;
  readonly #server: SpanRecord;
  readonly #method: string;
  #client: SpanRecord | null = null;

  constructor(tracer: CompactRequestTracer, server: SpanRecord, method: string) {
    this.#tracer = tracer;
    this.#server = server;
    this.#method = method;
  }

  get traceId(): string {
    return this.#server.traceId;
  }

  get spanId(): string {
    return this.#server.spanId;
  }

  startUpstream(destinationId: string, address: string, attempt: number, at = performance.now()): string {
    if (this.#client !== null) this.endUpstream(0, 'UPSTREAM_ABORTED', at);
    const client = this.#tracer.startClient(this.#server, this.#method, destinationId, address, attempt, at);
    this.#client = client;
    // Recorded spans are sampled: flags 01.
    const lines = sampledTraceparentLine(client);
    return client.traceState === null ? lines : `${lines}tracestate: ${client.traceState}\r\n`;
  }

  endUpstream(status: number, errorCode: string | null, at = performance.now()): void {
    const client = this.#client;
    if (client === null) return;
    this.#client = null;
    const a = client.attributes;
    if (status > 0) a[SLOT_STATUS_CODE] = status;
    // Client spans: 4xx and 5xx are errors (HTTP span status rules); a transport failure too.
    const errorType = errorCode ?? (status >= 400 ? String(status) : null);
    if (errorType !== null) {
      a[SLOT_ERROR_TYPE] = errorType;
      if (errorCode !== null) a[SLOT_ERROR_CODE] = errorCode;
      client.statusCode = STATUS_ERROR;
      client.statusMessage = errorCode;
    }
    this.#tracer.ended(client, at);
  }

  end(status: number, errorCode: string | null, at = performance.now()): void {
    const server = this.#server;
    const aborted = status === 499 && errorCode === null;
    if (this.#client !== null) this.endUpstream(0, aborted ? CLIENT_ABORTED_ERROR : errorCode ?? 'UPSTREAM_ABORTED', at);
    const a = server.attributes;
    if (errorCode !== null) a[SLOT_ERROR_CODE] = errorCode;
    if (aborted) {
      // Nothing (or not all) was sent: no status code to report, and not a server error.
      a[SLOT_ERROR_TYPE] = CLIENT_ABORTED_ERROR;
    } else {
      a[SLOT_STATUS_CODE] = status;
      // Server spans: only 5xx are errors; 4xx are the client's.
      if (status >= 500) {
        a[SLOT_ERROR_TYPE] = errorCode ?? String(status);
        server.statusCode = STATUS_ERROR;
        server.statusMessage = errorCode;
      }
    }
    this.#tracer.ended(server, at);
  }
}
