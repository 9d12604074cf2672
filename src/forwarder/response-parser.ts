/**
 * Incremental HTTP/1.1 response parser working directly on Buffers.
 *
 * Why home-made: the upstream client's cost is counted in C++<->JS crossings and byte-to-string
 * conversions (docs: BENCH.md). This parser validates and frames in plain JS loops over the
 * bytes and makes strings only for header names and values (latin1, one slice each; common
 * header names and the reason "OK" come from constant strings without any crossing).
 *
 * Model: pull, not push. `execute(buf, start, end)` runs until it has one event to report and
 * returns it; the caller acts on the event (which may abort, pause or reuse the connection)
 * and calls `execute` again from `offset`. The parser never calls out, so nothing a handler
 * does can re-enter it.
 *
 * Carry invariant: after PARSE_NEED_MORE the caller keeps the bytes [offset, end) and passes
 * them again, followed by new bytes, as the start of the next `execute`. The parser relies on
 * that (it remembers how far the current line was already scanned), which keeps a head that
 * arrives one byte per read linear instead of quadratic.
 *
 * Strictness: lines end in CRLF (a bare LF or CR is an error), obs-fold and control bytes other
 * than HTAB are errors, Content-Length must be digits, duplicates must agree, and
 * Content-Length with Transfer-Encoding is an error (RFC 9112 §6.3 allows treating it as one;
 * it is the classic response-splitting shape).
 */

/** Not enough bytes to make progress; keep [offset, end) and call again with more. */
export const PARSE_NEED_MORE = 0;
/** A final (non-1xx) head is ready: statusCode, statusMessage, headers, hasBody, keepAlive. */
export const PARSE_HEAD = 1;
/** Body bytes [bodyStart, bodyEnd) of the buffer passed to execute; offset is past them. */
export const PARSE_BODY = 2;
/** The message is complete; `trailers` holds the trailer fields, if any. */
export const PARSE_COMPLETE = 3;
/** Invalid or oversized response: errorCode and errorMessage. The parser stays in error. */
export const PARSE_ERROR = 4;

export type ParseEvent =
  | typeof PARSE_NEED_MORE
  | typeof PARSE_HEAD
  | typeof PARSE_BODY
  | typeof PARSE_COMPLETE
  | typeof PARSE_ERROR;

export type ParseErrorCode = 'UPSTREAM_PROTOCOL' | 'UPSTREAM_HEADERS_TOO_LARGE';

/** `latin1Slice` is Buffer's own one-crossing decoder; `toString('latin1', ...)` wraps it. */
interface Latin1Slicing {
  latin1Slice(start: number, end: number): string;
}

// Parser states.
const ST_STATUS = 0;
const ST_HEADER = 1;
const ST_BODY_LENGTH = 2;
const ST_CHUNK_SIZE = 3;
const ST_CHUNK_DATA = 4;
const ST_CHUNK_DATA_END = 5;
const ST_TRAILER = 6;
const ST_BODY_EOF = 7;
const ST_DONE = 8;
const ST_ERROR = 9;

const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const COMMA = 0x2c;
const COLON = 0x3a;
const SEMICOLON = 0x3b;

/** #fastFieldLine's answer for a line that put the parser in error. */
const FAST_FAILED = -2;

/** Largest chunk size accepted: keeps `size * 16 + digit` exact in a double. */
const MAX_CHUNK_SIZE = 2 ** 52;
/** Content-Length digits accepted: 15 digits stay below 2^53. */
const MAX_CONTENT_LENGTH_DIGITS = 15;

/** tchar (RFC 9110 §5.6.2): 1 when the byte may appear in a field name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** field-vchar / SP / HTAB / obs-text: 1 when the byte may appear in a field value or reason. */
const VALUE_OK = new Uint8Array(256);
VALUE_OK[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE_OK[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE_OK[c] = 1;

/** Hex digit values; 255 = not a hex digit. */
const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const LOWER_CONTENT_LENGTH = ascii('content-length');
const LOWER_TRANSFER_ENCODING = ascii('transfer-encoding');
const LOWER_CONNECTION = ascii('connection');
const LOWER_CHUNKED = ascii('chunked');
const LOWER_CLOSE = ascii('close');
const LOWER_KEEP_ALIVE = ascii('keep-alive');

/**
 * Header names that upstreams send most, in the spellings they use. A name whose bytes match
 * one exactly is returned as this constant string: no decode, no crossing. Indexed by length.
 * (Repeated values are the connection's remembered lines' business: see LineRecord.)
 */
interface KnownName {
  readonly name: string;
  /** The name's bytes, to compare with (a byte read costs a fraction of a `charCodeAt`). */
  readonly nameBytes: Uint8Array;
  /** FR_*: whether the field frames the message (Content-Length, Connection) or not. */
  readonly framing: number;
}
// Framing kinds of known names. Transfer-Encoding is read every time: its codings count
// across lines.
const FR_NONE = 0;
const FR_CONTENT_LENGTH = 1;
const FR_CONNECTION = 2;
const FR_TRANSFER_ENCODING = 3;
// Connection options that matter to the framing.
const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
/**
 * A head line this connection's upstream sent before, kept whole (CRLF included) with what
 * parsing it gave. Upstreams repeat most of their head from one response to the next; a line
 * whose bytes equal the remembered line at the same position is taken in one compare loop
 * instead of being validated, matched against the known names and compared again.
 * Validity depends only on the bytes, which were validated when the line was first read; the
 * framing it implies is applied again (it depends on the other lines of the head).
 */
interface LineRecord {
  /** The line's bytes, CRLF included: never written to. */
  readonly bytes: Uint8Array;
  /** The same bytes as little-endian 32-bit words (the tail of fewer than 4 bytes left out). */
  readonly words: Int32Array;
  readonly name: string;
  readonly value: string;
  /** Views of `bytes` (or a known name's own arrays): immutable, as `headerBytes` promises. */
  readonly nameBytes: Uint8Array;
  readonly valueBytes: Uint8Array;
  /** FR_* and what the value said (Content-Length's number, Connection's CONN_* bits). */
  readonly framing: number;
  readonly facts: number;
  /** The value's bounds relative to the line's start (Transfer-Encoding is read again). */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** The value's bytes OR-ed together (for headersAscii). */
  readonly bits: number;
}
/** Lines remembered per connection, and the longest line remembered. */
const MAX_REMEMBERED_LINES = 32;
const MAX_REMEMBERED_LINE_BYTES = 128;
/** A position whose line was too long to keep: never matches (its length is 0). */
const NO_LINE: LineRecord = {
  bytes: new Uint8Array(0), words: new Int32Array(0), name: '', value: '', nameBytes: new Uint8Array(0), valueBytes: new Uint8Array(0),
  framing: 0, facts: 0, valueStart: 0, valueEnd: 0, bits: 0,
};

/**
 * A head's arrays while every field line so far is the remembered line at its position: the
 * fields are taken from the records when a line that is not remembered comes, or when the head
 * ends (#finishHead), so a final head always gets real arrays.
 */
const NO_HEADERS: string[] = [];
const NO_HEADER_BYTES: Array<Uint8Array | null> = [];

/** The arrays made for the last head that was all remembered lines (2 entries a line). */
interface RecordedHead {
  readonly headers: string[];
  readonly bytes: Array<Uint8Array | null>;
}

const KNOWN_NAMES: KnownName[][] = [];
for (const name of [
  'Content-Length', 'Content-Type', 'Date', 'Server', 'Connection', 'Keep-Alive',
  'Transfer-Encoding', 'Cache-Control', 'ETag', 'Last-Modified', 'Vary', 'Location',
  'Set-Cookie', 'Content-Encoding', 'Accept-Ranges', 'Expires', 'X-Powered-By',
  'content-length', 'content-type', 'date', 'server', 'connection', 'keep-alive',
  'transfer-encoding', 'cache-control', 'etag', 'last-modified', 'vary', 'location',
  'set-cookie', 'content-encoding', 'accept-ranges', 'expires', 'x-powered-by',
]) {
  const lower = name.toLowerCase();
  const framing = lower === 'content-length' ? FR_CONTENT_LENGTH : lower === 'connection' ? FR_CONNECTION
    : lower === 'transfer-encoding' ? FR_TRANSFER_ENCODING : FR_NONE;
  (KNOWN_NAMES[name.length] ??= []).push({
    name, nameBytes: ascii(name), framing,
  });
}

function knownName(buf: Buffer, start: number, end: number): KnownName | undefined {
  const candidates = KNOWN_NAMES[end - start];
  if (candidates === undefined) return undefined;
  outer: for (let k = 0; k < candidates.length; k++) {
    const name = candidates[k].nameBytes;
    for (let i = 0; i < name.length; i++) {
      if (name[i] !== buf[start + i]) continue outer;
    }
    return candidates[k];
  }
  return undefined;
}

/** Case-insensitive compare of buf[start, end) with a lower-case ASCII constant. */
function equalsLower(buf: Buffer, start: number, end: number, lower: Uint8Array): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    // `| 0x20` folds A-Z onto a-z; no other validated name/value byte folds onto a letter or '-'.
    if ((buf[start + i] | 0x20) !== lower[i]) return false;
  }
  return true;
}

/** The value of a Content-Length field over [vs, ve): 1 to 15 digits, else -1. */
function contentLengthOf(buf: Buffer, vs: number, ve: number): number {
  if (ve === vs || ve - vs > MAX_CONTENT_LENGTH_DIGITS) return -1;
  let n = 0;
  for (let i = vs; i < ve; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

// Where nextListElement found the element: [elementStart, elementEnd).
let elementStart = 0;
let elementEnd = 0;

/**
 * The next element of a comma-separated list (`#element`, RFC 9110 §5.6.1) at or after `i`,
 * before `ve`: its bounds without OWS go to elementStart/elementEnd (empty when only commas
 * and whitespace were left). Returns where the next call continues.
 */
function nextListElement(buf: Buffer, i: number, ve: number): number {
  while (i < ve && (buf[i] === SP || buf[i] === HTAB || buf[i] === COMMA)) i++;
  const ts = i;
  while (i < ve && buf[i] !== COMMA) i++;
  let te = i;
  while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
  elementStart = ts;
  elementEnd = te;
  return i;
}

/** CONN_CLOSE and CONN_KEEP_ALIVE as listed in a Connection field's value over [vs, ve). */
function connectionOptions(buf: Buffer, vs: number, ve: number): number {
  let options = 0;
  for (let i = vs; i < ve;) {
    i = nextListElement(buf, i, ve);
    if (equalsLower(buf, elementStart, elementEnd, LOWER_CLOSE)) options |= CONN_CLOSE;
    else if (equalsLower(buf, elementStart, elementEnd, LOWER_KEEP_ALIVE)) options |= CONN_KEEP_ALIVE;
  }
  return options;
}

/** FR_* of a field name in any spelling (the known names carry theirs). */
function framingOf(buf: Buffer, s: number, nameEnd: number): number {
  switch (nameEnd - s) {
    case 14: return equalsLower(buf, s, nameEnd, LOWER_CONTENT_LENGTH) ? FR_CONTENT_LENGTH : FR_NONE;
    case 17: return equalsLower(buf, s, nameEnd, LOWER_TRANSFER_ENCODING) ? FR_TRANSFER_ENCODING : FR_NONE;
    case 10: return equalsLower(buf, s, nameEnd, LOWER_CONNECTION) ? FR_CONNECTION : FR_NONE;
    default: return FR_NONE;
  }
}

/** What a framing field's value says: Content-Length's number (-1 if invalid), Connection's CONN_* bits. */
function framingFacts(framing: number, buf: Buffer, vs: number, ve: number): number {
  if (framing === FR_CONTENT_LENGTH) return contentLengthOf(buf, vs, ve);
  if (framing === FR_CONNECTION) return connectionOptions(buf, vs, ve);
  return 0;
}

/**
 * `bytes` (at least 4 of them) as little-endian 32-bit words, to compare 4 bytes per step (see
 * equalsWords): the words at 0, 4, 8, ..., and last the word of the last 4 bytes, which
 * overlaps the one before when the length is not a multiple of 4 (no byte-by-byte tail).
 */
function wordsOf(bytes: Uint8Array): Int32Array {
  const n = bytes.length;
  const words = new Int32Array((n + 3) >> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const last = words.length - 1;
  for (let i = 0; i < last; i++) words[i] = view.getInt32(i * 4, true);
  words[last] = view.getInt32(n - 4, true);
  return words;
}

/**
 * Whether the `n` bytes at `s` of `view`'s buffer are the bytes `words` was made from
 * (wordsOf), `n` of them being there. A DataView read of 4 bytes costs about what one element
 * read of a Buffer costs: a 40-byte line takes 10 steps instead of 40.
 */
function equalsWords(view: DataView, s: number, n: number, words: Int32Array): boolean {
  const last = words.length - 1;
  for (let i = 0; i < last; i++) if (words[i] !== view.getInt32(s + 4 * i, true)) return false;
  return words[last] === view.getInt32(s + n - 4, true);
}

function decode(buf: Buffer, start: number, end: number): string {
  return start === end ? '' : (buf as unknown as Latin1Slicing).latin1Slice(start, end);
}

export class ResponseParser {
  readonly #maxHeadBytes: number;

  #state = ST_STATUS;
  #isHeadRequest = false;
  #offset = 0;
  /** Bytes of the current line already scanned for LF (see the carry invariant). */
  #scanned = 0;
  /** Bytes of the current head / trailer section / chunk-size line so far, for the limits. */
  #sectionBytes = 0;

  #statusCode = 0;
  #versionMinor = 1;
  #statusMessage = '';
  #headers: string[] = [];
  #headerBytes: Array<Uint8Array | null> = [];
  #hasBody = false;
  #keepAlive = false;

  // Framing facts gathered while reading header lines.
  #contentLength = -1;
  #transferEncoding = false;
  #chunkedCount = 0;
  #chunkedLast = false;
  #connectionClose = false;
  #connectionKeepAlive = false;

  /** The head's value bytes OR-ed together: bit 7 clear when every value is ASCII. */
  #valueBits = 0;
  /** The last field line's value bytes OR-ed together. */
  #lineBits = 0;
  /** Field lines of the current head so far: the position of the next one. */
  #lineIndex = 0;
  /** A DataView of the buffer last passed to execute (#viewOf), for equalsWords. */
  #view: DataView = new DataView(new ArrayBuffer(0));
  #viewOf: Buffer | null = null;
  /** The lines of earlier heads on this connection, by position (see LineRecord). */
  readonly #lines: LineRecord[] = [];
  /**
   * A head whose lines are again the same records, as many, hands over these (immutable) arrays
   * again. Null once a record they were made from is replaced.
   */
  #recorded: RecordedHead | null = null;
  /** The last status line (CRLF included), as words too, and what it said. */
  #statusLine: Uint8Array | null = null;
  #statusLineWords: Int32Array = new Int32Array(0);
  #statusLineCode = 0;
  #statusLineMinor = 1;
  #statusLineMessage = '';
  /** Where #scanField found the parts of the last field line. */
  #nameEnd = 0;
  #valueStart = 0;
  #valueEnd = 0;

  #remaining = 0;
  #bodyStart = 0;
  #bodyEnd = 0;
  #trailers: string[] | null = null;

  #errorCode: ParseErrorCode = 'UPSTREAM_PROTOCOL';
  #errorMessage = '';

  constructor(maxHeadBytes: number) {
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Prepare for the response to a new request. `isHeadRequest`: the response has no body. */
  start(isHeadRequest: boolean): void {
    this.#state = ST_STATUS;
    this.#isHeadRequest = isHeadRequest;
    this.#offset = 0;
    this.#trailers = null;
    this.#resetHead();
  }

  /** ResponseHead.relayMemo: the handler's, per connection (the parser lives as long as it). */
  relayMemo: unknown = null;

  get offset(): number { return this.#offset; }
  get statusCode(): number { return this.#statusCode; }
  get statusMessage(): string { return this.#statusMessage; }
  /**
   * Flat [name, value, ...]; immutable: a head whose every line repeats the connection's
   * last such head (same lines, same count) hands over that head's array again.
   */
  get headers(): readonly string[] { return this.#headers; }
  /**
   * Beside `headers`, index for index: the bytes of a name or value the parser holds as an
   * immutable byte array (known names; every name and value of a remembered line), else null.
   * Shared between heads as `headers` is.
   */
  get headerBytes(): ReadonlyArray<Uint8Array | null> { return this.#headerBytes; }
  /** Every header value of the head is ASCII (no byte above 0x7f: its latin1 string is its UTF-8 too). */
  get headersAscii(): boolean { return (this.#valueBits & 0x80) === 0; }
  get hasBody(): boolean { return this.#hasBody; }
  /** The head's Content-Length, or -1 when it has none or Transfer-Encoding frames the body. */
  get contentLength(): number { return this.#transferEncoding ? -1 : this.#contentLength; }
  /** Whether the connection may carry another exchange once this message is complete. */
  get keepAlive(): boolean { return this.#keepAlive; }
  get bodyStart(): number { return this.#bodyStart; }
  get bodyEnd(): number { return this.#bodyEnd; }
  get trailers(): string[] | null { return this.#trailers; }
  get errorCode(): ParseErrorCode { return this.#errorCode; }
  get errorMessage(): string { return this.#errorMessage; }
  /** The whole message has been read; the next `execute` returns PARSE_COMPLETE. */
  get messageDone(): boolean { return this.#state === ST_DONE; }

  /**
   * The upstream closed its side. Returns true when that completes the message (a body
   * delimited by the connection close); the caller then treats it as PARSE_COMPLETE.
   */
  finishAtEof(): boolean {
    if (this.#state !== ST_BODY_EOF) return false;
    this.#state = ST_DONE;
    return true;
  }

  execute(buf: Buffer, start: number, end: number): ParseEvent {
    if (buf !== this.#viewOf) {
      this.#viewOf = buf;
      this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    let off = start;
    for (;;) {
      switch (this.#state) {
        case ST_STATUS:
        case ST_HEADER:
        case ST_TRAILER:
        case ST_CHUNK_SIZE: {
          // A line starting with CR is the head's blank line (or invalid): the general path's.
          if (this.#state === ST_HEADER && this.#scanned === 0 && off < end && buf[off] !== CR) {
            let next = this.#rememberedLine(buf, off, end);
            if (next === -1) next = this.#fastFieldLine(buf, off, end);
            if (next >= 0) {
              off = next;
              continue;
            }
            if (next === FAST_FAILED) return PARSE_ERROR;
          } else if (this.#state === ST_STATUS && this.#scanned === 0) {
            const next = this.#rememberedStatusLine(buf, off, end);
            if (next >= 0) {
              off = next;
              this.#state = ST_HEADER;
              continue;
            }
          }
          const lf = this.#findLf(buf, off, end);
          const isChunkLine = this.#state === ST_CHUNK_SIZE;
          if (lf < 0) {
            if (this.#sectionBytes + (end - off) > this.#maxHeadBytes) return this.#overLimit(isChunkLine);
            this.#offset = off;
            return PARSE_NEED_MORE;
          }
          this.#sectionBytes += lf + 1 - off;
          if (this.#sectionBytes > this.#maxHeadBytes) return this.#overLimit(isChunkLine);
          if (lf === off || buf[lf - 1] !== CR) return this.#fail('bare LF line terminator');
          const lineEnd = lf - 1;
          const lineStart = off;
          off = lf + 1;
          if (isChunkLine) {
            if (!this.#parseChunkSize(buf, lineStart, lineEnd)) return PARSE_ERROR;
            continue;
          }
          if (this.#state === ST_STATUS) {
            if (!this.#parseStatusLine(buf, lineStart, lineEnd)) return PARSE_ERROR;
            this.#rememberStatusLine(buf, lineStart, off);
            this.#state = ST_HEADER;
            continue;
          }
          if (lineEnd !== lineStart) {
            if (!this.#parseFieldLine(buf, lineStart, lineEnd)) return PARSE_ERROR;
            continue;
          }
          // Empty line: end of the head or of the trailer section.
          if (this.#state === ST_TRAILER) {
            this.#state = ST_DONE;
            this.#offset = off;
            return PARSE_COMPLETE;
          }
          const event = this.#finishHead();
          if (event === PARSE_NEED_MORE) continue; // an interim 1xx head was skipped
          this.#offset = off;
          return event;
        }
        case ST_BODY_LENGTH:
        case ST_CHUNK_DATA: {
          if (off === end) {
            this.#offset = off;
            return PARSE_NEED_MORE;
          }
          const n = Math.min(end - off, this.#remaining);
          this.#remaining -= n;
          this.#bodyStart = off;
          this.#bodyEnd = off + n;
          this.#offset = off + n;
          if (this.#remaining === 0) {
            this.#state = this.#state === ST_BODY_LENGTH ? ST_DONE : ST_CHUNK_DATA_END;
          }
          return PARSE_BODY;
        }
        case ST_CHUNK_DATA_END: {
          const available = end - off;
          if (available >= 1 && buf[off] !== CR) return this.#fail('missing CRLF after chunk data');
          if (available < 2) {
            this.#offset = off;
            return PARSE_NEED_MORE;
          }
          if (buf[off + 1] !== LF) return this.#fail('missing CRLF after chunk data');
          off += 2;
          this.#state = ST_CHUNK_SIZE;
          this.#sectionBytes = 0;
          continue;
        }
        case ST_BODY_EOF: {
          this.#offset = end;
          if (off === end) return PARSE_NEED_MORE;
          this.#bodyStart = off;
          this.#bodyEnd = end;
          return PARSE_BODY;
        }
        case ST_DONE:
          this.#offset = off;
          return PARSE_COMPLETE;
        default:
          return PARSE_ERROR;
      }
    }
  }

  #findLf(buf: Buffer, off: number, end: number): number {
    for (let i = off + this.#scanned; i < end; i++) {
      if (buf[i] === LF) {
        this.#scanned = 0;
        return i;
      }
    }
    this.#scanned = end - off;
    return -1;
  }

  #resetHead(): void {
    this.#sectionBytes = 0;
    this.#scanned = 0;
    this.#headers = NO_HEADERS;
    this.#headerBytes = NO_HEADER_BYTES;
    this.#valueBits = 0;
    this.#lineIndex = 0;
    this.#contentLength = -1;
    this.#transferEncoding = false;
    this.#chunkedCount = 0;
    this.#chunkedLast = false;
    this.#connectionClose = false;
    this.#connectionKeepAlive = false;
  }

  #fail(message: string, code: ParseErrorCode = 'UPSTREAM_PROTOCOL'): typeof PARSE_ERROR {
    this.#state = ST_ERROR;
    this.#errorCode = code;
    this.#errorMessage = message;
    return PARSE_ERROR;
  }

  #overLimit(isChunkLine: boolean): typeof PARSE_ERROR {
    if (isChunkLine) return this.#fail('chunk-size line longer than maxResponseHeadBytes');
    const what = this.#state === ST_TRAILER ? 'trailer section' : 'response head';
    return this.#fail(`${what} exceeds ${this.#maxHeadBytes} bytes`, 'UPSTREAM_HEADERS_TOO_LARGE');
  }

  /** `HTTP/1.x NNN[ reason]` over [s, e) (CRLF excluded). */
  #parseStatusLine(buf: Buffer, s: number, e: number): boolean {
    if (
      e - s < 12 ||
      buf[s] !== 0x48 || buf[s + 1] !== 0x54 || buf[s + 2] !== 0x54 || buf[s + 3] !== 0x50 ||
      buf[s + 4] !== 0x2f || buf[s + 6] !== 0x2e || buf[s + 8] !== SP
    ) {
      this.#fail('malformed status line');
      return false;
    }
    const minor = buf[s + 7] - 0x30;
    if (buf[s + 5] !== 0x31 || (minor !== 0 && minor !== 1)) {
      this.#fail('unsupported HTTP version in status line');
      return false;
    }
    const d0 = buf[s + 9] - 0x30;
    const d1 = buf[s + 10] - 0x30;
    const d2 = buf[s + 11] - 0x30;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.#fail('invalid status code');
      return false;
    }
    this.#versionMinor = minor;
    this.#statusCode = d0 * 100 + d1 * 10 + d2;
    if (e === s + 12) {
      this.#statusMessage = '';
      return true;
    }
    if (buf[s + 12] !== SP) {
      this.#fail('malformed status line');
      return false;
    }
    for (let i = s + 13; i < e; i++) {
      if (VALUE_OK[buf[i]] === 0) {
        this.#fail('invalid byte in reason phrase');
        return false;
      }
    }
    this.#statusMessage =
      e - s === 15 && buf[s + 13] === 0x4f && buf[s + 14] === 0x4b ? 'OK' : decode(buf, s + 13, e);
    return true;
  }

  /** `name: value` over [s, e) (CRLF excluded); into headers, or trailers in ST_TRAILER. */
  #parseFieldLine(buf: Buffer, s: number, e: number): boolean {
    const first = buf[s];
    if (first === SP || first === HTAB) {
      this.#fail('obs-fold continuation line');
      return false;
    }
    const stop = this.#scanField(buf, s, e);
    if (stop < 0) {
      this.#fail('invalid header field name');
      return false;
    }
    if (stop !== e) {
      this.#fail('invalid byte in header field value');
      return false;
    }
    return this.#addField(buf, s, this.#nameEnd, this.#valueStart, this.#valueEnd, e + 2);
  }

  /**
   * The common case of a head line, in one pass: a whole, valid `name: value CRLF` at `s` in
   * ST_HEADER, within the limit. Returns the offset after its LF, or -1 for anything else
   * (the empty line, a line cut by the read, an invalid line, the limit): the general path
   * (find the LF, then #parseFieldLine) handles and reports those, having committed nothing.
   * FAST_FAILED: the line was valid but its framing field was not (the parser is in error).
   */
  #fastFieldLine(buf: Buffer, s: number, end: number): number {
    // VALUE_OK excludes CR and LF: a valid value stops at its line's CR.
    const i = this.#scanField(buf, s, end);
    if (i < 0 || i + 1 >= end || buf[i] !== CR || buf[i + 1] !== LF) return -1;
    const next = i + 2;
    if (this.#sectionBytes + (next - s) > this.#maxHeadBytes) return -1;
    this.#sectionBytes += next - s;
    return this.#addField(buf, s, this.#nameEnd, this.#valueStart, this.#valueEnd, next) ? next : FAST_FAILED;
  }

  /**
   * `token ":" OWS value` from `s`, looking no further than `end`: -1 when the name is empty
   * or not followed by a colon, else where the value stopped (`end`, or the first byte that
   * may not be in a value) with #nameEnd, #valueStart and #valueEnd (trailing OWS excluded) set.
   */
  #scanField(buf: Buffer, s: number, end: number): number {
    let i = s;
    while (i < end && TCHAR[buf[i]] === 1) i++;
    if (i === s || i === end || buf[i] !== COLON) return -1;
    this.#nameEnd = i;
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    let valueEnd = i;
    let bits = 0;
    for (; i < end; i++) {
      const c = buf[i];
      if (VALUE_OK[c] === 0) break;
      bits |= c;
      if (c !== SP && c !== HTAB) valueEnd = i + 1;
    }
    this.#valueStart = valueStart;
    this.#valueEnd = valueEnd;
    this.#valueBits |= bits;
    this.#lineBits = bits;
    return i;
  }

  /**
   * The status line at `s` when its bytes are the last status line's: the offset after its LF,
   * with the code, version and reason it gave; else -1.
   */
  #rememberedStatusLine(buf: Buffer, s: number, end: number): number {
    const line = this.#statusLine;
    if (line === null) return -1;
    const n = line.length;
    if (end - s < n || !equalsWords(this.#view, s, n, this.#statusLineWords)) return -1;
    if (this.#sectionBytes + n > this.#maxHeadBytes) return -1;
    this.#sectionBytes += n;
    this.#statusCode = this.#statusLineCode;
    this.#versionMinor = this.#statusLineMinor;
    this.#statusMessage = this.#statusLineMessage;
    return s + n;
  }

  /** Keep the status line [s, next) just parsed, for #rememberedStatusLine. */
  #rememberStatusLine(buf: Buffer, s: number, next: number): void {
    if (next - s > MAX_REMEMBERED_LINE_BYTES) return;
    this.#statusLine = new Uint8Array(buf.subarray(s, next));
    this.#statusLineWords = wordsOf(this.#statusLine);
    this.#statusLineCode = this.#statusCode;
    this.#statusLineMinor = this.#versionMinor;
    this.#statusLineMessage = this.#statusMessage;
  }

  /**
   * The field line at `s` when its bytes are those of the line remembered at this position:
   * the offset after its LF, the field added and its framing applied; -1 when it is another
   * line (or not whole in the buffer, or over the limit: the general path reports that);
   * FAST_FAILED when its framing conflicts with the head's earlier lines.
   */
  #rememberedLine(buf: Buffer, s: number, end: number): number {
    const k = this.#lineIndex;
    const lines = this.#lines;
    if (k >= lines.length) return -1;
    const line = lines[k];
    const bytes = line.bytes;
    const n = bytes.length;
    if (n === 0 || end - s < n || !equalsWords(this.#view, s, n, line.words)) return -1;
    if (this.#sectionBytes + n > this.#maxHeadBytes) return -1;
    this.#sectionBytes += n;
    this.#lineIndex = k + 1;
    this.#valueBits |= line.bits;
    if (this.#headers !== NO_HEADERS) {
      this.#headers.push(line.name, line.value);
      this.#headerBytes.push(line.nameBytes, line.valueBytes);
    }
    return this.#frame(line.framing, line.facts, buf, s + line.valueStart, s + line.valueEnd) ? s + n : FAST_FAILED;
  }

  /** The field of the line [s, lineEnd) (CRLF included), its parts found by #scanField. */
  #addField(buf: Buffer, s: number, nameEnd: number, valueStart: number, valueEnd: number, lineEnd: number): boolean {
    const known = knownName(buf, s, nameEnd);
    const name = known === undefined ? decode(buf, s, nameEnd) : known.name;
    const value = decode(buf, valueStart, valueEnd);
    if (this.#state === ST_TRAILER) {
      (this.#trailers ??= []).push(name, value);
      return true;
    }
    if (this.#headers === NO_HEADERS) this.#takeRecords();
    this.#headers.push(name, value);
    this.#headerBytes.push(known === undefined ? null : known.nameBytes, null);
    const framing = known === undefined ? framingOf(buf, s, nameEnd) : known.framing;
    const facts = framingFacts(framing, buf, valueStart, valueEnd);
    if (!this.#frame(framing, facts, buf, valueStart, valueEnd)) return false;
    this.#rememberLine(buf, s, lineEnd, name, value, known, framing, facts, valueStart, valueEnd);
    return true;
  }

  /** Keep the field line [s, lineEnd) just added at its position, for #rememberedLine. */
  #rememberLine(buf: Buffer, s: number, lineEnd: number, name: string, value: string, known: KnownName | undefined,
    framing: number, facts: number, valueStart: number, valueEnd: number): void {
    const k = this.#lineIndex++;
    if (k >= MAX_REMEMBERED_LINES) return;
    const lines = this.#lines;
    let line: LineRecord = NO_LINE;
    // A field line has at least 4 bytes (`x:` CRLF), as wordsOf needs.
    if (lineEnd - s <= MAX_REMEMBERED_LINE_BYTES) {
      const bytes = new Uint8Array(buf.subarray(s, lineEnd));
      line = {
        bytes, words: wordsOf(bytes), name, value,
        nameBytes: known?.nameBytes ?? bytes.subarray(0, name.length),
        valueBytes: bytes.subarray(valueStart - s, valueEnd - s),
        framing, facts: framing === FR_NONE ? 0 : facts,
        valueStart: valueStart - s, valueEnd: valueEnd - s, bits: this.#lineBits,
      };
    }
    if (k < lines.length) {
      lines[k] = line;
      this.#recorded = null;
    } else {
      lines.push(line);
    }
  }

  /** The fields of the head's lines so far, all remembered lines, into fresh arrays. */
  #takeRecords(): void {
    const headers: string[] = [];
    const bytes: Array<Uint8Array | null> = [];
    for (let k = 0; k < this.#lineIndex; k++) {
      const line = this.#lines[k];
      headers.push(line.name, line.value);
      bytes.push(line.nameBytes, line.valueBytes);
    }
    this.#headers = headers;
    this.#headerBytes = bytes;
  }

  /** Apply a field's framing (FR_*, with what its value said) to the head's framing facts. */
  #frame(framing: number, facts: number, buf: Buffer, vs: number, ve: number): boolean {
    switch (framing) {
      case FR_CONTENT_LENGTH:
        return facts < 0 ? this.#failContentLength() : this.#noteContentLength(facts);
      case FR_CONNECTION:
        this.#noteConnection(facts);
        return true;
      case FR_TRANSFER_ENCODING:
        return this.#noteTransferEncoding(buf, vs, ve);
      default:
        return true;
    }
  }

  /** A valid Content-Length value `n`: it must agree with any earlier one. */
  #noteContentLength(n: number): boolean {
    if (this.#contentLength >= 0 && this.#contentLength !== n) {
      this.#fail('conflicting Content-Length values');
      return false;
    }
    this.#contentLength = n;
    return true;
  }

  #failContentLength(): false {
    this.#fail('invalid Content-Length');
    return false;
  }

  /**
   * Transfer codings, in order over all Transfer-Encoding lines. Chunked framing applies when
   * chunked is the last coding; chunked applied twice is invalid (RFC 9112 §6.1).
   */
  #noteTransferEncoding(buf: Buffer, vs: number, ve: number): boolean {
    this.#transferEncoding = true;
    for (let i = vs; i < ve;) {
      i = nextListElement(buf, i, ve);
      if (elementEnd === elementStart) continue;
      const chunked = equalsLower(buf, elementStart, elementEnd, LOWER_CHUNKED);
      if (chunked && ++this.#chunkedCount > 1) {
        this.#fail('chunked transfer coding applied twice');
        return false;
      }
      this.#chunkedLast = chunked;
    }
    return true;
  }

  /** CONN_* options of a Connection field (connectionOptions). */
  #noteConnection(options: number): void {
    if ((options & CONN_CLOSE) !== 0) this.#connectionClose = true;
    if ((options & CONN_KEEP_ALIVE) !== 0) this.#connectionKeepAlive = true;
  }

  /**
   * The head's empty line was read. Returns PARSE_HEAD for a final head, PARSE_NEED_MORE
   * (meaning "continue") after skipping an interim 1xx head, or PARSE_ERROR.
   */
  #finishHead(): ParseEvent {
    const status = this.#statusCode;
    if (status < 200) {
      // 101 would switch protocols, which needs a tunnel this client does not offer.
      if (status === 101) return this.#fail('unexpected 101 Switching Protocols');
      this.#resetHead();
      this.#state = ST_STATUS;
      return PARSE_NEED_MORE;
    }
    if (this.#transferEncoding && this.#contentLength >= 0) {
      return this.#fail('both Content-Length and Transfer-Encoding');
    }
    // HTTP/1.1 persists unless told otherwise; HTTP/1.0 only when asked to. An HTTP/1.0
    // message with Transfer-Encoding has faulty framing: read it, then close (RFC 9112 §6.1).
    let keepAlive = this.#versionMinor === 1
      ? !this.#connectionClose
      : this.#connectionKeepAlive && !this.#connectionClose && !this.#transferEncoding;
    this.#sectionBytes = 0;
    const noBody = this.#isHeadRequest || status === 204 || status === 304;
    if (noBody) {
      this.#state = ST_DONE;
    } else if (this.#transferEncoding) {
      if (this.#chunkedLast) {
        this.#state = ST_CHUNK_SIZE;
      } else {
        this.#state = ST_BODY_EOF;
        keepAlive = false;
      }
    } else if (this.#contentLength >= 0) {
      this.#remaining = this.#contentLength;
      this.#state = this.#contentLength === 0 ? ST_DONE : ST_BODY_LENGTH;
    } else {
      this.#state = ST_BODY_EOF;
      keepAlive = false;
    }
    this.#hasBody = !noBody;
    this.#keepAlive = keepAlive;
    if (this.#headers === NO_HEADERS) {
      const recorded = this.#recorded;
      if (recorded !== null && recorded.headers.length === 2 * this.#lineIndex) {
        this.#headers = recorded.headers;
        this.#headerBytes = recorded.bytes;
      } else {
        this.#takeRecords();
        this.#recorded = { headers: this.#headers, bytes: this.#headerBytes };
      }
    }
    return PARSE_HEAD;
  }

  /** `1*HEXDIG [BWS ; chunk-ext]` over [s, e). Moves to chunk data, or to trailers on 0. */
  #parseChunkSize(buf: Buffer, s: number, e: number): boolean {
    let i = s;
    let size = 0;
    while (i < e) {
      const h = HEX[buf[i]];
      if (h === 255) break;
      size = size * 16 + h;
      if (size > MAX_CHUNK_SIZE) {
        this.#fail('chunk size too large');
        return false;
      }
      i++;
    }
    if (i === s) {
      this.#fail('invalid chunk size');
      return false;
    }
    while (i < e && (buf[i] === SP || buf[i] === HTAB)) i++;
    if (i < e) {
      if (buf[i] !== SEMICOLON) {
        this.#fail('invalid chunk size');
        return false;
      }
      for (i++; i < e; i++) {
        if (VALUE_OK[buf[i]] === 0) {
          this.#fail('invalid byte in chunk extension');
          return false;
        }
      }
    }
    this.#sectionBytes = 0;
    if (size === 0) {
      this.#state = ST_TRAILER;
    } else {
      this.#remaining = size;
      this.#state = ST_CHUNK_DATA;
    }
    return true;
  }
}
