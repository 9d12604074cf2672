/**
 * OTLP encoders for SpanRecords (OBS-01): an ExportTraceServiceRequest, written directly from
 * the records, in both OTLP/HTTP encodings:
 *
 * - protobuf (opentelemetry/proto/collector/trace/v1): hand-written wire format; the
 *   resource and scope are encoded once, at construction.
 * - JSON (the OTLP JSON mapping): ids in hex, enums as numbers, 64-bit integers as strings.
 *
 * Every batch is one ResourceSpans with one ScopeSpans, since one worker has one resource and
 * one instrumentation scope. Fields at their default value are left out (proto3 reads an
 * absent field as its default): dropped counts, UNSET status, empty trace_state.
 *
 *   ExportTraceServiceRequest { 1: ResourceSpans {
 *     1: Resource { 1: KeyValue* }
 *     2: ScopeSpans { 1: InstrumentationScope { 1: name }  2: Span* } } }
 *   Span { 1 trace_id  2 span_id  3 trace_state  4 parent_span_id  5 name  6 kind
 *          7 start_time_unix_nano (fixed64)  8 end_time_unix_nano (fixed64)  9 attributes
 *          15 status { 2 message  3 code }  16 flags (fixed32) }
 *   KeyValue { 1 key  2 AnyValue { 1 string_value | 3 int_value } }
 */
import { ATTRIBUTE_KEYS, type AttributeValue, SPAN_KIND_SERVER, type SpanClock, type SpanRecord, STABLE_SLOTS, STATUS_UNSET, writeHexWord } from './span-record.js';

/** What every exported span shares: the resource's attributes and the scope's name. */
export interface OtlpOrigin {
  readonly resource: Readonly<Record<string, string>>;
  readonly scopeName: string;
}

export interface SpanEncoder {
  readonly contentType: string;
  /** Start a request body in `out`, from its start. */
  begin(out: ByteWriter): void;
  /** Append a span to the body begun in `out`; `index` is its place in the body (0 = first). */
  append(out: ByteWriter, span: SpanRecord, index: number): void;
  /** Close the body begun in `out`: the result is a view of `out`'s buffer, valid until `out` is written again. */
  finish(out: ByteWriter): Buffer;
  /** begin, append each of `spans`, finish (into a fresh writer by default). */
  encode(spans: readonly SpanRecord[], out?: ByteWriter): Buffer;
}

/** OTLP span flags: the W3C trace flags (sampled) plus "whether the parent is remote" is known. */
const FLAG_SAMPLED = 0x01;
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;

function spanFlags(span: SpanRecord): number {
  return FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | (span.parentIsRemote ? FLAG_IS_REMOTE : 0);
}

// Wire types and the tags (field << 3 | wire type) the encoder writes.
const LEN = 2;
const TAG_REQUEST_RESOURCE_SPANS = (1 << 3) | LEN;
const TAG_RESOURCE = (1 << 3) | LEN;
const TAG_RESOURCE_ATTRIBUTE = (1 << 3) | LEN;
const TAG_SCOPE_SPANS = (2 << 3) | LEN;
const TAG_SCOPE = (1 << 3) | LEN;
const TAG_SCOPE_NAME = (1 << 3) | LEN;
const TAG_SPAN = (2 << 3) | LEN;
const TAG_TRACE_ID = (1 << 3) | LEN;
const TAG_SPAN_ID = (2 << 3) | LEN;
const TAG_TRACE_STATE = (3 << 3) | LEN;
const TAG_PARENT_SPAN_ID = (4 << 3) | LEN;
const TAG_NAME = (5 << 3) | LEN;
const TAG_KIND = 6 << 3;
const TAG_START = (7 << 3) | 1;
const TAG_END = (8 << 3) | 1;
const TAG_ATTRIBUTE = (9 << 3) | LEN;
const TAG_STATUS = (15 << 3) | LEN;
const TAG_STATUS_MESSAGE = (2 << 3) | LEN;
const TAG_STATUS_CODE = 3 << 3;
/** Field 16, wire type 5 (fixed32): tag 133, two varint bytes. */
const TAG_FLAGS_BYTES = [0x85, 0x01];
const TAG_KEY = (1 << 3) | LEN;
const TAG_VALUE = (2 << 3) | LEN;
const TAG_STRING_VALUE = (1 << 3) | LEN;
const TAG_INT_VALUE = 3 << 3;

/** "00" "01" ... "99" as ASCII byte pairs. */
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''));

function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x20_0000) return 3;
  if (n < 0x1000_0000) return 4;
  let size = 5;
  for (let v = Math.floor(n / 0x8_0000_0000); v > 0; v = Math.floor(v / 128)) size++;
  return size;
}

/** UTF-8 length of a string (what Buffer.byteLength returns, without a native call for short ones). */
function utf8Length(s: string): number {
  if (s.length > 64) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/**
 * The byte writer both encodings use: a buffer grown by doubling, which an exporter reuses
 * batch after batch (allocating and copying out a body of a few hundred KiB per batch cost
 * more than the encoding: fresh memory is page faults). Callers `ensure` room for an upper
 * bound of what they write next, so the write methods do not check.
 *
 * Protobuf: a message whose length is not known in advance (a span, the scope and resource
 * wrappers) is written after a gap of `reserve` bytes for its length; when the length's varint
 * is shorter than the gap, the body is moved down to close it (`copyWithin`, rare: a 2-byte gap
 * fits spans of 128 B to 16 KiB).
 */
export class ByteWriter {
  buf: Buffer;
  /** A DataView of `buf` (kept in step with it): multi-byte stores in one operation. */
  dv: DataView;
  pos = 0;
  readonly #words: [number, number] = [0, 0];
  #seconds = -1;
  #secondsDigits = Buffer.alloc(0);

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /** The bytes written so far (a view: it changes when the writer is written again). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written so far, as a copy of their own. */
  copy(): Buffer {
    return Buffer.from(this.view());
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** A non-negative whole number below 2^53 (lengths, enums, the gateway's int attributes). */
  varint(n: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 0x8000_0000) {
      buf[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** A big-endian word (an id's 32 bits) as 8 lower-case hex digits (JSON), without making a string. */
  hexWord(word: number): void {
    writeHexWord(this.dv, this.pos, word);
    this.pos += 8;
  }

  /** A reading as Unix nanoseconds in decimal digits (JSON), without making a string. */
  decimalTime(clock: SpanClock, readingMs: number): void {
    const parts = this.#words;
    clock.parts(readingMs, parts);
    // The seconds change once a second: their ten or so digits are kept from the last time.
    if (parts[0] !== this.#seconds) {
      this.#seconds = parts[0];
      const at = this.pos;
      this.digits(parts[0], 1);
      this.#secondsDigits = Buffer.from(this.buf.subarray(at, this.pos));
      this.pos = at;
    }
    this.raw(this.#secondsDigits);
    this.digits(parts[1], 9);
  }

  /** A whole number 0 <= n < 2^53 in decimal, zero-padded to `width` digits. */
  digits(n: number, width: number): void {
    let count = 1;
    for (let v = n; v >= 10; v = Math.floor(v / 10)) count++;
    if (count < width) count = width;
    const buf = this.buf;
    let pos = this.pos + count;
    this.pos = pos;
    // Two digits at a time from a table; integer division stays in 32-bit operations below 2^31.
    while (count >= 2) {
      const q = n < 0x8000_0000 ? (n / 100) | 0 : Math.floor(n / 100);
      const r = (n - q * 100) * 2;
      buf[--pos] = DIGIT_PAIRS[r + 1];
      buf[--pos] = DIGIT_PAIRS[r];
      n = q;
      count -= 2;
    }
    if (count === 1) buf[--pos] = 48 + n;
  }

  /** Raw string bytes whose UTF-8 length is known (`bytes`). */
  stringBody(s: string, bytes: number): void {
    if (bytes === s.length && bytes <= 64) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < bytes; i++) buf[pos++] = s.charCodeAt(i);
      this.pos = pos;
    } else {
      this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
    }
  }

  /**
   * A string's characters as bytes when all are ASCII (then its UTF-8 length is its length):
   * true. false at the first that is not, with `pos` where it was (what was copied is garbage).
   * One pass, where measuring the UTF-8 length and then copying took two.
   */
  asciiBody(s: string): boolean {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[pos++] = c;
    }
    this.pos = pos;
    return true;
  }

  /** A length-delimited string. */
  string(s: string): void {
    if (s.length < 0x80) {
      // A one-byte length when it is ASCII.
      const at = this.pos;
      this.pos = at + 1;
      if (this.asciiBody(s)) {
        this.buf[at] = s.length;
        return;
      }
      this.pos = at;
    }
    const bytes = utf8Length(s);
    this.varint(bytes);
    this.stringBody(s, bytes);
  }

  /** Text known to be ASCII (JSON punctuation, keys, hex ids, numbers). */
  ascii(s: string): void {
    this.stringBody(s, s.length);
  }

  /** A JSON string literal: printable ASCII without `"` or `\\` as it is, anything else through JSON.stringify. */
  jsonString(s: string): void {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    buf[pos++] = 34;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 34 || c === 92) {
        this.pos = start;
        const quoted = JSON.stringify(s);
        this.stringBody(quoted, utf8Length(quoted));
        return;
      }
      buf[pos++] = c;
    }
    buf[pos++] = 34;
    this.pos = pos;
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Leave `reserve` bytes for the length of the message that follows; returns where it starts. */
  begin(reserve: number): number {
    this.pos += reserve;
    return this.pos;
  }

  /** Write the length of the message begun at `start` into its gap. */
  end(start: number, reserve: number): void {
    const length = this.pos - start;
    const size = varintSize(length);
    const at = start - reserve;
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(at + size, start, this.pos);
      this.pos += size - reserve;
    }
    const end = this.pos;
    this.pos = at;
    this.varint(length);
    this.pos = end;
  }
}

/** The bytes of `KeyValue.key` (tag, length, UTF-8) for every attribute slot. */
const KEY_BYTES: readonly Buffer[] = ATTRIBUTE_KEYS.map((key) => {
  const body = Buffer.from(key, 'utf8');
  return Buffer.concat([Buffer.from([TAG_KEY, body.length]), body]);
});

/**
 * An upper bound of a span's encoded size, so that `ensure` runs once per span: `perChar`
 * bytes per character of its strings (UTF-8: 3; JSON, escapes included: 6), `perKey` per
 * attribute besides its key and value.
 */
function spanSizeBound(span: SpanRecord, perChar: number, perKey: number): number {
  let n = 4 * perKey + perChar * (span.name.length + (span.traceState === null ? 0 : span.traceState.length));
  if (span.statusMessage !== null) n += perChar * span.statusMessage.length;
  const attributes = span.attributes;
  for (let slot = 0; slot < attributes.length; slot++) {
    const value = attributes[slot];
    if (value !== null) n += perKey + ATTRIBUTE_KEYS[slot].length + (typeof value === 'string' ? perChar * value.length : 20);
  }
  return n;
}

/** One attribute (nothing when `value` is null): `KeyValue { key, value: AnyValue { string_value | int_value } }`. */
function attribute(w: ByteWriter, slot: number, value: AttributeValue): void {
  if (value === null) return;
  const key = KEY_BYTES[slot];
  if (typeof value === 'string') {
    // Written as ASCII (UTF-8 length = length) first; rewritten when it is not.
    const at = w.pos;
    stringKeyValueHead(w, key, value.length);
    if (!w.asciiBody(value)) {
      w.pos = at;
      const bytes = Buffer.byteLength(value, 'utf8');
      stringKeyValueHead(w, key, bytes);
      w.stringBody(value, bytes);
    }
    return;
  }
  const anyLength = 1 + varintSize(value);
  w.byte(TAG_ATTRIBUTE);
  w.varint(key.length + 1 + varintSize(anyLength) + anyLength);
  w.raw(key);
  w.byte(TAG_VALUE);
  w.varint(anyLength);
  w.byte(TAG_INT_VALUE);
  w.varint(value);
}

/**
 * What the last span of one kind shared with the spans of its route, encoded: its name, its
 * kind and its attributes of slots [0, STABLE_SLOTS) (method, route, scheme, host,
 * destination, status), with the values they encode. While the next span has the same, its
 * encoding copies these bytes in one `set`; a span with other values encodes them and is
 * remembered. (Protobuf readers take a message's fields in any order, and the occurrences of a
 * repeated field need not be adjacent: the block sits between the ids and the times.)
 */
// StablePart.matches compares slots 0-7 written out.
if (STABLE_SLOTS !== 8) throw new Error(`StablePart.matches compares 8 slots, STABLE_SLOTS is ${STABLE_SLOTS}`);

class StablePart {
  #name = '';
  readonly #values: AttributeValue[] = new Array<AttributeValue>(STABLE_SLOTS).fill(null);
  #known = false;
  bytes: Buffer = Buffer.alloc(0);

  matches(span: SpanRecord): boolean {
    if (!this.#known || span.name !== this.#name) return false;
    const v = this.#values;
    const a = span.attributes;
    // Written out, one comparison per slot and a copy per kind: each comparison then learns its
    // own types (a method is always a string, a port a number, a server span's destination
    // null), and V8 compiles most to a pointer or number check. One comparison in a loop saw
    // every slot's types and called the generic StrictEqual for each (~470 instructions a span).
    if (span.kind === SPAN_KIND_SERVER) {
      return a[0] === v[0] && a[1] === v[1] && a[2] === v[2] && a[3] === v[3] && a[4] === v[4] && a[5] === v[5] && a[6] === v[6] && a[7] === v[7];
    }
    return a[0] === v[0] && a[1] === v[1] && a[2] === v[2] && a[3] === v[3] && a[4] === v[4] && a[5] === v[5] && a[6] === v[6] && a[7] === v[7];
  }

  remember(span: SpanRecord, encoded: Buffer): void {
    this.#name = span.name;
    for (let slot = 0; slot < STABLE_SLOTS; slot++) this.#values[slot] = span.attributes[slot];
    this.bytes = Buffer.from(encoded);
    this.#known = true;
  }
}

/**
 * An upper bound of what a span's encoding adds to its stable part (StablePart): tags, ids,
 * times, flags, the tracestate, the status and the attributes from STABLE_SLOTS on.
 */
function variableSizeBound(span: SpanRecord): number {
  let n = 128;
  if (span.traceState !== null) n += 3 * span.traceState.length;
  if (span.statusMessage !== null) n += 3 * span.statusMessage.length;
  const attributes = span.attributes;
  for (let slot = STABLE_SLOTS; slot < attributes.length; slot++) {
    const value = attributes[slot];
    if (value !== null) n += 32 + ATTRIBUTE_KEYS[slot].length + (typeof value === 'string' ? 3 * value.length : 20);
  }
  return n;
}

/** `KeyValue { key, value: AnyValue { string_value } }` up to the value's `bytes` UTF-8 bytes. */
function stringKeyValueHead(w: ByteWriter, key: Buffer, bytes: number): void {
  const anyLength = 1 + varintSize(bytes) + bytes;
  w.byte(TAG_ATTRIBUTE);
  w.varint(key.length + 1 + varintSize(anyLength) + anyLength);
  w.raw(key);
  w.byte(TAG_VALUE);
  w.varint(anyLength);
  w.byte(TAG_STRING_VALUE);
  w.varint(bytes);
}

/** OTLP/HTTP protobuf (`application/x-protobuf`). */
export class OtlpProtobufEncoder implements SpanEncoder {
  readonly contentType = 'application/x-protobuf';
  readonly #clock: SpanClock;
  /** `1: Resource` and `1: InstrumentationScope`, each with its tag and length. */
  readonly #resource: Buffer;
  readonly #scope: Buffer;
  /** Room kept at a body's start for the envelope, whose lengths are known only at finish. */
  readonly #reserve: number;

  constructor(origin: OtlpOrigin, clock: SpanClock) {
    this.#clock = clock;
    const w = new ByteWriter(1024);
    w.byte(TAG_RESOURCE);
    const resource = w.begin(5);
    for (const [key, value] of Object.entries(origin.resource)) {
      w.ensure(32 + 3 * (key.length + value.length));
      w.byte(TAG_RESOURCE_ATTRIBUTE);
      const kv = w.begin(5);
      w.byte(TAG_KEY);
      w.string(key);
      w.byte(TAG_VALUE);
      const any = w.begin(5);
      w.byte(TAG_STRING_VALUE);
      w.string(value);
      w.end(any, 5);
      w.end(kv, 5);
    }
    w.end(resource, 5);
    this.#resource = w.copy();
    w.pos = 0;
    w.ensure(16 + 3 * origin.scopeName.length);
    w.byte(TAG_SCOPE);
    const scope = w.begin(5);
    w.byte(TAG_SCOPE_NAME);
    w.string(origin.scopeName);
    w.end(scope, 5);
    this.#scope = w.copy();
    this.#reserve = 1 + 5 + this.#resource.length + 1 + 5 + this.#scope.length;
  }

  begin(w: ByteWriter): void {
    const reserve = this.#reserve;
    w.pos = 0;
    w.ensure(reserve);
    w.pos = reserve;
  }

  append(w: ByteWriter, span: SpanRecord): void {
    this.#span(w, span);
  }

  /**
   * The envelope, `1: ResourceSpans { 1: Resource, 2: ScopeSpans { 1: Scope, 2: Span... } }`,
   * is written right-aligned into the reserved room, ending where the spans begin; the body
   * starts wherever it starts, so the spans are never moved.
   */
  finish(w: ByteWriter): Buffer {
    const reserve = this.#reserve;
    const end = w.pos;
    const scopeSpans = this.#scope.length + (end - reserve);
    const resourceSpans = this.#resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const start = reserve - (1 + varintSize(resourceSpans) + this.#resource.length + 1 + varintSize(scopeSpans) + this.#scope.length);
    w.pos = start;
    w.byte(TAG_REQUEST_RESOURCE_SPANS);
    w.varint(resourceSpans);
    w.raw(this.#resource);
    w.byte(TAG_SCOPE_SPANS);
    w.varint(scopeSpans);
    w.raw(this.#scope);
    w.pos = end;
    return w.buf.subarray(start, end);
  }

  encode(spans: readonly SpanRecord[], w = new ByteWriter(16 * 1024)): Buffer {
    this.begin(w);
    for (let i = 0; i < spans.length; i++) this.#span(w, spans[i]);
    return this.finish(w);
  }

  readonly #serverStable = new StablePart();
  readonly #clientStable = new StablePart();
  readonly #words: [number, number] = [0, 0];

  /**
   * `2: Span`: ids (1, 2, 3, 4), the stable part (5, 6 and the repeating attributes, 9), times
   * (7, 8), the other attributes (9), status (15), flags (16). The ids, times and flags are
   * stored with the writer's DataView (ids are big-endian words; fixed64 and fixed32 are
   * little-endian).
   */
  #span(w: ByteWriter, span: SpanRecord): void {
    const stable = span.kind === SPAN_KIND_SERVER ? this.#serverStable : this.#clientStable;
    const hit = stable.matches(span);
    w.ensure(hit ? stable.bytes.length + variableSizeBound(span) : spanSizeBound(span, 3, 32));
    const buf = w.buf;
    const dv = w.dv;
    buf[w.pos] = TAG_SPAN;
    // Two bytes for the span's length (128 B to 16 KiB; end() moves the body when it is not).
    const start = w.pos + 3;
    let pos = start;
    buf[pos] = TAG_TRACE_ID;
    buf[pos + 1] = 16;
    dv.setInt32(pos + 2, span.trace0);
    dv.setInt32(pos + 6, span.trace1);
    dv.setInt32(pos + 10, span.trace2);
    dv.setInt32(pos + 14, span.trace3);
    buf[pos + 18] = TAG_SPAN_ID;
    buf[pos + 19] = 8;
    dv.setInt32(pos + 20, span.span0);
    dv.setInt32(pos + 24, span.span1);
    pos += 28;
    if (span.traceState !== null && span.traceState !== '') {
      w.pos = pos;
      w.byte(TAG_TRACE_STATE);
      w.string(span.traceState);
      pos = w.pos;
    }
    if (span.hasParent) {
      buf[pos] = TAG_PARENT_SPAN_ID;
      buf[pos + 1] = 8;
      dv.setInt32(pos + 2, span.parent0);
      dv.setInt32(pos + 6, span.parent1);
      pos += 10;
    }
    if (hit) {
      buf.set(stable.bytes, pos);
      pos += stable.bytes.length;
    } else {
      w.pos = pos;
      w.byte(TAG_NAME);
      w.string(span.name);
      w.byte(TAG_KIND);
      w.byte(span.kind);
      const attributes = span.attributes;
      for (let slot = 0; slot < STABLE_SLOTS; slot++) attribute(w, slot, attributes[slot]);
      stable.remember(span, buf.subarray(pos, w.pos));
      pos = w.pos;
    }
    const words = this.#words;
    const clock = this.#clock;
    buf[pos] = TAG_START;
    clock.words(span.startTime, words);
    dv.setUint32(pos + 1, words[0], true);
    dv.setUint32(pos + 5, words[1], true);
    buf[pos + 9] = TAG_END;
    clock.words(span.endTime, words);
    dv.setUint32(pos + 10, words[0], true);
    dv.setUint32(pos + 14, words[1], true);
    w.pos = pos + 18;
    const attributes = span.attributes;
    for (let slot = STABLE_SLOTS; slot < attributes.length; slot++) attribute(w, slot, attributes[slot]);
    if (span.statusCode !== STATUS_UNSET) {
      const message = span.statusMessage;
      const messageBytes = message === null ? 0 : utf8Length(message);
      w.byte(TAG_STATUS);
      w.varint((messageBytes > 0 ? 1 + varintSize(messageBytes) + messageBytes : 0) + 2);
      if (message !== null && messageBytes > 0) {
        w.byte(TAG_STATUS_MESSAGE);
        w.varint(messageBytes);
        w.stringBody(message, messageBytes);
      }
      w.byte(TAG_STATUS_CODE);
      w.byte(span.statusCode);
    }
    pos = w.pos;
    buf[pos] = TAG_FLAGS_BYTES[0];
    buf[pos + 1] = TAG_FLAGS_BYTES[1];
    dv.setUint32(pos + 2, spanFlags(span), true);
    pos += 6;
    const length = pos - start;
    if (length >= 0x80 && length < 0x4000) {
      buf[start - 2] = (length & 0x7f) | 0x80;
      buf[start - 1] = length >>> 7;
      w.pos = pos;
    } else {
      w.pos = pos;
      w.end(start, 2);
    }
  }
}

/** `{"key":"<key>","value":{"stringValue":` (or `"intValue":"`) for every attribute slot. */
const JSON_STRING_KEYS = ATTRIBUTE_KEYS.map((key) => Buffer.from(`{"key":${JSON.stringify(key)},"value":{"stringValue":`));
const JSON_INT_KEYS = ATTRIBUTE_KEYS.map((key) => Buffer.from(`{"key":${JSON.stringify(key)},"value":{"intValue":"`));
/** The JSON between a span's values, as bytes (`raw`, one native copy, beats a loop over a string). */
const J = {
  traceId: Buffer.from('{"traceId":"'), spanId: Buffer.from('","spanId":"'), parentSpanId: Buffer.from('","parentSpanId":"'),
  traceState: Buffer.from('","traceState":'), name: Buffer.from(',"name":'), nameAfterId: Buffer.from('","name":'),
  kind: Buffer.from(',"kind":'), start: Buffer.from(',"startTimeUnixNano":"'), end: Buffer.from('","endTimeUnixNano":"'),
  attributes: Buffer.from('","attributes":['), stringEnd: Buffer.from('}}'), intEnd: Buffer.from('"}}'),
  status: Buffer.from(',"status":{'), message: Buffer.from('"message":'), code: Buffer.from('"code":'), flags: Buffer.from(',"flags":'),
};

/**
 * OTLP/HTTP JSON (`application/json`), written as bytes with the same writer (building one
 * large string and encoding it cost several times more).
 */
export class OtlpJsonEncoder implements SpanEncoder {
  readonly contentType = 'application/json';
  readonly #clock: SpanClock;
  /** Everything before the first span, and after the last. */
  readonly #head: Buffer;
  readonly #tail = Buffer.from(']}]}]}');

  constructor(origin: OtlpOrigin, clock: SpanClock) {
    this.#clock = clock;
    const resource = {
      attributes: Object.entries(origin.resource).map(([key, value]) => ({ key, value: { stringValue: value } })),
    };
    this.#head = Buffer.from(`{"resourceSpans":[{"resource":${JSON.stringify(resource)},"scopeSpans":[{"scope":${JSON.stringify({ name: origin.scopeName })},"spans":[`, 'utf8');
  }

  begin(w: ByteWriter): void {
    w.pos = 0;
    w.ensure(this.#head.length);
    w.raw(this.#head);
  }

  append(w: ByteWriter, span: SpanRecord, index: number): void {
    w.ensure(spanSizeBound(span, 6, 64) + 400);
    if (index > 0) w.byte(44); // ,
    this.#span(w, span);
  }

  finish(w: ByteWriter): Buffer {
    w.ensure(this.#tail.length);
    w.raw(this.#tail);
    return w.view();
  }

  encode(spans: readonly SpanRecord[], w = new ByteWriter(16 * 1024)): Buffer {
    this.begin(w);
    for (let i = 0; i < spans.length; i++) this.append(w, spans[i], i);
    return this.finish(w);
  }

  #span(w: ByteWriter, span: SpanRecord): void {
    const clock = this.#clock;
    w.raw(J.traceId);
    w.hexWord(span.trace0);
    w.hexWord(span.trace1);
    w.hexWord(span.trace2);
    w.hexWord(span.trace3);
    w.raw(J.spanId);
    w.hexWord(span.span0);
    w.hexWord(span.span1);
    if (span.hasParent) {
      w.raw(J.parentSpanId);
      w.hexWord(span.parent0);
      w.hexWord(span.parent1);
    }
    if (span.traceState !== null && span.traceState !== '') {
      w.raw(J.traceState);
      w.jsonString(span.traceState);
      w.raw(J.name);
    } else {
      w.raw(J.nameAfterId);
    }
    w.jsonString(span.name);
    w.raw(J.kind);
    w.digits(span.kind, 1);
    w.raw(J.start);
    w.decimalTime(clock, span.startTime);
    w.raw(J.end);
    w.decimalTime(clock, span.endTime);
    w.raw(J.attributes);
    const attributes = span.attributes;
    let first = true;
    for (let slot = 0; slot < attributes.length; slot++) {
      const value = attributes[slot];
      if (value === null) continue;
      if (!first) w.byte(44);
      first = false;
      if (typeof value === 'string') {
        w.raw(JSON_STRING_KEYS[slot]);
        w.jsonString(value);
        w.raw(J.stringEnd);
      } else {
        w.raw(JSON_INT_KEYS[slot]);
        w.digits(value, 1);
        w.raw(J.intEnd);
      }
    }
    w.byte(93); // ]
    if (span.statusCode !== STATUS_UNSET) {
      w.raw(J.status);
      if (span.statusMessage !== null && span.statusMessage !== '') {
        w.raw(J.message);
        w.jsonString(span.statusMessage);
        w.byte(44);
      }
      w.raw(J.code);
      w.digits(span.statusCode, 1);
      w.byte(125); // }
    }
    w.raw(J.flags);
    w.digits(spanFlags(span), 1);
    w.byte(125);
  }
}
