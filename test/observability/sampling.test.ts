import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { describe, expect, it } from 'vitest';
import { DecidingSampler, OtelRequestTracer, samplerFromEnv, traceparentSampled } from '../../src/observability/tracing.js';

const quiet = () => undefined;
const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const UNSAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

/** A tracer built the way createRequestTracer builds it: the plan decides before spans exist. */
function harness(env: Record<string, string>) {
  const { sampler, plan } = samplerFromEnv(env, quiet);
  const deciding = new DecidingSampler(sampler);
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ sampler: deciding, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = new OtelRequestTracer(provider.getTracer('test'), () => provider.shutdown(), { plan, sampler: deciding });
  return { exporter, tracer };
}

function request(tracer: OtelRequestTracer, traceparent?: string): boolean {
  const t = tracer.start('GET', '/x', 'r', 'h', traceparent, undefined);
  if (t === null) return false;
  t.startUpstream('d', 'http://127.0.0.1:1', 1);
  t.endUpstream(200, null);
  t.end(200, null);
  return true;
}

describe('sampling decided before any span exists', () => {
  it('traceparentSampled_readsTheFlag_andRejectsMalformedOrZeroIds', () => {
    expect(traceparentSampled(SAMPLED)).toBe(true);
    expect(traceparentSampled(UNSAMPLED)).toBe(false);
    expect(traceparentSampled('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(traceparentSampled('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01')).toBeUndefined();
    expect(traceparentSampled('garbage')).toBeUndefined();
  });

  it('ratioSampler_recordsAboutTheRatio_onceNotSquared_andEveryRecordedServerSpanKeepsItsClientSpan', () => {
    const { exporter, tracer } = harness({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.3' });
    let recorded = 0;
    for (let i = 0; i < 4000; i++) if (request(tracer)) recorded++;
    // 0.3 x 4000 = 1200; applying the ratio twice would give ~360.
    expect(recorded).toBeGreaterThan(1050);
    expect(recorded).toBeLessThan(1350);
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBe(recorded * 2);
  });

  it('parentBased_followsTheCallersFlag_withoutMakingSpansForUnsampledParents', () => {
    const { exporter, tracer } = harness({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    expect(request(tracer, UNSAMPLED)).toBe(false);
    expect(request(tracer)).toBe(false);
    expect(request(tracer, SAMPLED)).toBe(true);
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(2);
    expect(spans.every((s) => s.spanContext().traceId === '0af7651916cd43dd8448eb211c80319c')).toBe(true);
  });

  it('alwaysOff_recordsNothing_evenForASampledParent', () => {
    const { exporter, tracer } = harness({ OTEL_TRACES_SAMPLER: 'always_off' });
    expect(request(tracer, SAMPLED)).toBe(false);
    expect(request(tracer)).toBe(false);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('plainRatio_withAParent_leavesTheDecisionToTheConfiguredSampler', () => {
    // traceidratio is not parent-based: OTel decides by the trace id; ratio 1 always records.
    const { tracer } = harness({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' });
    expect(request(tracer, UNSAMPLED)).toBe(true);
  });
});
