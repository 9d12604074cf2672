/**
 * Micro-benchmark of tracing's CPU per span on a worker thread (OBS-01, the 100%-sampling
 * case), the OpenTelemetry SDK path it replaced against the compact recorder and encoders:
 *
 *   npx tsc -p . && node bench/micro/tracing.mjs [--runs 5] [--seconds 1]
 *
 * - record: one traced request as the pipeline drives it (caller traceparent + tracestate,
 *   server span, one client span with its traceparent and tracestate lines, both ended), spans
 *   handed to the batch queue. "sdk" replays exactly the calls of the OtelRequestTracer this
 *   replaced (commit b9f597b: W3C propagator extract, startSpan x2 with attribute objects,
 *   setAttribute, end, BatchSpanProcessor.onEnd); "compact" is CompactRequestTracer.
 * - encode: a batch of 512 spans (256 requests) into an OTLP request body, protobuf and JSON;
 *   "sdk" is @opentelemetry/otlp-transformer's ProtobufTraceSerializer / JsonTraceSerializer
 *   (what the OTLP exporters call), "compact" is OtlpProtobufEncoder / OtlpJsonEncoder.
 * The HTTP POST is the same order of cost on both paths (one per batch) and is not measured.
 *
 * After one unrecorded round, each run measures every case once, in turn (`--seconds` each): calls
 * in chunks until the time is up, timed by the process's CPU time (user + system, so garbage
 * collection on V8's helper threads counts too: in the load bench the whole process shares
 * one core) and by the wall clock. The table gives the medians over the runs in CPU µs per
 * request (record) or per span (encode), and old/new ratios. On a shared machine the wall
 * clock stretches with the other tenants' load; CPU time much less so. Compare ratios, and
 * trust medians over single runs. (Not benchmark.js: it times by the wall clock only.)
 */
import { parseArgs } from 'node:util';
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, SamplingDecision,
} from '@opentelemetry/sdk-trace-node';
import { ByteWriter, OtlpJsonEncoder, OtlpProtobufEncoder } from '../../dist/observability/otlp-encode.js';
import { SpanClock } from '../../dist/observability/span-record.js';
import { CompactRequestTracer, samplerFromEnv } from '../../dist/observability/tracing.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, seconds: { type: 'string', default: '1' } } });
const runs = Number(args.runs);
const seconds = Number(args.seconds);

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACESTATE = 'acme=1';
const RESOURCE = { 'service.name': 'fengling-gateway' };
const BATCH = 512;

// ---- the SDK path, as OtelRequestTracer drove it (b9f597b:src/observability/tracing.ts) ----

/** The DecidingSampler: a decision taken before startSpan, else the configured sampler. */
class DecidingSampler {
  decision = null;
  #inner = new ParentBasedSampler({ root: new AlwaysOnSampler() });
  shouldSample(...a) {
    if (this.decision === null) return this.#inner.shouldSample(...a);
    return { decision: this.decision ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString() { return 'DecidingSampler'; }
}

/** An exporter that accepts every batch at once: the record case measures recording. */
const discard = { export(spans, done) { done({ code: 0 }); }, shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
const propagator = new W3CTraceContextPropagator();
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

function sdkTracer(processor) {
  const sampler = new DecidingSampler();
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes(RESOURCE), sampler, spanProcessors: [processor] });
  return { tracer: provider.getTracer('fengling-gateway'), sampler };
}

function traceparentSampled(value) {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value.trim());
  if (m === null || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return (parseInt(m[3], 16) & 1) === 1;
}

const destinations = new Map([['http://127.0.0.1:9000', { host: '127.0.0.1', port: 9000 }]]);

/** One request through the SDK, call for call as OtelRequestTracer/OtelRequestTrace made them. */
function sdkRequest({ tracer, sampler }) {
  const decision = traceparentSampled(TRACEPARENT) ?? true;
  const parent = propagator.extract(ROOT_CONTEXT, { traceparent: TRACEPARENT, tracestate: TRACESTATE }, defaultTextMapGetter);
  const method = 'GET';
  const known = KNOWN_METHODS.has(method);
  const attributes = { 'http.request.method': method, 'http.route': 'orders', 'url.path': '/orders/42', 'url.scheme': 'http' };
  attributes['server.address'] = 'api.example';
  attributes['server.port'] = 8080;
  sampler.decision = decision;
  const server = tracer.startSpan(`${known ? method : 'HTTP'} orders`, { kind: SpanKind.SERVER, attributes }, parent);
  sampler.decision = null;
  if (!server.isRecording()) throw new Error('not recording');
  const sctx = server.spanContext();
  const hp = destinations.get('http://127.0.0.1:9000');
  const clientAttributes = { 'http.request.method': method, 'server.address': hp.host, 'server.port': hp.port, 'fengling.destination.id': 'd1' };
  sampler.decision = true;
  const client = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: clientAttributes }, trace.setSpan(ROOT_CONTEXT, server));
  sampler.decision = null;
  const ctx = client.spanContext();
  const traceparent = `00-${ctx.traceId}-${ctx.spanId}-0${(ctx.traceFlags & 0xff).toString(16)}`;
  const tracestate = ctx.traceState?.serialize() || null;
  client.setAttribute('http.response.status_code', 200);
  client.end();
  server.setAttribute('http.response.status_code', 200);
  server.end();
  return traceparent.length + (tracestate === null ? 0 : 1);
}

function compactRequest(tracer) {
  const t = tracer.start('GET', '/orders/42', 'orders', 'api.example:8080', TRACEPARENT, TRACESTATE);
  const up = t.startUpstream('d1', 'http://127.0.0.1:9000', 1);
  t.endUpstream(200, null);
  t.end(200, null);
  return up.length;
}

// ---- fixtures ----

const sdkRecord = sdkTracer(new BatchSpanProcessor(discard, { maxQueueSize: 2048, maxExportBatchSize: BATCH, scheduledDelayMillis: 5000 }));
let sink = [];
const compactRecord = new CompactRequestTracer(samplerFromEnv({}, () => undefined).plan, {
  add(s) {
    sink.push(s);
    if (sink.length >= BATCH) sink = [];
  },
});

// A batch of finished spans of each kind, for the encoders.
const sdkSpans = [];
const collect = { onStart() {}, onEnd(s) { sdkSpans.push(s); }, shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
const sdkCollect = sdkTracer(collect);
while (sdkSpans.length < BATCH) sdkRequest(sdkCollect);
const records = [];
const compactCollect = new CompactRequestTracer(samplerFromEnv({}, () => undefined).plan, { add: (s) => records.push(s) });
while (records.length < BATCH) compactRequest(compactCollect);
const origin = { resource: RESOURCE, scopeName: 'fengling-gateway' };
const protobuf = new OtlpProtobufEncoder(origin, new SpanClock());
const json = new OtlpJsonEncoder(origin, new SpanClock());
// As OtlpHttpExporter does: one writer reused batch after batch.
const writer = new ByteWriter(64 * 1024);

/** Case name -> [function, units of work per call, unit]. */
const cases = {
  'record sdk': [() => sdkRequest(sdkRecord), 1, 'request'],
  'record compact': [() => compactRequest(compactRecord), 1, 'request'],
  'encode protobuf sdk': [() => ProtobufTraceSerializer.serializeRequest(sdkSpans), BATCH, 'span'],
  'encode protobuf compact': [() => protobuf.encode(records, writer), BATCH, 'span'],
  'encode json sdk': [() => JsonTraceSerializer.serializeRequest(sdkSpans), BATCH, 'span'],
  'encode json compact': [() => json.encode(records, writer), BATCH, 'span'],
};

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU and wall µs per unit of one case, measured over `ms` milliseconds. */
function measure(fn, units, ms) {
  let calls = 0;
  const cpu0 = cpuMicros();
  const wall0 = performance.now();
  const until = wall0 + ms;
  while (performance.now() < until) {
    for (let i = 0; i < 64; i++) fn();
    calls += 64;
  }
  return { cpu: (cpuMicros() - cpu0) / (calls * units), wall: ((performance.now() - wall0) * 1000) / (calls * units) };
}

/** One run: every case in turn. */
async function runOnce() {
  const out = new Map();
  for (const [name, [fn, units]] of Object.entries(cases)) {
    out.set(name, measure(fn, units, seconds * 1000));
    // Let timers and the batch processor's exports run between cases.
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`node ${process.version}, tracing micro-benchmark: ${runs} runs x ${Object.keys(cases).length} cases x ${seconds} s`);
// A whole unrecorded round first: the first seconds of each case are dominated by V8
// compiling it (on helper threads, which count in the process's CPU time).
await runOnce();
const perRun = Object.fromEntries(Object.keys(cases).map((n) => [n, { cpu: [], wall: [] }]));
for (let r = 0; r < runs; r++) {
  const m = await runOnce();
  for (const name of Object.keys(cases)) {
    perRun[name].cpu.push(m.get(name).cpu);
    perRun[name].wall.push(m.get(name).wall);
  }
  console.log(`run ${r + 1} (CPU µs): ${Object.keys(cases).map((n) => `${n} ${m.get(n).cpu.toFixed(3)}`).join(' | ')}`);
}
const wall = Object.fromEntries(Object.entries(perRun).map(([n, x]) => [n, median(x.wall)]));
const us = Object.fromEntries(Object.entries(perRun).map(([n, x]) => [n, median(x.cpu)]));
const rows = [];
for (const what of ['record', 'encode protobuf', 'encode json']) {
  const unit = cases[`${what} sdk`][2];
  rows.push({
    case: what, unit, 'sdk µs': +us[`${what} sdk`].toFixed(3), 'compact µs': +us[`${what} compact`].toFixed(3),
    'sdk / compact': +(us[`${what} sdk`] / us[`${what} compact`]).toFixed(2), 'wall sdk / compact': +(wall[`${what} sdk`] / wall[`${what} compact`]).toFixed(2),
  });
}
for (const protocol of ['protobuf', 'json']) {
  // Per request: record + encode of its two spans.
  const sdk = us['record sdk'] + 2 * us[`encode ${protocol} sdk`];
  const compact = us['record compact'] + 2 * us[`encode ${protocol} compact`];
  const wallRatio = (wall['record sdk'] + 2 * wall[`encode ${protocol} sdk`]) / (wall['record compact'] + 2 * wall[`encode ${protocol} compact`]);
  rows.push({
    case: `request, record + encode (${protocol})`, unit: 'request', 'sdk µs': +sdk.toFixed(3), 'compact µs': +compact.toFixed(3),
    'sdk / compact': +(sdk / compact).toFixed(2), 'wall sdk / compact': +wallRatio.toFixed(2),
  });
}
console.log('medians, CPU µs (user + system) per unit:');
console.table(rows);
process.exit(0);
