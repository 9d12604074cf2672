import { describe, expect, it } from 'vitest';
import { spanAttributes, type SpanRecord } from '../../src/observability/span-record.js';
import {
  CLIENT_ABORTED_ERROR, CompactRequestTracer, DEFAULT_OTLP_TRACES_URL, otlpExporterSettings, otlpTracesUrl, samplerFromEnv, splitHostPort,
  tracingSettings,
} from '../../src/observability/tracing.js';

const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
/** OTLP numbering. */
const SERVER = 2;
const CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

/** A tracer with the default sampler (parentbased_always_on) whose ended spans land in `spans`. */
function harness() {
  const spans: SpanRecord[] = [];
  const tracer = new CompactRequestTracer(samplerFromEnv({}, () => undefined).plan, { add: (s) => spans.push(s) });
  return { spans, tracer };
}

describe('CompactRequestTracer', () => {
  it('start_joinsTheCallersTrace_andInjectsTheClientSpanUpstream', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('GET', '/orders/7', 'orders', 'api.example:8080', `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, 'vendor=x')!;
    expect(t).not.toBeNull();
    expect(t.traceId).toBe(CALLER_TRACE);
    const up = t.startUpstream('d1', 'http://10.0.0.5:9000', 1);
    t.endUpstream(200, null);
    t.end(200, null);

    const [client, server] = spans;
    expect(server.kind).toBe(SERVER);
    expect(server.name).toBe('GET orders');
    expect(server.traceId).toBe(CALLER_TRACE);
    expect(server.parentSpanId).toBe(CALLER_SPAN);
    expect(server.parentIsRemote).toBe(true);
    expect(server.endTime).toBeGreaterThanOrEqual(server.startTime);
    expect(spanAttributes(server)).toEqual({
      'http.request.method': 'GET', 'http.route': 'orders', 'url.path': '/orders/7', 'server.address': 'api.example', 'server.port': 8080,
      'url.scheme': 'http', 'http.response.status_code': 200,
    });
    expect(server.statusCode).toBe(STATUS_UNSET);
    expect(client.kind).toBe(CLIENT);
    expect(client.name).toBe('GET');
    expect(client.traceId).toBe(CALLER_TRACE);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.parentIsRemote).toBe(false);
    expect(spanAttributes(client)).toEqual({
      'http.request.method': 'GET', 'server.address': '10.0.0.5', 'server.port': 9000, 'fengling.destination.id': 'd1', 'http.response.status_code': 200,
    });
    expect(up).toBe(`traceparent: 00-${CALLER_TRACE}-${client.spanId}-01\r\ntracestate: vendor=x\r\n`);
    expect(client.traceState).toBe('vendor=x');
    expect(server.traceState).toBe('vendor=x');
  });

  it('start_returnsNull_whenTheCallersParentIsNotSampled', () => {
    const { spans, tracer } = harness();
    expect(tracer.start('GET', '/', 'r', 'h', `00-${CALLER_TRACE}-${CALLER_SPAN}-00`, undefined)).toBeNull();
    expect(spans).toHaveLength(0);
  });

  it('start_beginsANewTrace_withoutACaller', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('POST', '/x', 'r', '', undefined, undefined)!;
    t.end(201, null);
    const [server] = spans;
    expect(server.parentSpanId).toBeNull();
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('start_ignoresAMalformedTraceparent', () => {
    const { spans, tracer } = harness();
    tracer.start('GET', '/', 'r', 'h', 'garbage', undefined)!.end(200, null);
    expect(spans[0].parentSpanId).toBeNull();
    expect(spans[0].traceState).toBeNull();
  });

  it('end_recordsUpstreamFailures_asErrorsOnBothSpans', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:1', 1);
    t.endUpstream(0, 'UPSTREAM_CONNECT_FAILED');
    t.end(502, 'UPSTREAM_CONNECT_FAILED');
    const [client, server] = spans;
    expect(client.statusCode).toBe(STATUS_ERROR);
    expect(client.statusMessage).toBe('UPSTREAM_CONNECT_FAILED');
    expect(spanAttributes(client)).toMatchObject({ 'error.type': 'UPSTREAM_CONNECT_FAILED', 'fengling.error.code': 'UPSTREAM_CONNECT_FAILED' });
    expect(spanAttributes(client)['http.response.status_code']).toBeUndefined();
    expect(server.statusCode).toBe(STATUS_ERROR);
    expect(spanAttributes(server)).toMatchObject({ 'error.type': 'UPSTREAM_CONNECT_FAILED', 'http.response.status_code': 502 });
  });

  it('end_leavesA4xxServerSpanUnset_butNamesTheGatewayCode', () => {
    const { spans, tracer } = harness();
    tracer.start('GET', '/', 'r', 'h', undefined, undefined)!.end(401, 'AUTH_MISSING');
    const [server] = spans;
    expect(server.statusCode).toBe(STATUS_UNSET);
    expect(spanAttributes(server)['fengling.error.code']).toBe('AUTH_MISSING');
    expect(spanAttributes(server)['error.type']).toBeUndefined();
  });

  it('end_closesAnOpenClientSpan_whenTheClientAborts', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:9', 1);
    t.end(499, null);
    const [client, server] = spans;
    expect(spanAttributes(client)['error.type']).toBe(CLIENT_ABORTED_ERROR);
    expect(spanAttributes(server)['error.type']).toBe(CLIENT_ABORTED_ERROR);
    expect(spanAttributes(server)['http.response.status_code']).toBeUndefined();
    expect(server.statusCode).toBe(STATUS_UNSET);
  });

  it('startUpstream_marksRetries_withTheResendCount', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:9', 1);
    t.endUpstream(0, 'UPSTREAM_RESET');
    t.startUpstream('d2', 'http://[::1]:9', 2);
    t.endUpstream(200, null);
    t.end(200, null);
    const [first, second, server] = spans;
    expect(spans).toHaveLength(3);
    expect(spanAttributes(first)['http.request.resend_count']).toBeUndefined();
    expect(spanAttributes(second)).toMatchObject({ 'http.request.resend_count': 1, 'server.address': '::1', 'fengling.destination.id': 'd2' });
    expect(first.spanId).not.toBe(second.spanId);
    expect([first.parentSpanId, second.parentSpanId]).toEqual([server.spanId, server.spanId]);
  });

  it('start_namesAnUnknownMethod_OTHER_andKeepsTheOriginal', () => {
    const { spans, tracer } = harness();
    const t = tracer.start('PURGE', '/c', 'cache', '', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:9', 1);
    t.endUpstream(200, null);
    t.end(200, null);
    const [client, server] = spans;
    expect(server.name).toBe('HTTP cache');
    expect(spanAttributes(server)).toMatchObject({ 'http.request.method': '_OTHER', 'http.request.method_original': 'PURGE' });
    expect(spanAttributes(server)['server.address']).toBeUndefined();
    expect(client.name).toBe('HTTP');
    expect(spanAttributes(client)['http.request.method']).toBe('_OTHER');
  });

  it('start_requestsThatChangeMethodOrHostFromOneToTheNext_eachGetTheirOwn', () => {
    const { spans, tracer } = harness();
    // What the tracer derives from the last request's method and Host must follow every change.
    const requests: Array<[string, string]> = [
      ['GET', 'a.example:8080'], ['GET', 'a.example:8080'], ['PURGE', 'a.example:8080'], ['PURGE', 'b.example'],
      ['GET', 'b.example'], ['GET', ''], ['POST', 'a.example:8080'], ['PURGE', '[::1]:9'],
    ];
    for (const [method, host] of requests) tracer.start(method, '/', 'r', host, undefined, undefined)!.end(200, null);
    expect(spans.map((s) => [s.name, spanAttributes(s)['http.request.method'], spanAttributes(s)['http.request.method_original'], spanAttributes(s)['server.address'], spanAttributes(s)['server.port']])).toEqual([
      ['GET r', 'GET', undefined, 'a.example', 8080], ['GET r', 'GET', undefined, 'a.example', 8080],
      ['HTTP r', '_OTHER', 'PURGE', 'a.example', 8080], ['HTTP r', '_OTHER', 'PURGE', 'b.example', undefined],
      ['GET r', 'GET', undefined, 'b.example', undefined], ['GET r', 'GET', undefined, undefined, undefined],
      ['POST r', 'POST', undefined, 'a.example', 8080], ['HTTP r', '_OTHER', 'PURGE', '::1', 9],
    ]);
  });

  it('start_normalizesTheCallersTracestate_asOpenTelemetryDoes', () => {
    const { tracer } = harness();
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const send = (tracestate: string): string | null => {
      const lines = tracer.start('GET', '/', 'r', 'h', traceparent, tracestate)!.startUpstream('d', 'http://127.0.0.1:9', 1);
      const m = /\r\ntracestate: (.*)\r\n$/.exec(lines);
      return m === null ? null : m[1];
    };
    expect(send('a=1, b@v=2')).toBe('a=1,b@v=2');
    expect(send('Bad=1,ok=2,noequals,x=a=b')).toBe('ok=2');
    expect(send('a=1,b=2,a=3')).toBe('a=3,b=2');
    expect(send('%%%')).toBeNull();
    const many = Array.from({ length: 40 }, (_, i) => `k${i}=v`).join(',');
    expect(send(many)!.split(',')).toHaveLength(32);
  });

  it('start_acceptsLaterTraceparentVersions_andRejectsInvalidOnes', () => {
    const { spans, tracer } = harness();
    const parentOf = (traceparent: string): string | null => {
      tracer.start('GET', '/', 'r', 'h', traceparent, undefined)!.end(200, null);
      return spans[spans.length - 1].parentSpanId;
    };
    expect(parentOf(`01-${CALLER_TRACE}-${CALLER_SPAN}-01-future`)).toBe(CALLER_SPAN);
    expect(parentOf(` 00-${CALLER_TRACE}-${CALLER_SPAN}-01`)).toBe(CALLER_SPAN);
    expect(parentOf(`00-${CALLER_TRACE}-${CALLER_SPAN}-01-future`)).toBeNull();
    expect(parentOf(`ff-${CALLER_TRACE}-${CALLER_SPAN}-01`)).toBeNull();
    expect(parentOf(`00-${CALLER_TRACE.toUpperCase()}-${CALLER_SPAN}-01`)).toBeNull();
    expect(parentOf(`00-${CALLER_TRACE}-${CALLER_SPAN}-0g`)).toBeNull();
    expect(parentOf(`00-${CALLER_TRACE}-${CALLER_SPAN}`)).toBeNull();
  });

  it('ids_areDistinctValidHex_acrossThePoolsRefills', () => {
    const { spans, tracer } = harness();
    // 64 KiB of random bytes give 2,730 root requests their ids: this crosses a refill.
    for (let i = 0; i < 3000; i++) tracer.start('GET', '/', 'r', 'h', undefined, undefined)!.end(200, null);
    const traceIds = new Set(spans.map((s) => s.traceId));
    const spanIds = new Set(spans.map((s) => s.spanId));
    expect(traceIds.size).toBe(3000);
    expect(spanIds.size).toBe(3000);
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.traceId).not.toBe('0'.repeat(32));
    }
  });
});

describe('tracing settings from OTEL_* variables', () => {
  const quiet = (): void => undefined;

  it('tracingSettings_isOff_unlessAnExporterIsNamed', () => {
    expect(tracingSettings({}, quiet)).toBeNull();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none' }, quiet)).toBeNull();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }, quiet)).toBeNull();
  });

  it('tracingSettings_readsProtocolServiceAndBatchSettings', () => {
    const s = tracingSettings({
      OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'edge',
      OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=a%20b',
    }, quiet)!;
    expect(s.exporters).toEqual(['otlp']);
    expect(s.protocol).toBe('http/json');
    expect(s.serviceName).toBe('edge');
    expect(s.batch.scheduledDelayMillis).toBe(50);
    expect(s.resource).toEqual({ 'deployment.environment.name': 'prod', team: 'a b' });
  });

  it('tracingSettings_defaultsToProtobuf_andWarnsAboutGrpc', () => {
    const warnings: string[] = [];
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }, quiet)!.protocol).toBe('http/protobuf');
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, (m) => warnings.push(m))!.protocol).toBe('http/protobuf');
    expect(warnings).toHaveLength(1);
  });

  it('otlpTracesUrl_usesTheSignalEndpointAsIs_elseAppendsTheTracesPath', () => {
    expect(otlpTracesUrl({})).toBe(DEFAULT_OTLP_TRACES_URL);
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/custom' })).toBe('http://t:1/custom');
  });

  it('samplerFromEnv_mapsEverySpecifiedName', () => {
    const names = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
    for (const name of names) expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: '0.5' }, quiet).name).toBe(name);
    expect(samplerFromEnv({}, quiet).name).toBe('parentbased_always_on');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, quiet).plan).toEqual({ rootRatio: 0.25, followParent: false, never: false });
  });

  it('samplerFromEnv_warnsAndFallsBack_onUnknownNamesAndBadRatios', () => {
    const warnings: string[] = [];
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, (m) => warnings.push(m)).name).toBe('parentbased_always_on');
    samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, (m) => warnings.push(m));
    expect(warnings).toHaveLength(2);
  });

  it('otlpExporterSettings_readsHeadersTimeoutAndCompression_tracesFormsFirst', () => {
    const warnings: string[] = [];
    const s = otlpExporterSettings({
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20t,x-a=1', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-a=2',
      OTEL_EXPORTER_OTLP_TIMEOUT: '3000', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2000', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    }, (m) => warnings.push(m));
    expect(s.headers).toEqual({ authorization: 'Bearer t', 'x-a': '2' });
    expect(s.timeoutMillis).toBe(2000);
    expect(s.compression).toBe('gzip');
    expect(warnings).toEqual([]);
    const d = otlpExporterSettings({ OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }, (m) => warnings.push(m));
    expect(d).toMatchObject({ headers: {}, timeoutMillis: 10_000, compression: 'none' });
    expect(warnings).toHaveLength(1);
  });

  it('otlpExporterSettings_dropsAHeaderWithAnEncodedLineBreak_withAWarning', () => {
    const warnings: string[] = [];
    const s = otlpExporterSettings({ OTEL_EXPORTER_OTLP_HEADERS: 'x-ok=1,x-bad=a%0D%0Ax-injected: 1' }, (m) => warnings.push(m));
    expect(s.headers).toEqual({ 'x-ok': '1' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('x-bad');
  });

  it('splitHostPort_handlesNamesIPv4AndBracketedIPv6', () => {
    expect(splitHostPort('example.com')).toEqual({ host: 'example.com', port: undefined });
    expect(splitHostPort('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(splitHostPort('[::1]:443')).toEqual({ host: '::1', port: 443 });
    expect(splitHostPort('[::1]')).toEqual({ host: '::1', port: undefined });
  });
});
