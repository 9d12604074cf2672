import { afterEach, describe, expect, it } from 'vitest';
import type { Http1Pool } from '../../src/forwarder/http1-pool.js';
import {
  exchange,
  forwardRequest,
  httpServer,
  pool,
  rawServer,
  respondToEachRequest,
  type TestServer,
  closeAll,
} from './helpers.js';

// Every server and pool made through the helpers is closed after each test (closeAll).
let server: TestServer | null = null;
let upstream: Http1Pool | null = null;
afterEach(closeAll);

describe('Http1Pool response framing', () => {
  it('request_deliversContentLengthBody_andHeadersAsReceived', async () => {
    server = await httpServer((req, res) => {
      res.setHeader('X-Mixed-Case', 'Value  with  spaces');
      res.end('hello world');
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.calls).toEqual(['head', 'data', 'end']);
    expect(out.status).toBe(200);
    expect(out.statusMessage).toBe('OK');
    expect(out.hasBody).toBe(true);
    expect(out.body.toString()).toBe('hello world');
    expect(out.trailers).toBeNull();
    const h = out.headers!;
    expect(h[h.indexOf('X-Mixed-Case') + 1]).toBe('Value  with  spaces');
    expect(h[h.indexOf('Content-Length') + 1]).toBe('11');
  });

  it('request_deliversChunkedBody_withExtensionsAndTrailers', async () => {
    server = await rawServer(respondToEachRequest(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
      '5;name=value;flag\r\nhello\r\n' +
      '1 ; ext="quoted ; value"\r\n \r\n' +
      '5\r\nworld\r\n' +
      '0;last\r\nX-Checksum: abc123\r\nX-Other:  two \r\n\r\n',
    ));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('hello world');
    expect(out.trailers).toEqual(['X-Checksum', 'abc123', 'X-Other', 'two']);
    expect(out.calls.at(-1)).toBe('end');
    // A clean chunked exchange leaves the connection reusable.
    const again = await exchange(upstream, forwardRequest());
    expect(again.body.toString()).toBe('hello world');
    expect(server.connections).toBe(1);
  });

  it('request_deliversChunkedBodyFromNodeHttp_withTrailers', async () => {
    server = await httpServer((req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked', Trailer: 'X-Done' });
      res.write('a'.repeat(100_000));
      res.write('b');
      res.addTrailers({ 'X-Done': 'yes' });
      res.end();
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.body.length).toBe(100_001);
    expect(out.trailers).toEqual(['X-Done', 'yes']);
  });

  it('request_deliversBodyDelimitedByClose_andDoesNotReuseConnection', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'));
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.calls).toEqual(['head', 'data', 'end']);
    expect(out.body.toString()).toBe('until the end');
    expect(upstream.openConnections).toBe(0);
  });

  it('request_treatsTransferEncodingWithoutFinalChunked_asBodyUntilClose', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw-bytes'));
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.body.toString()).toBe('raw-bytes');
    expect(upstream.openConnections).toBe(0);
  });

  it('request_skips100Continue_andDeliversFinalResponse', async () => {
    server = await rawServer(respondToEachRequest(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    ));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'length', headers: 'Content-Length: 0\r\n' }), {
      body: (ex) => ex.endBody(),
    });
    expect(out.calls).toEqual(['head', 'data', 'end']);
    expect(out.status).toBe(201);
    expect(out.statusMessage).toBe('Created');
    expect(out.body.toString()).toBe('ok');
  });

  it('request_skips103EarlyHints_inSeparateWrites_andDeliversFinalResponse', async () => {
    server = await rawServer((socket) => {
      socket.once('data', async () => {
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
        await new Promise((r) => setTimeout(r, 20));
        socket.write('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
      });
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.status).toBe(200);
    expect(out.headers).toEqual(['Content-Length', '3']);
    expect(out.body.toString()).toBe('abc');
  });

  it('request_headResponse_hasNoBodyDespiteContentLength_andConnectionStaysReusable', async () => {
    server = await rawServer(respondToEachRequest((n) => n === 0
      ? 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'
      : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
    upstream = pool(server.port);
    const head = await exchange(upstream, forwardRequest('HEAD'));
    expect(head.calls).toEqual(['head', 'end']);
    expect(head.hasBody).toBe(false);
    const get = await exchange(upstream, forwardRequest());
    expect(get.body.toString()).toBe('hi');
    expect(server.connections).toBe(1);
  });

  it.each([204, 304])('request_%iResponse_hasNoBodyDespiteContentLength_andConnectionStaysReusable', async (status) => {
    server = await rawServer(respondToEachRequest((n) => n === 0
      ? `HTTP/1.1 ${status} Whatever\r\nContent-Length: 10\r\n\r\n`
      : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
    upstream = pool(server.port);
    const first = await exchange(upstream, forwardRequest());
    expect(first.status).toBe(status);
    expect(first.calls).toEqual(['head', 'end']);
    expect(first.hasBody).toBe(false);
    const second = await exchange(upstream, forwardRequest());
    expect(second.body.toString()).toBe('hi');
    expect(server.connections).toBe(1);
  });

  it('request_acceptsStatusLineWithoutReason_andZeroLengthBody', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.statusMessage).toBe('');
    expect(out.calls).toEqual(['head', 'end']);
    expect(out.hasBody).toBe(true);
  });

  it('request_acceptsIdenticalDuplicateContentLength', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok'));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.body.toString()).toBe('ok');
  });

  it('request_decodesHeaderValuesAsLatin1', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => {
        socket.write(Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nX-Bytes: caf'),
          Buffer.from([0xe9, 0xff]),
          Buffer.from('\r\nContent-Length: 0\r\n\r\n'),
        ]));
      });
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.headers![1]).toBe('caf\u00e9\u00ff');
  });

  it('request_parsesResponseHeadArrivingOneByteAtATime', async () => {
    const response = 'HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n';
    server = await rawServer((socket) => {
      socket.setNoDelay(true);
      socket.once('data', async () => {
        for (const ch of response) {
          socket.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toBeUndefined();
    expect(out.headers).toEqual(['X-A', '1', 'Transfer-Encoding', 'chunked']);
    expect(out.body.toString()).toBe('abc');
    expect(out.trailers).toEqual(['X-T', '1']);
  });
});
