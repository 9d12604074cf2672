import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Http1Pool } from '../../src/forwarder/http1-pool.js';
import type { Exchange } from '../../src/forwarder/types.js';
import {
  eventually,
  exchange,
  forwardRequest,
  httpServer,
  pool,
  rawServer,
  sleep,
  type TestServer,
  closeAll,
} from './helpers.js';

// Every server and pool made through the helpers is closed after each test (closeAll).
let server: TestServer | null = null;
let upstream: Http1Pool | null = null;
afterEach(closeAll);

const MiB = 1024 * 1024;

/** Writes `total` bytes of body on `socket`, honouring its backpressure; returns a progress probe. */
function streamBody(socket: net.Socket, total: number, chunked: boolean): { written: () => number } {
  const block = Buffer.alloc(64 * 1024, 'z');
  let written = 0;
  const pump = (): void => {
    while (written < total) {
      const n = Math.min(block.length, total - written);
      written += n;
      const piece = n === block.length ? block : block.subarray(0, n);
      if (chunked) {
        socket.write(`${n.toString(16)}\r\n`);
        socket.write(piece);
      }
      const ok = socket.write(chunked ? '\r\n' : piece);
      if (!ok) {
        socket.once('drain', pump);
        return;
      }
    }
    if (chunked) socket.write('0\r\n\r\n');
  };
  socket.write(chunked
    ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
    : `HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
  pump();
  return { written: () => written };
}

describe('Http1Pool response backpressure', () => {
  it('onDataReturningFalse_stopsReadingUntilResume', async () => {
    const total = 64 * MiB;
    let progress: { written: () => number } | null = null;
    server = await rawServer((socket) => socket.once('data', () => { progress = streamBody(socket, total, false); }));
    upstream = pool(server.port);
    let received = 0;
    let pausedEx: Exchange | null = null;
    const pending = exchange(upstream, forwardRequest(), {
      onData: (chunk, ex) => {
        received += chunk.length;
        if (pausedEx === null) {
          pausedEx = ex;
          return false;
        }
        return true;
      },
    });
    await eventually(() => pausedEx !== null);
    const receivedAtPause = received;
    await sleep(300);
    expect(received).toBe(receivedAtPause);
    // The upstream is blocked by TCP flow control: far less than the body has left it.
    const writtenWhilePaused = progress!.written();
    await sleep(100);
    expect(progress!.written()).toBe(writtenWhilePaused);
    expect(writtenWhilePaused).toBeLessThan(total / 2);
    pausedEx!.resume();
    const out = await pending;
    expect(out.error).toBeUndefined();
    expect(received).toBe(total);
  });

  it.each([
    ['contentLength', false],
    ['chunked', true],
  ])('request_streamsHundredsOfMiB_%s_withBoundedMemory', async (_name, chunked) => {
    const total = 256 * MiB;
    server = await rawServer((socket) => socket.once('data', () => streamBody(socket, total, chunked)));
    upstream = pool(server.port);
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    let received = 0;
    let chunks = 0;
    const done = new Promise<Error | undefined>((resolve) => {
      const ex = upstream!.request(forwardRequest(), {
        onHead: () => {},
        onData: (chunk) => {
          received += chunk.length;
          // A slow consumer: pause every 16th chunk and resume on the next macrotask.
          if (++chunks % 16 !== 0) return true;
          setImmediate(() => {
            peakRss = Math.max(peakRss, process.memoryUsage().rss);
            ex.resume();
          });
          return false;
        },
        onEnd: () => resolve(undefined),
        onError: (e) => resolve(new Error(e.message)),
      });
    });
    expect(await done).toBeUndefined();
    expect(received).toBe(total);
    expect(peakRss - rssBefore).toBeLessThan(64 * MiB);
  }, 60_000);

  it('resumeCalledInsideOnData_cancelsThatPause', async () => {
    server = await rawServer((socket) => socket.once('data', () => streamBody(socket, 4 * MiB, true)));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest(), {
      onData: (_chunk, ex) => {
        ex.resume();
        return false;
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.length).toBe(4 * MiB);
  });

  it('bodyIdleTimeout_doesNotFireWhileTheCallerHoldsThePause', async () => {
    server = await rawServer((socket) => socket.once('data', () => streamBody(socket, 2 * MiB, false)));
    upstream = pool(server.port);
    let paused = false;
    const out = await exchange(upstream, forwardRequest('GET', { bodyIdleTimeoutMs: 150 }), {
      onData: (_chunk, ex) => {
        if (paused) return true;
        paused = true;
        setTimeout(() => ex.resume(), 500);
        return false;
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.length).toBe(2 * MiB);
  });
  it('pausedExchange_finishesFromBufferedBytes_evenWhenUpstreamAlreadyClosed', async () => {
    server = await rawServer((socket) => socket.once('data', () => socket.end(
      'HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\nX-T: 1\r\n\r\n',
    )));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest(), {
      onData: (_chunk, ex) => {
        setTimeout(() => ex.resume(), 50);
        return false;
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('abc');
    expect(out.trailers).toEqual(['X-T', '1']);
    expect(upstream.openConnections).toBe(0);
  });
});

describe('Http1Pool request bodies', () => {
  it('writeBody_framesChunkedBody_andEndBodyWritesLastChunk', async () => {
    let received = '';
    server = await rawServer((socket) => {
      socket.on('data', (d) => {
        received += d.toString('latin1');
        if (received.endsWith('0\r\n\r\n')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      });
    });
    upstream = pool(server.port);
    const req = forwardRequest('POST', { bodyMode: 'chunked', headers: 'Transfer-Encoding: chunked\r\n' });
    const out = await exchange(upstream, req, {
      body: (ex) => {
        ex.writeBody(Buffer.from('hello'));
        ex.writeBody(new Uint8Array(0));
        ex.writeBody(Buffer.alloc(26, 'q'));
        ex.endBody();
        ex.endBody();
      },
    });
    expect(out.status).toBe(200);
    expect(received).toBe(`${req.head}5\r\nhello\r\n1a\r\n${'q'.repeat(26)}\r\n0\r\n\r\n`);
  });

  it('request_writesHeadAndSmallBody_inOneSegment', async () => {
    const firstReads: string[] = [];
    server = await rawServer((socket) => {
      socket.on('data', (d) => {
        firstReads.push(d.toString('latin1'));
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      });
    });
    upstream = pool(server.port);
    const req = forwardRequest('POST', { bodyMode: 'length', headers: 'Content-Length: 11\r\n' });
    await exchange(upstream, req, { body: (ex) => { ex.writeBody(Buffer.from('small body!')); ex.endBody(); } });
    // Second exchange on the now-connected socket: no connect in between to split the writes.
    await exchange(upstream, req, { body: (ex) => { ex.writeBody(Buffer.from('small body!')); ex.endBody(); } });
    expect(firstReads).toEqual([`${req.head}small body!`, `${req.head}small body!`]);
  });

  it('writeBody_returnsFalseWhenUpstreamStopsReading_andOnDrainFiresAfterItResumes', async () => {
    let upstreamSocket: net.Socket | null = null;
    let receivedBytes = 0;
    server = await rawServer((socket) => {
      upstreamSocket = socket;
      socket.pause();
      socket.on('data', (d) => {
        receivedBytes += d.length;
        if (receivedBytes >= 32 * MiB) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      });
    });
    upstream = pool(server.port);
    const req = forwardRequest('POST', { bodyMode: 'length', headers: `Content-Length: ${32 * MiB}\r\n` });
    const block = Buffer.alloc(64 * 1024, 'b');
    let drains = 0;
    let sent = 0;
    let blockedAt = -1;
    const pending = exchange(upstream, req, {
      body: (ex) => {
        const pump = (): void => {
          while (sent < 32 * MiB) {
            sent += block.length;
            if (!ex.writeBody(block)) {
              if (blockedAt < 0) blockedAt = sent;
              return;
            }
          }
          ex.endBody();
        };
        ex.onDrain = () => { drains++; pump(); };
        pump();
      },
    });
    // Kernel buffers absorb a few MiB; then writes stay blocked while the upstream does not read.
    await sleep(300);
    expect(blockedAt).toBeGreaterThan(0);
    const sentWhileBlocked = sent;
    await sleep(200);
    expect(sent).toBe(sentWhileBlocked);
    expect(sentWhileBlocked).toBeLessThan(16 * MiB);
    (upstreamSocket as net.Socket | null)?.resume();
    const out = await pending;
    expect(out.status).toBe(200);
    expect(drains).toBeGreaterThan(0);
    expect(receivedBytes - Buffer.byteLength(req.head)).toBe(32 * MiB);
  });

  it('request_streamsLargeChunkedRequestBody_toNodeHttp_withBoundedMemory', async () => {
    const total = 256 * MiB;
    server = await httpServer((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => res.end(String(n)));
    });
    upstream = pool(server.port);
    const block = Buffer.alloc(256 * 1024, 'c');
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'chunked', headers: 'Transfer-Encoding: chunked\r\n' }), {
      body: (ex) => {
        let sent = 0;
        const pump = (): void => {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          while (sent < total) {
            sent += block.length;
            if (!ex.writeBody(block)) return;
          }
          ex.endBody();
        };
        ex.onDrain = pump;
        pump();
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe(String(total));
    expect(peakRss - rssBefore).toBeLessThan(64 * MiB);
  }, 60_000);
});
