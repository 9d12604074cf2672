/**
 * The compact span of the worker's tracer (OBS-01): what a span is between the request that
 * records it and the encoder that exports it, with nothing else. A span is one SpanRecord (a
 * fixed-shape object) whose attributes sit in numbered slots, so that recording is field
 * stores and encoding walks a fixed table of keys; ids come from a pooled random buffer and
 * times are `performance.now()` readings, converted to Unix nanoseconds only when exported.
 *
 * Also here: the W3C Trace Context rules the tracer applies to a caller's headers
 * (https://www.w3.org/TR/trace-context/), re-implemented after @opentelemetry/core's
 * W3CTraceContextPropagator and TraceState so that a caller sees the same behaviour.
 */
import { performance } from 'node:perf_hooks';
import { randomFillSync } from 'node:crypto';
import {
  ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_METHOD_ORIGINAL, ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_PATH, ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';

/** The gateway's own error code (docs/errors.md) on a span, for 4xx failures too. */
export const ATTR_FENGLING_ERROR_CODE = 'fengling.error.code';
export const ATTR_FENGLING_DESTINATION = 'fengling.destination.id';

/** Span kinds and status codes in OTLP numbering (the API's SpanKind is one lower). */
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_UNSET = 0;
export const STATUS_ERROR = 2;

/**
 * Attribute slots: a span's attribute values live in `SpanRecord.attributes[slot]`, `null`
 * when absent. ATTRIBUTE_KEYS names each slot; encoders walk the slots in this order.
 *
 * The first STABLE_SLOTS hold what tends to repeat from one request to the next of a route
 * (method, route, scheme, host, destination, status): the protobuf encoder keeps their
 * encoding from the last span of the same kind and copies it when they are the same.
 */
export const SLOT_METHOD = 0;
export const SLOT_ROUTE = 1;
export const SLOT_URL_SCHEME = 2;
export const SLOT_METHOD_ORIGINAL = 3;
export const SLOT_SERVER_ADDRESS = 4;
export const SLOT_SERVER_PORT = 5;
export const SLOT_DESTINATION = 6;
export const SLOT_STATUS_CODE = 7;
export const STABLE_SLOTS = 8;
export const SLOT_URL_PATH = 8;
export const SLOT_RESEND_COUNT = 9;
export const SLOT_ERROR_TYPE = 10;
export const SLOT_ERROR_CODE = 11;
export const ATTRIBUTE_KEYS: readonly string[] = [
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_URL_SCHEME, ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_FENGLING_DESTINATION, ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_URL_PATH, ATTR_HTTP_REQUEST_RESEND_COUNT, ATTR_ERROR_TYPE, ATTR_FENGLING_ERROR_CODE,
];

/** A slot's value: a string, or a whole number (OTLP int_value); null when the span has none. */
export type AttributeValue = string | number | null;

/**
 * One span, as recorded. Times are `performance.now()` milliseconds. Ids are held as big-endian
 * 32-bit words (int32), the form the protobuf encoder writes and the tracer draws them in; their
 * lower-case hex (`traceId`, `spanId`, `parentSpanId`) is made when first read (an access log
 * line, the JSON encoder, the console exporter), so a request exported as protobuf never makes
 * it for the server span.
 */
export class SpanRecord {
  /** Whether the parent came from the caller (OTLP span flags carry it). */
  readonly parentIsRemote: boolean;
  /** The W3C tracestate, normalized; null when there is none. */
  readonly traceState: string | null;
  readonly kind: number;
  readonly name: string;
  readonly startTime: number;
  endTime = 0;
  statusCode = STATUS_UNSET;
  statusMessage: string | null = null;
  /** Indexed by the SLOT_* constants (twelve slots, see ATTRIBUTE_KEYS). */
  readonly attributes: AttributeValue[] = [null, null, null, null, null, null, null, null, null, null, null, null];
  /** Whether the span has a parent (parent0/parent1 hold its id). */
  hasParent = false;
  trace0 = 0;
  trace1 = 0;
  trace2 = 0;
  trace3 = 0;
  span0 = 0;
  span1 = 0;
  parent0 = 0;
  parent1 = 0;
  #traceId: string | null = null;
  #spanId: string | null = null;
  #parentSpanId: string | null = null;

  /** A span whose ids the caller sets next (setIds). */
  constructor(parentIsRemote: boolean, traceState: string | null, kind: number, name: string, startTime: number) {
    this.parentIsRemote = parentIsRemote;
    this.traceState = traceState;
    this.kind = kind;
    this.name = name;
    this.startTime = startTime;
  }

  /** A span with the given hex ids (lower-case hex, as valid W3C ids are). */
  static withHexIds(traceId: string, spanId: string, parentSpanId: string | null, parentIsRemote: boolean, traceState: string | null, kind: number, name: string, startTime: number): SpanRecord {
    const span = new SpanRecord(parentIsRemote, traceState, kind, name, startTime);
    span.trace0 = hexWord(traceId, 0);
    span.trace1 = hexWord(traceId, 8);
    span.trace2 = hexWord(traceId, 16);
    span.trace3 = hexWord(traceId, 24);
    span.span0 = hexWord(spanId, 0);
    span.span1 = hexWord(spanId, 8);
    if (parentSpanId !== null) {
      span.hasParent = true;
      span.parent0 = hexWord(parentSpanId, 0);
      span.parent1 = hexWord(parentSpanId, 8);
    }
    return span;
  }

  /** The ids: the trace's, the span's own, and the parent's (`parent`'s span words) when there is one. */
  setIds(trace: TraceWords, span: SpanWords, parent: SpanWords | null): void {
    this.trace0 = trace.trace0;
    this.trace1 = trace.trace1;
    this.trace2 = trace.trace2;
    this.trace3 = trace.trace3;
    this.span0 = span.span0;
    this.span1 = span.span1;
    if (parent !== null) {
      this.hasParent = true;
      this.parent0 = parent.span0;
      this.parent1 = parent.span1;
    }
  }

  get traceId(): string {
    return (this.#traceId ??= hexOfWords(this.trace0, this.trace1, this.trace2, this.trace3));
  }

  get spanId(): string {
    return (this.#spanId ??= hexOfWords(this.span0, this.span1));
  }

  /** The parent's span id, or null for a root span. */
  get parentSpanId(): string | null {
    if (!this.hasParent) return null;
    return (this.#parentSpanId ??= hexOfWords(this.parent0, this.parent1));
  }
}

/** A trace id as four big-endian int32 words. */
export interface TraceWords {
  readonly trace0: number;
  readonly trace1: number;
  readonly trace2: number;
  readonly trace3: number;
}

/** A span id as two big-endian int32 words. */
export interface SpanWords {
  readonly span0: number;
  readonly span1: number;
}

/** A span's attributes as a plain object, in slot order (for the console exporter and tests). */
export function spanAttributes(span: SpanRecord): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (let slot = 0; slot < ATTRIBUTE_KEYS.length; slot++) {
    const value = span.attributes[slot];
    if (value !== null) out[ATTRIBUTE_KEYS[slot]] = value;
  }
  return out;
}

const ID_POOL_BYTES = 64 * 1024;
/** The two lower-case hex digits of every byte value as one little-endian 16-bit unit (a DataView store writes both). */
const HEX_PAIRS = new Uint16Array(256);
for (let b = 0; b < 256; b++) {
  const hex = b.toString(16).padStart(2, '0');
  HEX_PAIRS[b] = hex.charCodeAt(0) | (hex.charCodeAt(1) << 8);
}

/** A big-endian word (an id's 32 bits) as 8 lower-case hex digits into `view` at `at`: one 16-bit store a byte. */
export function writeHexWord(view: DataView, at: number, word: number): void {
  view.setUint16(at, HEX_PAIRS[word >>> 24], true);
  view.setUint16(at + 2, HEX_PAIRS[(word >>> 16) & 255], true);
  view.setUint16(at + 4, HEX_PAIRS[(word >>> 8) & 255], true);
  view.setUint16(at + 6, HEX_PAIRS[word & 255], true);
}

/**
 * Two or four big-endian words as lower-case hex, one flat string: written with writeHexWord
 * into a scratch buffer and read out once (ids as hex are made only when read: rare).
 */
const hexScratch = Buffer.alloc(32);
const hexScratchView = new DataView(hexScratch.buffer, hexScratch.byteOffset, 32);
function hexOfWords(w0: number, w1: number, w2?: number, w3?: number): string {
  writeHexWord(hexScratchView, 0, w0);
  writeHexWord(hexScratchView, 8, w1);
  if (w2 === undefined || w3 === undefined) return hexScratch.toString('latin1', 0, 16);
  writeHexWord(hexScratchView, 16, w2);
  writeHexWord(hexScratchView, 24, w3);
  return hexScratch.toString('latin1', 0, 32);
}

/**
 * `traceparent: 00-<trace id>-<span id>-01\r\n`, the header line of a recorded (sampled) span,
 * made in a scratch buffer and read out as one flat string: the two hex digits of each byte
 * are one 16-bit store.
 */
const TRACEPARENT_LINE = 'traceparent: 00-00000000000000000000000000000000-0000000000000000-01\r\n';
const TRACE_ID_AT = 'traceparent: 00-'.length;
const SPAN_ID_AT = TRACE_ID_AT + 33;
const traceparentScratch = Buffer.from(TRACEPARENT_LINE, 'latin1');
const traceparentView = new DataView(traceparentScratch.buffer, traceparentScratch.byteOffset, TRACEPARENT_LINE.length);

export function sampledTraceparentLine(span: SpanRecord): string {
  writeHexWord(traceparentView, TRACE_ID_AT, span.trace0);
  writeHexWord(traceparentView, TRACE_ID_AT + 8, span.trace1);
  writeHexWord(traceparentView, TRACE_ID_AT + 16, span.trace2);
  writeHexWord(traceparentView, TRACE_ID_AT + 24, span.trace3);
  writeHexWord(traceparentView, SPAN_ID_AT, span.span0);
  writeHexWord(traceparentView, SPAN_ID_AT + 8, span.span1);
  return traceparentScratch.toString('latin1', 0, TRACEPARENT_LINE.length);
}

/** The big-endian int32 at p[at..at+4). */
function wordAt(p: Buffer, at: number): number {
  return (p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3];
}

/**
 * Trace and span ids from a pool of cryptographically random bytes, refilled with
 * `randomFillSync` once every 64 KiB (2,730 root requests' ids): a fill has a fixed cost of
 * about 10 µs, so a smaller pool pays it more often (4 KiB: ~90 ns per request, 64 KiB: ~10).
 * An all-zero id is invalid in W3C Trace Context: it is drawn again. The ids drawn are read
 * from the source's words (a TraceWords and a SpanWords), until the next draw.
 */
export class IdSource implements TraceWords, SpanWords {
  readonly #pool = Buffer.allocUnsafe(ID_POOL_BYTES);
  #at = ID_POOL_BYTES;

  #take(bytes: number): number {
    if (this.#at + bytes > ID_POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#at = 0;
    }
    const at = this.#at;
    this.#at = at + bytes;
    return at;
  }

  trace0 = 0;
  trace1 = 0;
  trace2 = 0;
  trace3 = 0;
  span0 = 0;
  span1 = 0;

  /** A new trace id into trace0..trace3. */
  drawTraceId(): void {
    const p = this.#pool;
    for (;;) {
      const at = this.#take(16);
      const t0 = wordAt(p, at), t1 = wordAt(p, at + 4), t2 = wordAt(p, at + 8), t3 = wordAt(p, at + 12);
      if ((t0 | t1 | t2 | t3) === 0) continue;
      this.trace0 = t0;
      this.trace1 = t1;
      this.trace2 = t2;
      this.trace3 = t3;
      return;
    }
  }

  /** A new span id into span0, span1. */
  drawSpanId(): void {
    const p = this.#pool;
    for (;;) {
      const at = this.#take(8);
      const s0 = wordAt(p, at), s1 = wordAt(p, at + 4);
      if ((s0 | s1) === 0) continue;
      this.span0 = s0;
      this.span1 = s1;
      return;
    }
  }
}

const TWO_32 = 0x1_0000_0000;
const NS_PER_S = 1_000_000_000;

/**
 * Converts `performance.now()` readings to Unix time in nanoseconds, as OTLP wants it: the
 * thread's `performance.timeOrigin` (whole microseconds, as Node reports it) plus the reading.
 * A 64-bit nanosecond count is past 2^53, so it is never a JS number: the origin is split
 * once (with BigInt) into 32-bit words and into seconds + nanoseconds, and each reading is
 * added to those parts (the reading's own nanoseconds stay below 2^53 for 104 days of uptime).
 */
export class SpanClock {
  readonly #originLow: number;
  readonly #originHigh: number;
  readonly #originSeconds: number;
  readonly #originNanos: number;

  constructor(timeOriginMs: number = performance.timeOrigin) {
    const origin = BigInt(Math.round(timeOriginMs * 1000)) * 1000n;
    this.#originLow = Number(origin & 0xffff_ffffn);
    this.#originHigh = Number(origin >> 32n);
    this.#originSeconds = Number(origin / 1_000_000_000n);
    this.#originNanos = Number(origin % 1_000_000_000n);
  }

  /** Unix nanoseconds of a reading as little-endian 32-bit words [low, high] (OTLP fixed64). */
  words(readingMs: number, out: [number, number]): void {
    const since = Math.round(readingMs * 1e6);
    const sinceHigh = Math.floor(since / TWO_32);
    const low = this.#originLow + (since - sinceHigh * TWO_32);
    const carry = low >= TWO_32 ? 1 : 0;
    out[0] = low - carry * TWO_32;
    out[1] = this.#originHigh + sinceHigh + carry;
  }

  /** Unix time of a reading as [whole seconds, nanoseconds 0..999,999,999]. */
  parts(readingMs: number, out: [number, number]): void {
    const since = Math.round(readingMs * 1e6);
    const sinceSeconds = Math.floor(since / NS_PER_S);
    const nanos = this.#originNanos + (since - sinceSeconds * NS_PER_S);
    const carry = nanos >= NS_PER_S ? 1 : 0;
    out[0] = this.#originSeconds + sinceSeconds + carry;
    out[1] = nanos - carry * NS_PER_S;
  }

  /** Unix nanoseconds of a reading as a decimal string (OTLP/JSON writes 64-bit integers so). */
  decimal(readingMs: number): string {
    const parts: [number, number] = [0, 0];
    this.parts(readingMs, parts);
    return `${parts[0]}${String(parts[1]).padStart(9, '0')}`;
  }
}

/** The fields of a valid traceparent; parseTraceparent fills one reusable object. */
export interface TraceparentFields extends TraceWords, SpanWords {
  flags: number;
  /** The ids as big-endian int32 words (see SpanRecord). */
  trace0: number;
  trace1: number;
  trace2: number;
  trace3: number;
  span0: number;
  span1: number;
}

/** A TraceparentFields to fill. */
export function emptyTraceparent(): TraceparentFields {
  return { flags: 0, trace0: 0, trace1: 0, trace2: 0, trace3: 0, span0: 0, span1: 0 };
}

/** Eight lower-case hex digits of s from `at` as an int32 (the caller knows them to be hex). */
function hexWord(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) v = (v << 4) | hexDigit(s.charCodeAt(i));
  return v;
}

/** Value of a lower-case hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isHexRange(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (hexDigit(s.charCodeAt(i)) < 0) return false;
  return true;
}

/**
 * Parse a W3C `traceparent` into `out`; false when it is not valid (then the request starts a
 * new trace). As the specification and OpenTelemetry's propagator have it: `version-traceid-
 * parentid-flags` in lower-case hex, version `ff` invalid, version `00` exactly 55 characters, a
 * later version may carry more fields after a `-`; all-zero ids are invalid; one space either
 * side is tolerated.
 */
export function parseTraceparent(raw: string, out: TraceparentFields): boolean {
  let value = raw;
  if (value.length > 55 && (value.charCodeAt(0) <= 32 || value.charCodeAt(value.length - 1) <= 32)) value = value.trim();
  if (value.length < 55) return false;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) return false;
  const v0 = hexDigit(value.charCodeAt(0));
  const v1 = hexDigit(value.charCodeAt(1));
  if (v0 < 0 || v1 < 0 || (v0 === 15 && v1 === 15)) return false;
  if (value.length > 55 && (v0 + v1 === 0 || value.charCodeAt(55) !== 45)) return false;
  if (!isHexRange(value, 3, 35) || !isHexRange(value, 36, 52)) return false;
  const f0 = hexDigit(value.charCodeAt(53));
  const f1 = hexDigit(value.charCodeAt(54));
  if (f0 < 0 || f1 < 0) return false;
  const t0 = hexWord(value, 3), t1 = hexWord(value, 11), t2 = hexWord(value, 19), t3 = hexWord(value, 27);
  const s0 = hexWord(value, 36), s1 = hexWord(value, 44);
  if ((t0 | t1 | t2 | t3) === 0 || (s0 | s1) === 0) return false;
  out.flags = f0 * 16 + f1;
  out.trace0 = t0;
  out.trace1 = t1;
  out.trace2 = t2;
  out.trace3 = t3;
  out.span0 = s0;
  out.span1 = s1;
  return true;
}

const MAX_TRACE_STATE_MEMBERS = 32;
const MAX_TRACE_STATE_LENGTH = 512;
const TRACE_STATE_KEY = /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$/;
const TRACE_STATE_VALUE = /^[ -~]{0,255}[!-~]$/;

/**
 * A caller's `tracestate` as OpenTelemetry's TraceState keeps and serializes it: members that
 * are not `key=value` with a valid key and value are dropped, at most 32 members and 512
 * characters are kept, a repeated key keeps its first place and its last value. '' when
 * nothing valid remains.
 */
export function normalizeTraceState(raw: string): string {
  const members = new Map<string, string>();
  let length = 0;
  for (const part of raw.split(',')) {
    const member = part.trim();
    const eq = member.indexOf('=');
    if (eq === -1) continue;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!TRACE_STATE_KEY.test(key) || !TRACE_STATE_VALUE.test(value) || value.includes(',') || value.includes('=')) continue;
    const next = length + member.length + (members.size > 0 ? 1 : 0);
    if (next > MAX_TRACE_STATE_LENGTH) continue;
    members.set(key, value);
    length = next;
    if (members.size >= MAX_TRACE_STATE_MEMBERS) break;
  }
  let out = '';
  for (const [key, value] of members) out = out === '' ? `${key}=${value}` : `${out},${key}=${value}`;
  return out;
}

/**
 * OpenTelemetry's TraceIdRatioBased decision for a trace id (the four 32-bit words of the id
 * XOR-ed, compared with ratio x 2^32), so that a non-parent-based ratio sampler agrees with
 * any other OpenTelemetry service that sees the same trace.
 */
export function traceIdRatioSampled(trace: TraceWords, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  const accumulated = (trace.trace0 ^ trace.trace1 ^ trace.trace2 ^ trace.trace3) >>> 0;
  return accumulated < Math.floor(ratio * 0xffff_ffff);
}
