import { describe, expect, it } from 'vitest';
import type { SpanRecord } from '../../src/observability/span-record.js';
import { CompactRequestTracer, samplerFromEnv, traceparentSampled } from '../../src/observability/tracing.js';

const quiet = () => undefined;
const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const UNSAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

/** A tracer built the way createRequestTracer builds it: the plan decides before spans exist. */
function harness(env: Record<string, string>) {
  const spans: SpanRecord[] = [];
  const tracer = new CompactRequestTracer(samplerFromEnv(env, quiet).plan, { add: (s) => spans.push(s) });
  return { spans, tracer };
}

function request(tracer: CompactRequestTracer, traceparent?: string): boolean {
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
    const { spans, tracer } = harness({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.3' });
    let recorded = 0;
    for (let i = 0; i < 4000; i++) if (request(tracer)) recorded++;
    // 0.3 x 4000 = 1200; applying the ratio twice would give ~360.
    expect(recorded).toBeGreaterThan(1050);
    expect(recorded).toBeLessThan(1350);
    expect(spans.length).toBe(recorded * 2);
  });

  it('parentBased_followsTheCallersFlag_withoutMakingSpansForUnsampledParents', () => {
    const { spans, tracer } = harness({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    expect(request(tracer, UNSAMPLED)).toBe(false);
    expect(request(tracer)).toBe(false);
    expect(request(tracer, SAMPLED)).toBe(true);
    expect(spans).toHaveLength(2);
    expect(spans.every((s) => s.traceId === '0af7651916cd43dd8448eb211c80319c')).toBe(true);
  });

  it('alwaysOff_recordsNothing_evenForASampledParent', () => {
    const { spans, tracer } = harness({ OTEL_TRACES_SAMPLER: 'always_off' });
    expect(request(tracer, SAMPLED)).toBe(false);
    expect(request(tracer)).toBe(false);
    expect(spans).toHaveLength(0);
  });

  it('plainRatio_withAParent_leavesTheDecisionToTheConfiguredSampler', () => {
    // traceidratio is not parent-based: OTel decides by the trace id; ratio 1 always records.
    const { tracer } = harness({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' });
    expect(request(tracer, UNSAMPLED)).toBe(true);
  });

  it('plainRatio_withAParent_decidesByTheTraceId_asOpenTelemetrysTraceIdRatioBasedSampler', () => {
    // TraceIdRatioBased: the id's four 32-bit words XOR-ed, below ratio x (2^32 - 1) records.
    const { tracer } = harness({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' });
    const low = '00-10000000000000000000000000000000-b7ad6b7169203331-00'; // XOR 0x10000000: recorded
    const high = '00-f0000000000000000000000000000000-b7ad6b7169203331-01'; // XOR 0xf0000000: not
    expect(request(tracer, low)).toBe(true);
    expect(request(tracer, high)).toBe(false);
    const always = harness({ OTEL_TRACES_SAMPLER: 'always_on' });
    expect(request(always.tracer, UNSAMPLED)).toBe(true);
  });
});
