import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PARSE_BODY,
  PARSE_COMPLETE,
  PARSE_ERROR,
  PARSE_HEAD,
  PARSE_NEED_MORE,
  ResponseParser,
} from '../../src/forwarder/response-parser.js';

interface Parsed {
  status?: number;
  reason?: string;
  headers?: string[];
  hasBody?: boolean;
  keepAlive?: boolean;
  body: string;
  trailers?: string[] | null;
  complete: boolean;
  error?: string;
  /** Bytes after the end of the message. */
  leftover: number;
  headerBytes?: ReadonlyArray<Uint8Array | null>;
  ascii?: boolean;
  contentLength?: number;
}

/**
 * Feeds `pieces` to a parser the way the connection does: unconsumed bytes are carried and
 * passed again in front of the next piece (the parser's carry invariant).
 */
function parsePieces(pieces: Buffer[], isHead = false, maxHead = 64 * 1024, parser = new ResponseParser(maxHead)): Parsed {
  parser.start(isHead);
  const out: Parsed = { body: '', complete: false, leftover: 0 };
  let carry = Buffer.alloc(0);
  for (const piece of pieces) {
    const buf = Buffer.concat([carry, piece]);
    let off = 0;
    for (;;) {
      const ev = parser.execute(buf, off, buf.length);
      off = parser.offset;
      if (ev === PARSE_NEED_MORE) break;
      if (ev === PARSE_HEAD) {
        Object.assign(out, {
          status: parser.statusCode, reason: parser.statusMessage, headers: parser.headers,
          hasBody: parser.hasBody, keepAlive: parser.keepAlive, headerBytes: parser.headerBytes,
          ascii: parser.headersAscii, contentLength: parser.contentLength,
        });
      } else if (ev === PARSE_BODY) {
        out.body += buf.toString('latin1', parser.bodyStart, parser.bodyEnd);
      } else if (ev === PARSE_COMPLETE) {
        out.complete = true;
        out.trailers = parser.trailers;
        out.leftover = buf.length - off;
        return out;
      } else if (ev === PARSE_ERROR) {
        out.error = `${parser.errorCode}: ${parser.errorMessage}`;
        return out;
      }
    }
    carry = buf.subarray(off);
  }
  if (parser.finishAtEof()) out.complete = true;
  return out;
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(prev, p));
    prev = p;
  }
  pieces.push(bytes.subarray(prev));
  return pieces;
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const fieldValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
const bodyText = fc.string({ maxLength: 40 });

/** A random valid chunked response and what parsing it must yield. */
const chunkedResponse = fc.record({
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  headers: fc.array(fc.tuple(token, fieldValue), { maxLength: 6 }),
  chunks: fc.array(fc.tuple(bodyText.filter((s) => s.length > 0), fc.option(token)), { maxLength: 6 }),
  trailers: fc.array(fc.tuple(token, fieldValue), { maxLength: 3 }),
}).map(({ status, headers, chunks, trailers }) => {
  const safeHeaders = headers.filter(([n]) => !/^(content-length|transfer-encoding|connection)$/i.test(n));
  let text = `HTTP/1.1 ${status} Reason Here\r\n`;
  for (const [n, v] of safeHeaders) text += `${n}: ${v}\r\n`;
  text += 'Transfer-Encoding: chunked\r\n\r\n';
  let body = '';
  for (const [data, ext] of chunks) {
    const bytes = Buffer.from(data, 'latin1');
    text += `${bytes.length.toString(16)}${ext === null ? '' : `;${ext}`}\r\n`;
    text += `${bytes.toString('latin1')}\r\n`;
    body += bytes.toString('latin1');
  }
  text += '0\r\n';
  for (const [n, v] of trailers) text += `${n}: ${v}\r\n`;
  text += '\r\n';
  return {
    bytes: Buffer.from(text, 'latin1'),
    status,
    headers: [...safeHeaders.flat(), 'Transfer-Encoding', 'chunked'],
    body,
    trailers: trailers.length === 0 ? null : trailers.flat(),
  };
});

describe('ResponseParser', () => {
  it('execute_yieldsSameMessage_whateverTheReadBoundaries', () => {
    fc.assert(fc.property(chunkedResponse, fc.array(fc.nat(), { maxLength: 12 }), (msg, cuts) => {
      const parsed = parsePieces(splitAt(msg.bytes, cuts));
      expect(parsed.error).toBeUndefined();
      expect(parsed.complete).toBe(true);
      expect(parsed.status).toBe(msg.status);
      expect(parsed.headers).toEqual(msg.headers);
      expect(parsed.body).toBe(msg.body);
      expect(parsed.trailers).toEqual(msg.trailers);
      expect(parsed.leftover).toBe(0);
    }), { numRuns: 500 });
  });

  it('execute_yieldsSameError_whateverTheReadBoundaries', () => {
    const bad = Buffer.from('HTTP/1.1 200 OK\r\nX-A: ok\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4x\r\n');
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
      expect(parsePieces(splitAt(bad, cuts)).error).toBe('UPSTREAM_PROTOCOL: invalid chunk size');
    }), { numRuns: 200 });
  });

  it('execute_countsHeadLimitAcrossReads', () => {
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'v'.repeat(100)}\r\nContent-Length: 0\r\n\r\n`);
    const oneByteReads = [...head].map((b) => Buffer.from([b]));
    expect(parsePieces(oneByteReads, false, head.length).complete).toBe(true);
    expect(parsePieces(oneByteReads, false, head.length - 1).error).toMatch(/^UPSTREAM_HEADERS_TOO_LARGE/);
  });

  it('execute_appliesHeadLimitToTrailers', () => {
    const msg = Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'t'.repeat(200)}\r\n\r\n`);
    expect(parsePieces([msg], false, 100).error).toMatch(/^UPSTREAM_HEADERS_TOO_LARGE: trailer/);
  });

  it('execute_reportsBytesAfterCompleteMessage_asLeftover', () => {
    const parsed = parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA')]);
    expect(parsed.body).toBe('x');
    expect(parsed.leftover).toBe(5);
  });

  it('execute_derivesKeepAliveFromVersionAndConnectionHeader', () => {
    const keepAlive = (head: string) =>
      parsePieces([Buffer.from(`${head}Content-Length: 0\r\n\r\n`)]).keepAlive;
    expect(keepAlive('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(keepAlive('HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n')).toBe(false);
    expect(keepAlive('HTTP/1.1 200 OK\r\nConnection: closed\r\n')).toBe(true);
    expect(keepAlive('HTTP/1.0 200 OK\r\n')).toBe(false);
    expect(keepAlive('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n')).toBe(true);
  });

  it('execute_returnsKnownHeaderNamesAndRawSpellingsAlike', () => {
    const parsed = parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: a\r\nCONTENT-TYPE: b\r\ncontent-type: c\r\nContent-Length: 0\r\n\r\n')]);
    expect(parsed.headers).toEqual(['Content-Type', 'a', 'CONTENT-TYPE', 'b', 'content-type', 'c', 'Content-Length', '0']);
  });

  it('execute_trimsOptionalWhitespaceAroundValues_andKeepsEmptyValues', () => {
    const parsed = parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-Empty:\r\nX-Spaces:   \r\nContent-Length: 0\r\n\r\n')]);
    expect(parsed.headers).toEqual(['X-A', 'a b', 'X-Empty', '', 'X-Spaces', '', 'Content-Length', '0']);
  });

  it('finishAtEof_completesOnlyBodiesDelimitedByClose', () => {
    expect(parsePieces([Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc')]).complete).toBe(true);
    expect(parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc')]).complete).toBe(false);
    expect(parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')]).complete).toBe(false);
  });

  it('execute_givesEachResponseItsOwnValues_whenKnownHeadersRepeatWithOtherBytes', () => {
    // One parser per sequence, as per connection: it remembers the lines of earlier heads and
    // reuses their strings when the bytes repeat. Values of equal length that differ late, and
    // lines longer than what it keeps, must still come out as sent, across read boundaries.
    const name = fc.constantFrom('Date', 'Server', 'Content-Type', 'ETag', 'x-powered-by', 'Set-Cookie');
    const value = fc.oneof(
      fc.constantFrom('Sun, 29 Nov 2026 03:20:00 GMT', 'Sun, 29 Nov 2026 03:20:01 GMT', 'nginx', 'nginy', ''),
      fc.stringMatching(/^[\x21-\x7e]{1,3}$/),
      fc.stringMatching(/^[\x21-\x7e]{60,70}$/),
    );
    const response = fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 5 });
    fc.assert(fc.property(fc.array(fc.tuple(response, fc.array(fc.nat(), { maxLength: 4 })), { minLength: 2, maxLength: 6 }), (responses) => {
      const parser = new ResponseParser(64 * 1024);
      for (const [fields, cuts] of responses) {
        const text = `HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
        const parsed = parsePieces(splitAt(Buffer.from(text, 'latin1'), cuts), false, 64 * 1024, parser);
        expect(parsed.error).toBeUndefined();
        expect(parsed.headers).toEqual([...fields.flat(), 'Content-Length', '0']);
      }
    }), { numRuns: 300 });
  });

  it('execute_framesEachResponseByItsOwnFields_whenContentLengthAndConnectionValuesRepeat', () => {
    // A sequence of responses where Content-Length and Connection values repeat, change,
    // conflict or are invalid must frame exactly as this model of RFC 9112 says, response by
    // response (a connection's remembered lines: the differential test below).
    const line = fc.oneof(
      fc.tuple(fc.constantFrom('Content-Length', 'content-length'), fc.constantFrom('0', '5', '12', '0005', '1x', '', '1234567890123456')),
      fc.tuple(fc.constantFrom('Connection', 'connection'), fc.constantFrom('keep-alive', 'close', 'Keep-Alive', 'keep-alive, close', 'closed', 'Upgrade')),
    );
    const response = fc.record({
      minor: fc.constantFrom(0, 1),
      lines: fc.array(line, { minLength: 1, maxLength: 4 }).filter((ls) => ls.some(([n]) => n.toLowerCase() === 'content-length')),
    });
    fc.assert(fc.property(fc.array(response, { minLength: 2, maxLength: 8 }), (responses) => {
      for (const { minor, lines } of responses) {
        let length = -1;
        let error: string | undefined;
        let close = false;
        let keepAlive = false;
        for (const [name, value] of lines) {
          if (error !== undefined) break;
          if (name.toLowerCase() === 'connection') {
            const tokens = value.split(',').map((t) => t.trim().toLowerCase());
            close ||= tokens.includes('close');
            keepAlive ||= tokens.includes('keep-alive');
          } else if (!/^\d{1,15}$/.test(value)) {
            error = 'UPSTREAM_PROTOCOL: invalid Content-Length';
          } else if (length >= 0 && length !== Number(value)) {
            error = 'UPSTREAM_PROTOCOL: conflicting Content-Length values';
          } else {
            length = Number(value);
          }
        }
        const body = error === undefined ? 'x'.repeat(length) : '';
        const text = `HTTP/1.${minor} 200 OK\r\n${lines.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${body}`;
        const parsed = parsePieces([Buffer.from(text, 'latin1')]);
        expect(parsed.error).toBe(error);
        if (error !== undefined) continue;
        expect(parsed.complete).toBe(true);
        expect(parsed.body).toBe(body);
        expect(parsed.keepAlive).toBe(minor === 1 ? !close : keepAlive && !close);
      }
    }), { numRuns: 300 });
  });

  it('headerBytes_holdTheBytesOfTheirHeader_andKeepThemWhenLaterResponsesChangeTheValue', () => {
    // Each non-null entry is the exact bytes of the name or value at its index; arrays handed
    // out with one response must not change when a later response on the same connection (one
    // parser, which remembers lines) brings another value.
    const name = fc.constantFrom('Server', 'Content-Type', 'content-type', 'X-Other', 'ETag');
    const value = fc.oneof(
      fc.constantFrom('nginx', 'nginy', 'caf\u00e9', 'text/plain', ''),
      fc.stringMatching(/^[\x21-\x7e]{60,70}$/),
    );
    const response = fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(fc.array(response, { minLength: 2, maxLength: 6 }), (responses) => {
      const seen: Array<[ReadonlyArray<Uint8Array | null>, string[]]> = [];
      const parser = new ResponseParser(64 * 1024);
      for (const fields of responses) {
        const text = `HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
        const parsed = parsePieces([Buffer.from(text, 'latin1')], false, 64 * 1024, parser);
        expect(parsed.headerBytes!.length).toBe(parsed.headers!.length);
        seen.push([parsed.headerBytes!, parsed.headers!]);
      }
      for (const [bytes, headers] of seen) {
        bytes.forEach((b, i) => { if (b !== null) expect(Buffer.from(b).toString('latin1')).toBe(headers[i]); });
      }
      // The known names' bytes are there at all (not null everywhere).
      expect(seen.some(([bytes]) => bytes.some((b) => b !== null))).toBe(true);
    }), { numRuns: 300 });
  });

  it('execute_reportsInvalidLinesAsBefore_whenTheyFollowValidOnesInOneRead', () => {
    const error = (lines: string) => parsePieces([Buffer.from(`HTTP/1.1 200 OK\r\nServer: x\r\n${lines}\r\n`, 'latin1')]).error;
    expect(error('Content-Length: 1\r\nContent-Length: 2\r\n')).toBe('UPSTREAM_PROTOCOL: conflicting Content-Length values');
    expect(error('X-A: a\nX-B: b\r\n')).toBe('UPSTREAM_PROTOCOL: bare LF line terminator');
    expect(error('X-A: a\rb\r\n')).toBe('UPSTREAM_PROTOCOL: invalid byte in header field value');
    expect(error('X-A: a\x01\r\n')).toBe('UPSTREAM_PROTOCOL: invalid byte in header field value');
    expect(error('X A: a\r\n')).toBe('UPSTREAM_PROTOCOL: invalid header field name');
    expect(error(' folded\r\n')).toBe('UPSTREAM_PROTOCOL: obs-fold continuation line');
    expect(parsePieces([Buffer.from(`HTTP/1.1 200 OK\r\nServer: x\r\nX-Big: ${'v'.repeat(80)}\r\n\r\n`)], false, 100).error)
      .toBe('UPSTREAM_HEADERS_TOO_LARGE: response head exceeds 100 bytes');
  });

  it('headersAscii_isFalseExactlyWhenAValueHasAByteAbove0x7F', () => {
    const parser = new ResponseParser(1024);
    const ascii = (head: string) => {
      parser.start(false);
      const buf = Buffer.from(`HTTP/1.1 200 OK\r\n${head}Content-Length: 0\r\n\r\n`, 'latin1');
      expect(parser.execute(buf, 0, buf.length)).toBe(PARSE_HEAD);
      return parser.headersAscii;
    };
    expect(ascii('Server: x\r\n')).toBe(true);
    expect(ascii('Server: x\r\nX-A: caf\u00e9\r\n')).toBe(false);
    expect(ascii('Server: x\r\n')).toBe(true); // the next head starts over
    expect(ascii('X-A: \u0080\r\n')).toBe(false);
    expect(ascii('X-A: \u007f\r\n'.replace('\u007f', '~'))).toBe(true);
  });

  it('execute_parsesEachResponseAsAFreshParserWould_whenItsConnectionRemembersEarlierHeads', () => {
    // One parser per connection remembers the lines of earlier heads and takes a line whose
    // bytes repeat without reading it again. Differential: a sequence of responses on one
    // parser, cut at random read boundaries, must give exactly what a new parser gives for
    // each response alone. Lines come from a small pool so that they repeat, at the same
    // position or another; the pool has framing fields (valid, invalid, conflicting), lines
    // longer than what is remembered, obs-text, invalid lines, interim 1xx heads and a head
    // limit that some heads exceed.
    const fieldLine = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(
        'Server: nginx', 'Date: Sun, 29 Nov 2026 03:20:00 GMT', 'Date: Sun, 29 Nov 2026 03:20:01 GMT',
        'Content-Type: text/plain', 'X-Thing: caf\u00e9', 'x-thing: plain', `X-Long: ${'l'.repeat(130)}`,
        'Content-Length: 3', 'content-length: 3', 'CONTENT-LENGTH: 3', 'Transfer-Encoding: chunked',
        'Connection: close', 'Connection: keep-alive', 'CONNECTION: Keep-Alive', 'Keep-Alive: timeout=5', 'Vary:', 'Vary:  Accept  ',
      ) },
      { weight: 1, arbitrary: fc.constantFrom(
        'Content-Length: 4', 'Content-Length: 3x', 'Transfer-Encoding: gzip', 'TRANSFER-ENCODING: chunked',
        'X-Bad: a\x01b', 'X Bad: a', ' folded',
      ) },
    );
    const statusLine = fc.oneof(
      { weight: 6, arbitrary: fc.constant('HTTP/1.1 200 OK') },
      { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 204 No Content', 'HTTP/1.1 200 Fine \u00e9', 'HTTP/1.1 20x OK') },
    );
    // Each response is the one before with a few edits: lines repeat at their position, or
    // shifted by one.
    const edit = fc.tuple(fc.constantFrom('replace', 'insert', 'delete'), fc.nat(), fieldLine);
    const response = fc.record({
      interim: fc.boolean(),
      status: statusLine,
      edits: fc.array(edit, { maxLength: 2 }),
      isHead: fc.boolean(),
      cuts: fc.array(fc.nat(), { maxLength: 3 }),
    });
    const render = (interim: boolean, status: string, lines: string[]): Buffer => {
      const chunked = lines.some((l) => /^transfer-encoding: chunked$/i.test(l));
      const body = chunked ? '3\r\nabc\r\n0\r\n\r\n' : 'abc';
      return Buffer.from(`${interim ? 'HTTP/1.1 100 Continue\r\nServer: nginx\r\n\r\n' : ''}${status}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${body}`, 'latin1');
    };
    const seen = (p: Parsed) => ({ ...p, headerBytes: undefined });
    fc.assert(fc.property(fc.constantFrom(100, 200, 64 * 1024), fc.array(fieldLine, { maxLength: 6 }), fc.array(response, { minLength: 2, maxLength: 8 }), (maxHead, first, responses) => {
      const parser = new ResponseParser(maxHead);
      const lines = [...first];
      for (const { interim, status, edits, isHead, cuts } of responses) {
        for (const [kind, at, line] of edits) {
          const i = lines.length === 0 ? 0 : at % lines.length;
          if (kind === 'replace' && lines.length > 0) lines[i] = line;
          else if (kind === 'delete') lines.splice(i, 1);
          else lines.splice(i, 0, line);
        }
        const pieces = splitAt(render(interim, status, lines), cuts);
        const expected = parsePieces(pieces, isHead, maxHead);
        const actual = parsePieces(pieces, isHead, maxHead, parser);
        expect(seen(actual)).toEqual(seen(expected));
        actual.headerBytes?.forEach((b, i) => { if (b !== null) expect(Buffer.from(b).toString('latin1')).toBe(actual.headers![i]); });
        // A parser in error stays so: the connection closes; the next response gets a new one.
        if (actual.error !== undefined || !actual.complete) return;
      }
    }), { numRuns: 1000 });
  });

  it('aHeadWhoseEveryLineRepeats_handsOverTheSameArraysAgain_andAHeadWithAnotherLineFreshOnes', () => {
    // The relay's memo of the head block is found by identity when the parser hands over the
    // same arrays; they must then hold this head's fields, and a changed line must not show
    // through arrays handed over before.
    const parser = new ResponseParser(1024);
    const head = (date: string) => Buffer.from(`HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: ${date}\r\nX-Custom: one\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    const fields = (date: string) => ['Server', 'nginx', 'Date', date, 'X-Custom', 'one', 'Content-Length', '0'];
    const d1 = 'Mon, 07 Dec 2026 23:00:00 GMT';
    const d2 = 'Mon, 07 Dec 2026 23:00:01 GMT';
    parsePieces([head(d1)], false, 1024, parser);
    const second = parsePieces([head(d1)], false, 1024, parser);
    const third = parsePieces([head(d1)], false, 1024, parser);
    expect(third.headers).toBe(second.headers);
    expect(third.headerBytes).toBe(second.headerBytes);
    expect(third.headers).toEqual(fields(d1));

    const changed = parsePieces([head(d2)], false, 1024, parser);
    expect(changed.headers).not.toBe(third.headers);
    expect(changed.headers).toEqual(fields(d2));
    expect(third.headers).toEqual(fields(d1));
    // The changed line is remembered: the heads after it share again, with the new value.
    const next = parsePieces([head(d2)], false, 1024, parser);
    const after = parsePieces([head(d2)], false, 1024, parser);
    expect(after.headers).toBe(next.headers);
    expect(after.headers).toEqual(fields(d2));
    expect(after.headerBytes!.map((b) => (b === null ? null : Buffer.from(b).toString('latin1')))).toEqual(fields(d2));
    // A head with fewer of the same lines is not the longer head's arrays.
    const shorter = parsePieces([Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n', 'latin1')], true, 1024, parser);
    expect(shorter.headers).toEqual(['Server', 'nginx']);
  });

  it('headerBytes_coverEveryField_whenTheConnectionsLastHeadRepeats', () => {
    // A repeated head is taken from the remembered lines, which hold the bytes of every name
    // and value (not only the known ones): the relay then writes bytes, no strings.
    const parser = new ResponseParser(1024);
    const head = Buffer.from('HTTP/1.1 200 OK\r\nX-Custom: one\r\nServer: nginx\r\nx-other: two, three\r\nContent-Length: 0\r\n\r\n', 'latin1');
    const first = parsePieces([head], false, 1024, parser);
    expect(first.headerBytes![0]).toBeNull();
    for (let i = 0; i < 3; i++) {
      const again = parsePieces([head], false, 1024, parser);
      expect(again.headers).toEqual(['X-Custom', 'one', 'Server', 'nginx', 'x-other', 'two, three', 'Content-Length', '0']);
      expect(again.headerBytes!.map((b) => (b === null ? null : Buffer.from(b).toString('latin1')))).toEqual(again.headers);
    }
  });
});
