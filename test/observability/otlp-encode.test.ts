import { TraceFlags, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { describe, expect, it } from 'vitest';
import { ByteWriter, OtlpJsonEncoder, OtlpProtobufEncoder, type OtlpOrigin } from '../../src/observability/otlp-encode.js';
import { SLOT_ROUTE, SLOT_STATUS_CODE, SLOT_URL_PATH, SpanClock, spanAttributes, SpanRecord, SPAN_KIND_CLIENT, SPAN_KIND_SERVER } from '../../src/observability/span-record.js';
import { CompactRequestTracer, samplerFromEnv } from '../../src/observability/tracing.js';
import { seeded } from '../support/random.js';
import { decodeTraceExport } from '../support/otlp-decode.js';

/** A fixed time origin (ms, with microseconds) so that expected nanoseconds are computed apart from SpanClock. */
const ORIGIN_MS = 1_764_000_123_456.789;
const ORIGIN: OtlpOrigin = { resource: { 'service.name': 'edge', 'deployment.environment.name': 'prod', team: 'équipe ✓' }, scopeName: 'fengling-gateway' };

/** One resource and scope object for all spans: the SDK's serializers group spans by them. */
const RESOURCE = resourceFromAttributes(ORIGIN.resource);
const SCOPE = { name: ORIGIN.scopeName };

/** Unix nanoseconds of a performance.now() reading, in BigInt arithmetic. */
function expectedNanos(readingMs: number): bigint {
  return BigInt(Math.round(ORIGIN_MS * 1000)) * 1000n + BigInt(Math.round(readingMs * 1e6));
}

/** The same span as an SDK ReadableSpan, as NodeTracerProvider would have made it. */
function readable(span: SpanRecord): ReadableSpan {
  const hr = (reading: number): [number, number] => {
    const ns = expectedNanos(reading);
    return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  };
  const traceState = span.traceState === null ? undefined : new TraceState(span.traceState);
  const context: SpanContext = { traceId: span.traceId, spanId: span.spanId, traceFlags: TraceFlags.SAMPLED, traceState };
  const parent: SpanContext | undefined = span.parentSpanId === null
    ? undefined
    : { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: span.parentIsRemote };
  return {
    name: span.name,
    kind: span.kind - 1,
    spanContext: () => context,
    parentSpanContext: parent,
    startTime: hr(span.startTime),
    endTime: hr(span.endTime),
    duration: [0, 0],
    status: { code: span.statusCode, message: span.statusMessage ?? undefined },
    attributes: spanAttributes(span),
    links: [],
    events: [],
    ended: true,
    resource: RESOURCE,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * proto3 meaning: a field at its default value (0, '', empty list, empty message) is the same
 * as an absent one; attributes are a map (order does not matter); an int64 is the same number
 * whether JSON wrote it as a string or a number.
 */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => normalize(v));
    if (key === 'attributes') items.sort((a, b) => String((a as { key: string }).key).localeCompare(String((b as { key: string }).key)));
    return items;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const n = k === 'intValue' ? String(v) : normalize(v, k);
      const isDefault = n === undefined || n === 0 || n === '' || (Array.isArray(n) && n.length === 0)
        || (n !== null && typeof n === 'object' && !Array.isArray(n) && Object.keys(n).length === 0);
      if (!isDefault || k.endsWith('Value')) out[k] = n;
    }
    return out;
  }
  return value;
}

/** Spans of every shape the gateway records, plus edge cases for the wire format. */
function sampleSpans(): SpanRecord[] {
  const spans: SpanRecord[] = [];
  const tracer = new CompactRequestTracer(samplerFromEnv({}, () => undefined).plan, { add: (s) => spans.push(s) });
  const joined = tracer.start('GET', '/orders/7', 'orders', 'api.example:8080', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'acme=1,other@x=y')!;
  joined.startUpstream('d1', 'http://10.0.0.5:9000', 1);
  joined.endUpstream(0, 'UPSTREAM_RESET');
  joined.startUpstream('d2', 'http://[::1]:9001', 2);
  joined.endUpstream(503, null);
  joined.end(503, 'UPSTREAM_STATUS');
  tracer.start('PURGE', '/caché/ünïcode/✓', 'r-ü', '', undefined, undefined)!.end(401, 'AUTH_MISSING');
  const aborted = tracer.start('POST', `/${'long-path/'.repeat(40)}`, 'upload', 'h', undefined, undefined)!;
  aborted.startUpstream('d3', 'http://upstream.internal', 1);
  aborted.end(499, null);
  // 16 KiB path: a span length needing a 3-byte varint (and so the envelope's lengths); a bare span: a 1-byte one.
  const big = SpanRecord.withHexIds('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', null, false, null, SPAN_KIND_SERVER, 'GET big', 12.5);
  big.attributes[SLOT_URL_PATH] = `/${'x'.repeat(16_500)}`;
  big.attributes[SLOT_ROUTE] = 'ü'.repeat(100);
  big.endTime = 13.25;
  spans.push(big);
  // A record made outside the tracer with a parent: its id words come from its hex.
  const bare = SpanRecord.withHexIds('00000000000000000000000000000001', '0000000000000001', 'fedcba9876543210', true, null, SPAN_KIND_SERVER, 'a', 0);
  bare.endTime = 8_000_000_000.123456;
  spans.push(bare);
  // Readings from the tracer are this process's performance.now(): fine with the fixed origin too.
  return spans;
}

describe('OTLP encoders, against @opentelemetry/otlp-transformer', () => {
  const clock = new SpanClock(ORIGIN_MS);

  it('protobuf_decodesToTheSameRequest_asTheOfficialSerializer', () => {
    const spans = sampleSpans();
    const ours = decodeTraceExport(new OtlpProtobufEncoder(ORIGIN, clock).encode(spans));
    const official = decodeTraceExport(ProtobufTraceSerializer.serializeRequest(spans.map(readable))!);
    expect(normalize(ours)).toEqual(normalize(official));
    // And the content itself, read back: the first span is the first client attempt.
    const decoded = ours as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    const first = decoded.resourceSpans[0].scopeSpans[0].spans[0];
    expect(first).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', kind: 3, name: 'GET', traceState: 'acme=1,other@x=y', flags: 0x101 });
    expect(first.startTimeUnixNano).toBe(expectedNanos(spans[0].startTime).toString());
    expect(decoded.resourceSpans[0].scopeSpans[0].spans).toHaveLength(spans.length);
  });

  it('json_parsesToTheSameRequest_asTheOfficialSerializer_andToTheSameAsOurProtobuf', () => {
    const spans = sampleSpans();
    const ours = JSON.parse(new OtlpJsonEncoder(ORIGIN, clock).encode(spans).toString('utf8')) as unknown;
    const official = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans.map(readable))!).toString('utf8')) as unknown;
    expect(normalize(ours)).toEqual(normalize(official));
    expect(normalize(ours)).toEqual(normalize(decodeTraceExport(new OtlpProtobufEncoder(ORIGIN, clock).encode(spans))));
    // OTLP JSON mapping: 64-bit integers are strings.
    const server = (ours as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ kind: number; startTimeUnixNano: unknown; attributes: Array<{ key: string; value: { intValue?: unknown } }> }> }> }> })
      .resourceSpans[0].scopeSpans[0].spans[2];
    expect(server.kind).toBe(2);
    expect(typeof server.startTimeUnixNano).toBe('string');
    expect(server.attributes.find((a) => a.key === 'http.response.status_code')?.value.intValue).toBe('503');
  });

  it('protobuf_repeatedAndManyDistinctAttributeValues_decodeAsTheOfficialSerializer', () => {
    // A full batch-sized body: repeated and many distinct attribute values, in several batches.
    const spans: SpanRecord[] = [];
    for (let i = 0; i < 700; i++) {
      const s = SpanRecord.withHexIds('4bf92f3577b34da6a3ce929d0e0e4736', (i + 1).toString(16).padStart(16, '0'), null, false, null, SPAN_KIND_SERVER, 'GET r', i);
      s.attributes[SLOT_ROUTE] = `route-${i % 300}`;
      s.attributes[SLOT_URL_PATH] = `/p/${i}`;
      s.attributes[SLOT_STATUS_CODE] = 200 + (i % 3);
      s.endTime = i + 1;
      spans.push(s);
    }
    const encoder = new OtlpProtobufEncoder(ORIGIN, clock);
    for (const batch of [spans, spans.slice(100, 400)]) {
      expect(normalize(decodeTraceExport(encoder.encode(batch)))).toEqual(normalize(decodeTraceExport(ProtobufTraceSerializer.serializeRequest(batch.map(readable))!)));
    }
  });

  it('protobuf_spansThatDifferFromThePreviousInOneAttribute_decodeAsTheOfficialSerializer', () => {
    // The encoder copies the name and the first STABLE_SLOTS attributes from the last span of
    // the same kind when they are the same: each span here differs from the one before in one slot only
    // (each slot in turn, strings and numbers, set and cleared), in both kinds.
    const values: Array<string | number | null> = ['GET', 'r1', 'http', 'PURGE', 'api.example', 8443, 'd1', 200, '/a', 2, 'ERR', 'CODE'];
    const spans: SpanRecord[] = [];
    let current = [...values];
    for (let i = 0; i < 2 * 3 * values.length; i++) {
      const kind = i % 2 === 0 ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
      if (i % 2 === 0) {
        const slot = (i / 2) % values.length;
        const v = values[slot];
        current = [...current];
        current[slot] = current[slot] === null ? v : typeof v === 'number' ? (i % 4 === 0 ? null : v + i) : (i % 4 === 0 ? null : `${v}-${i}`);
      }
      const s = SpanRecord.withHexIds('4bf92f3577b34da6a3ce929d0e0e4736', (i + 1).toString(16).padStart(16, '0'), null, false, null, kind, 'GET r', i);
      current.forEach((v, slot) => { s.attributes[slot] = v; });
      s.endTime = i + 1;
      spans.push(s);
    }
    // The name is copied with those attributes: spans that differ from the one before in their name only.
    ['GET renamed', 'GET r', 'GET renamed'].forEach((name, n) => {
      for (const kind of [SPAN_KIND_SERVER, SPAN_KIND_CLIENT]) {
        const s = SpanRecord.withHexIds('4bf92f3577b34da6a3ce929d0e0e4736', (1000 + 2 * n + kind).toString(16).padStart(16, '0'), null, false, null, kind, name, n);
        current.forEach((v, slot) => { s.attributes[slot] = v; });
        s.endTime = n + 1;
        spans.push(s);
      }
    });
    expect(normalize(decodeTraceExport(new OtlpProtobufEncoder(ORIGIN, clock).encode(spans))))
      .toEqual(normalize(decodeTraceExport(ProtobufTraceSerializer.serializeRequest(spans.map(readable))!)));
  });

  it('encoders_reuseAWriter_withoutLeakingOneBatchIntoTheNext', () => {
    const spans = sampleSpans();
    const writer = new ByteWriter(64);
    const protobuf = new OtlpProtobufEncoder(ORIGIN, clock);
    protobuf.encode(spans, writer); // large: the writer grows
    const second = protobuf.encode(spans.slice(0, 2), writer);
    expect(normalize(decodeTraceExport(second))).toEqual(normalize(decodeTraceExport(ProtobufTraceSerializer.serializeRequest(spans.slice(0, 2).map(readable))!)));
    const json = new OtlpJsonEncoder(ORIGIN, clock).encode(spans.slice(2, 3), writer);
    expect(normalize(JSON.parse(json.toString('utf8')))).toEqual(normalize(JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans.slice(2, 3).map(readable))!).toString('utf8'))));
  });
});

describe('SpanClock', () => {
  it('words_andDecimal_matchBigIntArithmetic_acrossOriginsAndReadings', () => {
    const random = seeded(7);
    for (let i = 0; i < 5000; i++) {
      const origin = Math.round((1e12 + random() * 1e12) * 1000) / 1000;
      const reading = random() < 0.5 ? random() * 1e4 : random() * 8e9;
      const clock = new SpanClock(origin);
      const expected = BigInt(Math.round(origin * 1000)) * 1000n + BigInt(Math.round(reading * 1e6));
      const words: [number, number] = [0, 0];
      clock.words(reading, words);
      expect((BigInt(words[1]) << 32n) | BigInt(words[0])).toBe(expected);
      expect(clock.decimal(reading)).toBe(expected.toString());
    }
  });

  it('decimal_ofNow_isTheWallClock', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const ns = BigInt(new SpanClock().decimal(performance.now()));
    const after = BigInt(Date.now()) * 1_000_000n;
    // Within a millisecond either side (Date.now() is whole milliseconds).
    expect(ns >= before - 1_000_000n && ns <= after + 1_000_000n).toBe(true);
  });
});
