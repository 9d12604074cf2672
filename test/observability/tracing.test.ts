import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  AlwaysOnSampler, InMemorySpanExporter, NodeTracerProvider, ParentBasedSampler, SimpleSpanProcessor, type Sampler,
} from '@opentelemetry/sdk-trace-node';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_ABORTED_ERROR, DEFAULT_OTLP_TRACES_URL, OtelRequestTracer, otlpTracesUrl, samplerFromEnv, splitHostPort, tracingSettings,
} from '../../src/observability/tracing.js';

const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

function harness(sampler: Sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() })) {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = new OtelRequestTracer(provider.getTracer('test'), () => provider.shutdown());
  return { exporter, tracer };
}

describe('OtelRequestTracer', () => {
  it('start_joinsTheCallersTrace_andInjectsTheClientSpanUpstream', () => {
    const { exporter, tracer } = harness();
    const t = tracer.start('GET', '/orders/7', 'orders', 'api.example:8080', `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, 'vendor=x')!;
    expect(t).not.toBeNull();
    expect(t.traceId).toBe(CALLER_TRACE);
    const up = t.startUpstream('d1', 'http://10.0.0.5:9000', 1);
    t.endUpstream(200, null);
    t.end(200, null);

    const [client, server] = exporter.getFinishedSpans();
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.name).toBe('GET orders');
    expect(server.spanContext().traceId).toBe(CALLER_TRACE);
    expect(server.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET', 'http.route': 'orders', 'url.path': '/orders/7', 'server.address': 'api.example', 'server.port': 8080,
      'http.response.status_code': 200,
    });
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(client.attributes).toMatchObject({ 'server.address': '10.0.0.5', 'server.port': 9000, 'fengling.destination.id': 'd1', 'http.response.status_code': 200 });
    expect(up.traceparent).toBe(`00-${CALLER_TRACE}-${client.spanContext().spanId}-01`);
    expect(up.tracestate).toBe('vendor=x');
  });

  it('start_returnsNull_whenTheCallersParentIsNotSampled', () => {
    const { exporter, tracer } = harness();
    expect(tracer.start('GET', '/', 'r', 'h', `00-${CALLER_TRACE}-${CALLER_SPAN}-00`, undefined)).toBeNull();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('start_beginsANewTrace_withoutACaller', () => {
    const { exporter, tracer } = harness();
    const t = tracer.start('POST', '/x', 'r', '', undefined, undefined)!;
    t.end(201, null);
    const [server] = exporter.getFinishedSpans();
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('start_ignoresAMalformedTraceparent', () => {
    const { exporter, tracer } = harness();
    tracer.start('GET', '/', 'r', 'h', 'garbage', undefined)!.end(200, null);
    expect(exporter.getFinishedSpans()[0].parentSpanContext).toBeUndefined();
  });

  it('end_recordsUpstreamFailures_asErrorsOnBothSpans', () => {
    const { exporter, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:1', 1);
    t.endUpstream(0, 'UPSTREAM_CONNECT_FAILED');
    t.end(502, 'UPSTREAM_CONNECT_FAILED');
    const [client, server] = exporter.getFinishedSpans();
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(client.attributes['error.type']).toBe('UPSTREAM_CONNECT_FAILED');
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.attributes).toMatchObject({ 'error.type': 'UPSTREAM_CONNECT_FAILED', 'http.response.status_code': 502 });
  });

  it('end_leavesA4xxServerSpanUnset_butNamesTheGatewayCode', () => {
    const { exporter, tracer } = harness();
    tracer.start('GET', '/', 'r', 'h', undefined, undefined)!.end(401, 'AUTH_MISSING');
    const [server] = exporter.getFinishedSpans();
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.attributes['fengling.error.code']).toBe('AUTH_MISSING');
    expect(server.attributes['error.type']).toBeUndefined();
  });

  it('end_closesAnOpenClientSpan_whenTheClientAborts', () => {
    const { exporter, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:9', 1);
    t.end(499, null);
    const [client, server] = exporter.getFinishedSpans();
    expect(client.attributes['error.type']).toBe(CLIENT_ABORTED_ERROR);
    expect(server.attributes['error.type']).toBe(CLIENT_ABORTED_ERROR);
    expect(server.attributes['http.response.status_code']).toBeUndefined();
  });

  it('startUpstream_marksRetries_withTheResendCount', () => {
    const { exporter, tracer } = harness();
    const t = tracer.start('GET', '/', 'r', 'h', undefined, undefined)!;
    t.startUpstream('d1', 'http://127.0.0.1:9', 1);
    t.endUpstream(0, 'UPSTREAM_RESET');
    t.startUpstream('d2', 'http://[::1]:9', 2);
    t.endUpstream(200, null);
    t.end(200, null);
    const [first, second] = exporter.getFinishedSpans();
    expect(first.attributes['http.request.resend_count']).toBeUndefined();
    expect(second.attributes).toMatchObject({ 'http.request.resend_count': 1, 'server.address': '::1' });
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
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, quiet).sampler.toString()).toContain('0.25');
  });

  it('samplerFromEnv_warnsAndFallsBack_onUnknownNamesAndBadRatios', () => {
    const warnings: string[] = [];
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, (m) => warnings.push(m)).name).toBe('parentbased_always_on');
    samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, (m) => warnings.push(m));
    expect(warnings).toHaveLength(2);
  });

  it('splitHostPort_handlesNamesIPv4AndBracketedIPv6', () => {
    expect(splitHostPort('example.com')).toEqual({ host: 'example.com', port: undefined });
    expect(splitHostPort('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(splitHostPort('[::1]:443')).toEqual({ host: '::1', port: 443 });
    expect(splitHostPort('[::1]')).toEqual({ host: '::1', port: undefined });
  });
});
