/**
 * Distributed tracing (OBS-01): the RequestTracer a worker's pipeline calls, built on
 * @opentelemetry/sdk-trace-node. One tracer provider per worker thread; spans leave through a
 * BatchSpanProcessor, so exporting never happens on the request's own turn.
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
 */
import {
  defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace,
  type Attributes, type Context, type Span, type Tracer,
} from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, ParentBasedSampler,
  SamplingDecision, TraceIdRatioBasedSampler, type Sampler, type SamplingResult, type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import {
  ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_METHOD_ORIGINAL, ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_SERVICE_NAME, ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { Logger } from './logger.js';
import { setTraceLogFields } from './logger.js';
import type { RequestTrace, RequestTracer } from './tracing-types.js';

export const DEFAULT_SERVICE_NAME = 'fengling-gateway';
export const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';
/** error.type of a request whose client went away before the response ended (no ErrorCode). */
export const CLIENT_ABORTED_ERROR = 'CLIENT_ABORTED';
/** The gateway's own error code (docs/errors.md) on a span, for 4xx failures too. */
export const ATTR_FENGLING_ERROR_CODE = 'fengling.error.code';
export const ATTR_FENGLING_DESTINATION = 'fengling.destination.id';

type Env = Readonly<Record<string, string | undefined>>;

export type ExporterName = 'otlp' | 'console';
export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** Tracing settings read from the standard OTEL_* variables; every problem is a warning, never fatal. */
export interface TracingSettings {
  readonly exporters: readonly ExporterName[];
  readonly protocol: OtlpProtocol;
  readonly url: string;
  readonly sampler: Sampler;
  readonly samplerName: string;
  readonly plan: SamplingPlan;
  readonly serviceName: string;
  readonly resource: Readonly<Record<string, string>>;
  readonly batch: { readonly scheduledDelayMillis: number; readonly exportTimeoutMillis: number; readonly maxQueueSize: number; readonly maxExportBatchSize: number };
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

  const { sampler, name: samplerName, plan } = samplerFromEnv(env, warn);
  const resource = resourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || resource[ATTR_SERVICE_NAME] || DEFAULT_SERVICE_NAME;
  return {
    exporters, protocol, url: otlpTracesUrl(env), sampler, samplerName, plan, serviceName, resource,
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

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the specification defines them. */
export function samplerFromEnv(env: Env, warn: (message: string) => void): { sampler: Sampler; name: string; plan: SamplingPlan } {
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
    case 'always_on': return { sampler: new AlwaysOnSampler(), name, plan: { rootRatio: 1, followParent: false, never: false } };
    case 'always_off': return { sampler: new AlwaysOffSampler(), name, plan: { rootRatio: 0, followParent: false, never: true } };
    case 'traceidratio': {
      const r = ratio();
      return { sampler: new TraceIdRatioBasedSampler(r), name, plan: { rootRatio: r, followParent: false, never: r === 0 } };
    }
    case 'parentbased_always_off': return { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), name, plan: { rootRatio: 0, followParent: true, never: false } };
    case 'parentbased_traceidratio': {
      const r = ratio();
      return { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(r) }), name, plan: { rootRatio: r, followParent: true, never: false } };
    }
    case 'parentbased_always_on': break;
    default:
      warn(`OTEL_TRACES_SAMPLER: unsupported sampler ${JSON.stringify(name)}; using parentbased_always_on`);
      name = 'parentbased_always_on';
  }
  return { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), name, plan: { rootRatio: 1, followParent: true, never: false } };
}

/**
 * What the configured sampler will decide, known before any span exists, so that a request
 * that will not be recorded costs no span at all (ids, attributes, the sampler call):
 * `never` records nothing; a request without a parent is recorded with probability
 * `rootRatio`; with `followParent` a caller's traceparent decides by its sampled flag.
 */
export interface SamplingPlan {
  readonly rootRatio: number;
  readonly followParent: boolean;
  readonly never: boolean;
}

/**
 * The provider's sampler: it returns a decision taken just before startSpan (the plan's, or
 * "record" for the client span of a recorded server span) and otherwise asks the configured
 * sampler. One decision per request, so a ratio is never applied twice.
 */
export class DecidingSampler implements Sampler {
  readonly #inner: Sampler;
  decision: boolean | null = null;

  constructor(inner: Sampler) {
    this.#inner = inner;
  }

  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    if (this.decision === null) return this.#inner.shouldSample(...args);
    return { decision: this.decision ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return `DecidingSampler{${this.#inner.toString()}}`;
  }
}

/** The sampled flag of a valid W3C traceparent (version 00), or undefined when it is not one. */
export function traceparentSampled(value: string): boolean | undefined {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value.trim());
  if (m === null || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return (parseInt(m[3], 16) & 1) === 1;
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

/**
 * The worker's tracer, or null when tracing is off (OTEL_TRACES_EXPORTER unset or `none`).
 * `env` is the process environment (worker threads get a copy of the primary's).
 */
export function createRequestTracer(env: Env, log: Logger): GatewayTracer | null {
  const settings = tracingSettings(env, (message) => log.warn({ code: 'SETTING_INVALID' }, message));
  if (settings === null) return null;
  const exporters: SpanExporter[] = settings.exporters.map((name) => {
    if (name === 'console') return new ConsoleSpanExporter();
    return settings.protocol === 'http/json' ? new OtlpJsonExporter({ url: settings.url }) : new OtlpProtoExporter({ url: settings.url });
  });
  const sampler = new DecidingSampler(settings.sampler);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ ...settings.resource, [ATTR_SERVICE_NAME]: settings.serviceName }),
    sampler,
    spanProcessors: exporters.map((e) => new BatchSpanProcessor(e, settings.batch)),
  });
  // Export failures (collector down) would otherwise vanish: say so, at most once a minute.
  let lastComplaint = 0;
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - lastComplaint < 60_000) return;
    lastComplaint = now;
    log.warn({ err: err instanceof Error ? err.message : String(err), url: settings.url }, 'exporting trace spans failed');
  });
  log.debug({ exporters: settings.exporters, protocol: settings.protocol, url: settings.url, sampler: settings.samplerName }, 'tracing on');
  return new OtelRequestTracer(provider.getTracer('fengling-gateway'), () => provider.shutdown(), { plan: settings.plan, sampler });
}

const propagator = new W3CTraceContextPropagator();

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

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

export class OtelRequestTracer implements GatewayTracer {
  readonly #tracer: Tracer;
  readonly #shutdown: () => Promise<void>;
  /** Parsed destination addresses; they change with the configuration, rarely. */
  readonly #destinations = new Map<string, HostPort>();

  /** With a plan, sampling is decided before any span is made (see SamplingPlan). */
  readonly #decide: { readonly plan: SamplingPlan; readonly sampler: DecidingSampler } | null;

  constructor(tracer: Tracer, shutdown: () => Promise<void>, decide: { readonly plan: SamplingPlan; readonly sampler: DecidingSampler } | null = null) {
    this.#tracer = tracer;
    this.#shutdown = shutdown;
    this.#decide = decide;
  }

  /** true: record; false: do not (no span at all); null: let the configured sampler decide. */
  #preDecide(traceparent: string | undefined): boolean | null {
    const d = this.#decide;
    if (d === null) return null;
    const { plan } = d;
    if (plan.never) return false;
    const parentSampled = traceparent === undefined ? undefined : traceparentSampled(traceparent);
    if (parentSampled === undefined) {
      if (plan.rootRatio >= 1) return true;
      if (plan.rootRatio <= 0) return false;
      return Math.random() < plan.rootRatio;
    }
    return plan.followParent ? parentSampled : null;
  }

  start(method: string, path: string, routeId: string, host: string, traceparent: string | undefined, tracestate: string | undefined): RequestTrace | null {
    const decision = this.#preDecide(traceparent);
    if (decision === false) return null;
    let parent: Context = ROOT_CONTEXT;
    if (traceparent !== undefined) {
      parent = propagator.extract(ROOT_CONTEXT, tracestate === undefined ? { traceparent } : { traceparent, tracestate }, defaultTextMapGetter);
    }
    const known = KNOWN_METHODS.has(method);
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: known ? method : '_OTHER',
      [ATTR_HTTP_ROUTE]: routeId,
      [ATTR_URL_PATH]: path,
      [ATTR_URL_SCHEME]: 'http',
    };
    if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = method;
    if (host) {
      const hp = splitHostPort(host);
      attributes[ATTR_SERVER_ADDRESS] = hp.host;
      if (hp.port !== undefined) attributes[ATTR_SERVER_PORT] = hp.port;
    }
    const sampler = this.#decide?.sampler ?? null;
    if (sampler !== null) sampler.decision = decision;
    let span: Span;
    try {
      span = this.#tracer.startSpan(`${known ? method : 'HTTP'} ${routeId}`, { kind: SpanKind.SERVER, attributes }, parent);
    } finally {
      if (sampler !== null) sampler.decision = null;
    }
    if (!span.isRecording()) return null;
    return new OtelRequestTrace(this, span, known ? method : '_OTHER');
  }

  /** The client span of one upstream attempt (used by OtelRequestTrace). */
  startClient(server: Span, method: string, destinationId: string, address: string, attempt: number): Span {
    let hp = this.#destinations.get(address);
    if (hp === undefined) {
      if (this.#destinations.size > 10_000) this.#destinations.clear();
      hp = splitHostPort(address.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, ''));
      this.#destinations.set(address, hp);
    }
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: hp.host,
      [ATTR_SERVER_PORT]: hp.port ?? 80,
      [ATTR_FENGLING_DESTINATION]: destinationId,
    };
    if (attempt > 1) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = attempt - 1;
    // The client span of a recorded server span is recorded: one decision per request.
    const sampler = this.#decide?.sampler ?? null;
    if (sampler !== null) sampler.decision = true;
    try {
      return this.#tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, server));
    } finally {
      if (sampler !== null) sampler.decision = null;
    }
  }

  shutdown(): Promise<void> {
    return this.#shutdown();
  }
}

function hex2(n: number): string {
  return n < 16 ? `0${n.toString(16)}` : n.toString(16);
}

class OtelRequestTrace implements RequestTrace {
  readonly #tracer: OtelRequestTracer;
  readonly #server: Span;
  readonly #method: string;
  #client: Span | null = null;
  readonly traceId: string;
  readonly spanId: string;

  constructor(tracer: OtelRequestTracer, server: Span, method: string) {
    this.#tracer = tracer;
    this.#server = server;
    this.#method = method;
    const ctx = server.spanContext();
    this.traceId = ctx.traceId;
    this.spanId = ctx.spanId;
  }

  startUpstream(destinationId: string, address: string, attempt: number): { readonly traceparent: string; readonly tracestate: string | null } {
    if (this.#client !== null) this.endUpstream(0, 'UPSTREAM_ABORTED');
    const client = this.#tracer.startClient(this.#server, this.#method, destinationId, address, attempt);
    this.#client = client;
    const ctx = client.spanContext();
    return {
      traceparent: `00-${ctx.traceId}-${ctx.spanId}-${hex2(ctx.traceFlags & 0xff)}`,
      tracestate: ctx.traceState?.serialize() || null,
    };
  }

  endUpstream(status: number, errorCode: string | null): void {
    const client = this.#client;
    if (client === null) return;
    this.#client = null;
    if (status > 0) client.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // Client spans: 4xx and 5xx are errors (HTTP span status rules); a transport failure too.
    const errorType = errorCode ?? (status >= 400 ? String(status) : null);
    if (errorType !== null) {
      client.setAttribute(ATTR_ERROR_TYPE, errorType);
      if (errorCode !== null) client.setAttribute(ATTR_FENGLING_ERROR_CODE, errorCode);
      client.setStatus({ code: SpanStatusCode.ERROR, message: errorCode ?? undefined });
    }
    client.end();
  }

  end(status: number, errorCode: string | null): void {
    const server = this.#server;
    const aborted = status === 499 && errorCode === null;
    if (this.#client !== null) this.endUpstream(0, aborted ? CLIENT_ABORTED_ERROR : errorCode ?? 'UPSTREAM_ABORTED');
    if (errorCode !== null) server.setAttribute(ATTR_FENGLING_ERROR_CODE, errorCode);
    if (aborted) {
      // Nothing (or not all) was sent: no status code to report, and not a server error.
      server.setAttribute(ATTR_ERROR_TYPE, CLIENT_ABORTED_ERROR);
    } else {
      server.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      // Server spans: only 5xx are errors; 4xx are the client's.
      if (status >= 500) {
        server.setAttribute(ATTR_ERROR_TYPE, errorCode ?? String(status));
        server.setStatus({ code: SpanStatusCode.ERROR, message: errorCode ?? undefined });
      }
    }
    server.end();
    // The pipeline writes the request's access log line right after end(), in this same turn.
    setTraceLogFields(this.traceId, this.spanId);
  }
}
