import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Http1Pool } from '../../src/forwarder/http1-pool.js';
import type { ForwardError } from '../../src/forwarder/types.js';
import {
  eventually,
  exchange,
  forwardRequest,
  httpServer,
  pool,
  rawServer,
  respondToEachRequest,
  sleep,
  type TestServer,
  closeAll,
} from './helpers.js';

// Every server and pool made through the helpers is closed after each test (closeAll).
let server: TestServer | null = null;
let upstream: Http1Pool | null = null;
afterEach(closeAll);

/** Serves `response` to the first request and records whether our socket was then closed. */
async function serveOnce(response: string | Buffer): Promise<{ closedByClient: () => boolean }> {
  let closed = false;
  server = await rawServer((socket) => {
    socket.once('data', () => socket.write(response));
    socket.on('close', () => { closed = true; });
  });
  return { closedByClient: () => closed };
}

describe('Http1Pool rejects invalid responses with UPSTREAM_PROTOCOL and destroys the socket', () => {
  const invalid: Array<[string, string]> = [
    ['controlCharInHeaderValue', 'HTTP/1.1 200 OK\r\nX-A: a\u0001b\r\nContent-Length: 0\r\n\r\n'],
    ['delInHeaderValue', 'HTTP/1.1 200 OK\r\nX-A: a\u007fb\r\nContent-Length: 0\r\n\r\n'],
    ['bareCrInHeaderValue', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n'],
    ['obsFoldContinuationLine', 'HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n'],
    ['spaceBeforeColon', 'HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n'],
    ['invalidByteInHeaderName', 'HTTP/1.1 200 OK\r\nX(A): a\r\nContent-Length: 0\r\n\r\n'],
    ['headerLineWithoutColon', 'HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 0\r\n\r\n'],
    ['bareLfLineEnding', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['garbageStatusLine', 'HTPT/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['http2Version', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['twoDigitStatus', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['controlCharInReason', 'HTTP/1.1 200 O\u0000K\r\nContent-Length: 0\r\n\r\n'],
    ['nonNumericContentLength', 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n'],
    ['negativeContentLength', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
    ['commaListContentLength', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok'],
    ['hugeContentLength', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n'],
    ['conflictingContentLength', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk'],
    ['contentLengthWithTransferEncoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['chunkedTwice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'],
    ['invalidChunkSize', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['negativeChunkSize', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n'],
    ['chunkSizeOverflow', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
    ['chunkSizeTrailingGarbage', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n'],
    ['chunkDataLongerThanSize', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n'],
    ['controlCharInChunkExtension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\u0001\r\nabc\r\n0\r\n\r\n'],
    ['obsFoldInTrailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n'],
    ['switchingProtocolsUnasked', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
  ];

  it.each(invalid)('request_rejects_%s', async (_name, response) => {
    const probe = await serveOnce(response);
    upstream = pool(server!.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error?.code).toBe('UPSTREAM_PROTOCOL');
    expect(out.error?.retryable).toBe(false);
    expect(out.calls.filter((c) => c === 'error')).toHaveLength(1);
    expect(out.calls).not.toContain('end');
    expect(upstream.openConnections).toBe(0);
    await eventually(probe.closedByClient);
  });
});

describe('Http1Pool limits and early closes', () => {
  it('request_failsWithHeadersTooLarge_whenHeadExceedsLimit', async () => {
    await serveOnce(`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(2000)}\r\nContent-Length: 0\r\n\r\n`);
    upstream = pool(server!.port, { maxResponseHeadBytes: 1024 });
    const out = await exchange(upstream, forwardRequest());
    expect(out.error?.code).toBe('UPSTREAM_HEADERS_TOO_LARGE');
    expect(out.error?.responseStarted).toBe(false);
    expect(upstream.openConnections).toBe(0);
  });

  it('request_failsWithHeadersTooLarge_whenHeadNeverEnds', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\n');
        const timer = setInterval(() => socket.write(`X-Filler: ${'y'.repeat(100)}\r\n`), 1);
        socket.on('close', () => clearInterval(timer));
      });
    });
    upstream = pool(server.port, { maxResponseHeadBytes: 4096 });
    const out = await exchange(upstream, forwardRequest());
    expect(out.error?.code).toBe('UPSTREAM_HEADERS_TOO_LARGE');
  });

  it('request_acceptsHeadOfExactlyTheLimit', async () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    await serveOnce(head);
    upstream = pool(server!.port, { maxResponseHeadBytes: Buffer.byteLength(head) });
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toBeUndefined();
    expect(out.status).toBe(200);
  });

  it('request_failsWithReset_whenUpstreamClosesBeforeContentLengthIsMet', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'));
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.calls).toEqual(['head', 'data', 'error']);
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', responseStarted: true, retryable: false });
    expect(upstream.openConnections).toBe(0);
  });

  it('request_failsWithReset_whenChunkedBodyIsTruncated', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'));
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.calls).not.toContain('end');
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', responseStarted: true });
  });

  it('request_failsWithReset_whenUpstreamResetsMidBody', async () => {
    server = await rawServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => setTimeout(() => socket.resetAndDestroy(), 20));
      });
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', responseStarted: true });
  });

  it('request_failsWithResetNotRetryable_whenFreshConnectionClosesBeforeResponse', async () => {
    server = await rawServer((socket) => socket.once('data', () => socket.destroy()));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', responseStarted: false, retryable: false });
    expect(server.connections).toBe(1);
  });
});

describe('Http1Pool connect failures and timeouts', () => {
  it('request_failsWithConnectFailedRetryable_whenNothingListens', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => probe.once('listening', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    upstream = pool(port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toMatchObject({ code: 'UPSTREAM_CONNECT_FAILED', retryable: true, responseStarted: false });
    expect(upstream.openConnections).toBe(0);
  });

  it('request_failsWithConnectTimeout_whenUpstreamBacklogIsFull', async () => {
    // A listener in a stopped process with a backlog of 1: once the queue is full the kernel
    // drops further SYNs, so our connect hangs — a real connect timeout, no mocks.
    const child: ChildProcess = spawn(process.execPath, ['-e',
      "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    const fillers: net.Socket[] = [];
    try {
      const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
      process.kill(child.pid!, 'SIGSTOP');
      for (let i = 0; i < 8; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => {}));
      await sleep(200);
      upstream = pool(port, { connectTimeoutMs: 300 });
      const started = Date.now();
      const out = await exchange(upstream, forwardRequest());
      const elapsed = Date.now() - started;
      expect(out.error).toMatchObject({ code: 'UPSTREAM_CONNECT_TIMEOUT', retryable: true });
      expect(elapsed).toBeGreaterThanOrEqual(300);
      expect(elapsed).toBeLessThan(1500);
      expect(upstream.openConnections).toBe(0);
    } finally {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
    }
  });

  it('request_failsWithHeadTimeout_whenUpstreamNeverAnswers', async () => {
    server = await rawServer(() => {});
    upstream = pool(server.port);
    const started = Date.now();
    const out = await exchange(upstream, forwardRequest('GET', { headTimeoutMs: 250 }));
    expect(out.error).toMatchObject({ code: 'UPSTREAM_HEAD_TIMEOUT', responseStarted: false, retryable: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(upstream.openConnections).toBe(0);
  });

  it('request_failsWithHeadTimeout_whenOnlyAnInterimResponseArrives', async () => {
    server = await rawServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 100 Continue\r\n\r\n')));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('GET', { headTimeoutMs: 200 }));
    expect(out.error?.code).toBe('UPSTREAM_HEAD_TIMEOUT');
  });

  it('request_failsWithBodyTimeout_whenUpstreamStallsMidBody', async () => {
    server = await rawServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('GET', { bodyIdleTimeoutMs: 250 }));
    expect(out.calls).toEqual(['head', 'data', 'error']);
    expect(out.error).toMatchObject({ code: 'UPSTREAM_BODY_TIMEOUT', responseStarted: true });
  });

  it('request_bodyTimeoutIsPerRead_notForTheWholeBody', async () => {
    server = await rawServer((socket) => socket.once('data', async () => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
      for (let i = 0; i < 8; i++) {
        await sleep(100);
        socket.write('x');
      }
    }));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('GET', { bodyIdleTimeoutMs: 400 }));
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('xxxxxxxx');
  });

  it('request_headTimeoutWaitsForEndBody_whileTheRequestBodyIsStreaming', async () => {
    server = await httpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('done'));
    });
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'chunked', headTimeoutMs: 150, headers: 'Transfer-Encoding: chunked\r\n' }), {
      body: async (ex) => {
        for (let i = 0; i < 5; i++) {
          ex.writeBody(Buffer.from('part'));
          await sleep(100);
        }
        ex.endBody();
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('done');
  });
});

describe('Http1Pool abort and handler failures', () => {
  it('abort_destroysSocket_andNoCallbackFollows', async () => {
    let serverSawClose = false;
    server = await rawServer((socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst'));
      socket.on('close', () => { serverSawClose = true; });
    });
    upstream = pool(server.port);
    const calls: string[] = [];
    const ex = upstream.request(forwardRequest(), {
      onHead: () => { calls.push('head'); },
      onData: () => { calls.push('data'); ex.abort(); return true; },
      onEnd: () => { calls.push('end'); },
      onError: () => { calls.push('error'); },
    });
    await eventually(() => serverSawClose);
    await sleep(50);
    expect(calls).toEqual(['head', 'data']);
    expect(upstream.openConnections).toBe(0);
  });

  it('abort_beforeConnectIsEstablished_closesQuietly', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    upstream = pool(server.port);
    const calls: string[] = [];
    const ex = upstream.request(forwardRequest(), {
      onHead: () => { calls.push('head'); },
      onData: () => { calls.push('data'); return true; },
      onEnd: () => { calls.push('end'); },
      onError: () => { calls.push('error'); },
    });
    ex.abort();
    ex.abort();
    await sleep(100);
    expect(calls).toEqual([]);
    expect(upstream.openConnections).toBe(0);
  });

  it('request_whenOnDataThrows_endsWithAbortedError_andPoolStaysUsable', async () => {
    server = await httpServer((req, res) => res.end('payload'));
    upstream = pool(server.port);
    const failed = await exchange(upstream, forwardRequest(), { onData: () => { throw new Error('boom'); } });
    expect(failed.error).toMatchObject({ code: 'UPSTREAM_ABORTED', responseStarted: true });
    expect(failed.error?.message).toContain('boom');
    expect(failed.calls).toEqual(['head', 'data', 'error']);
    expect(upstream.openConnections).toBe(0);
    const ok = await exchange(upstream, forwardRequest());
    expect(ok.body.toString()).toBe('payload');
  });

  it('request_whenOnHeadThrows_endsWithAbortedError_andNoDataFollows', async () => {
    server = await httpServer((req, res) => res.end('payload'));
    upstream = pool(server.port);
    const calls: string[] = [];
    const error = await new Promise<ForwardError>((resolve) => {
      upstream!.request(forwardRequest(), {
        onHead: () => { calls.push('head'); throw new Error('bad head handler'); },
        onData: () => { calls.push('data'); return true; },
        onEnd: () => { calls.push('end'); },
        onError: (e) => { calls.push('error'); resolve(e); },
      });
    });
    await sleep(20);
    expect(calls).toEqual(['head', 'error']);
    expect(error).toMatchObject({ code: 'UPSTREAM_ABORTED', responseStarted: true });
    expect(upstream.openConnections).toBe(0);
    expect((await exchange(upstream, forwardRequest())).body.toString()).toBe('payload');
  });

  it('request_whenOnEndThrows_connectionIsStillReused', async () => {
    server = await httpServer((req, res) => res.end('payload'));
    upstream = pool(server.port);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      await new Promise<void>((resolve) => {
        upstream!.request(forwardRequest(), {
          onHead: () => {},
          onData: () => true,
          onEnd: () => { setImmediate(resolve); throw new Error('late bug'); },
          onError: () => { throw new Error('must not be called'); },
        });
      });
      const ok = await exchange(upstream, forwardRequest());
      expect(ok.body.toString()).toBe('payload');
      expect(server.connections).toBe(1);
      await eventually(() => warnings.some((w) => w.message === 'late bug'));
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('request_afterClose_failsAsynchronously_andIdleConnectionsAreClosed', async () => {
    server = await httpServer((req, res) => res.end('x'));
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    expect(upstream.openConnections).toBe(1);
    upstream.close();
    expect(upstream.openConnections).toBe(0);
    let synchronous = true;
    const out = exchange(upstream, forwardRequest());
    synchronous = false;
    const result = await out;
    expect(synchronous).toBe(false);
    expect(result.error?.code).toBe('UPSTREAM_CONNECT_FAILED');
  });

  it('close_letsInFlightExchangesFinish_thenClosesTheirConnections', async () => {
    server = await rawServer((socket) => socket.once('data', async () => {
      await sleep(100);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
    }));
    upstream = pool(server.port);
    const pending = exchange(upstream, forwardRequest());
    await sleep(20);
    upstream.close();
    const out = await pending;
    expect(out.body.toString()).toBe('done');
    expect(upstream.openConnections).toBe(0);
  });
});
