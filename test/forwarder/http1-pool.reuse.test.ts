import { spawn } from 'node:child_process';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Http1Pool } from '../../src/forwarder/http1-pool.js';
import type { Outcome } from './helpers.js';
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

const OK_HI = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';

/** A raw upstream for a child process: prints its port, then `<path> <hrtime ns>` as each head arrives, and answers "ok". */
const STAMPING_SERVER = `
const net = require('node:net');
const server = net.createServer((socket) => {
  let pending = '';
  socket.on('error', () => {});
  socket.on('data', (d) => {
    const at = process.hrtime.bigint();
    pending += d.toString('latin1');
    let end;
    while ((end = pending.indexOf('\\r\\n\\r\\n')) >= 0) {
      const path = pending.slice(0, end).split(' ')[1];
      pending = pending.slice(end + 4);
      process.stdout.write(path + ' ' + at + '\\n');
      socket.write('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok');
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

describe('Http1Pool connection reuse rules', () => {
  it('headsStartedManyPerTurn_areEachSentOnce_andOneAbortedBeforeItsTurnEndsIsNeverSent', async () => {
    // Several body-less heads in one event-loop turn make the next turn's heads wait for the
    // end of that turn and leave together (http1-connection.ts, change 13 of
    // docs/performance.md); an exchange aborted meanwhile must not be written at all.
    const seen: string[] = [];
    server = await httpServer((req, res) => { seen.push(req.url!); res.end(req.url); });
    const p = pool(server.port);
    const first = [1, 2, 3].map((i) => exchange(p, forwardRequest('GET', { path: `/a${i}` })));
    const second = await new Promise<Array<Promise<Outcome>>>((resolve) => setImmediate(() => {
      const started = [1, 2, 3, 4].map((i) => exchange(p, forwardRequest('GET', { path: `/b${i}` })));
      started[1].exchange.abort();
      resolve([started[0], started[2], started[3]]);
    }));
    const outcomes = await Promise.all([...first, ...second]);
    expect(outcomes.map((o) => o.body.toString())).toEqual(['/a1', '/a2', '/a3', '/b1', '/b3', '/b4']);
    await sleep(50);
    expect(seen.sort()).toEqual(['/a1', '/a2', '/a3', '/b1', '/b3', '/b4']);
  });

  it('aHeadAloneOnItsUpstream_isWrittenAtOnce_whileAnotherPoolsHeadsWaitForTheTurnsEnd', async () => {
    // Change 19 of docs/performance.md: only a head whose pool has another exchange in flight
    // is held to the end of the turn. The upstream is a child process that stamps each head's
    // arrival, so the stamps are taken while this process is busy.
    const child = spawn(process.execPath, ['-e', STAMPING_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines: string[] = [];
      let partial = '';
      child.stdout.on('data', (d: Buffer) => {
        partial += d.toString();
        const parts = partial.split('\n');
        partial = parts.pop()!;
        lines.push(...parts);
      });
      await eventually(() => lines.length > 0);
      const port = Number(lines[0].replace('port ', ''));
      const busy = pool(port);
      const alone = pool(port);
      // Connected idle sockets on both pools, so that a write reaches the kernel at once (a
      // write to a socket still connecting waits for the event loop, held or not).
      await Promise.all([1, 2, 3, 4, 5].map((i) => exchange(busy, forwardRequest('GET', { path: `/w${i}` }))));
      await exchange(alone, forwardRequest('GET', { path: '/warm' }));
      const first = [1, 2, 3].map((i) => exchange(busy, forwardRequest('GET', { path: `/a${i}` })));
      const second = await new Promise<Array<Promise<Outcome>>>((resolve) => setImmediate(() => {
        // The pool's own immediate ran first: its last turn counted two heads, so this turn's
        // counted heads are held. a1-a3 are still in flight (no poll phase has run since).
        const started = [
          exchange(busy, forwardRequest('GET', { path: '/a4' })),
          exchange(busy, forwardRequest('GET', { path: '/a5' })),
          exchange(alone, forwardRequest('GET', { path: '/b1' })),
        ];
        // 300 ms, and the assertions ask for 100: the child has 200 ms to read b1's head even
        // on a loaded machine.
        const until = Date.now() + 300;
        while (Date.now() < until) { /* keep the turn from ending */ }
        resolve(started);
      }));
      const outcomes = await Promise.all([...first, ...second]);
      expect(outcomes.map((o) => o.body.toString())).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
      await eventually(() => lines.length >= 12);
      const stamp = new Map(lines.slice(1).map((l) => l.split(' ')).map(([path, ns]) => [path, BigInt(ns)]));
      const msBefore = (a: string, b: string) => Number(stamp.get(b)! - stamp.get(a)!) / 1e6;
      // b1 left during the busy turn; a4 and a5 only once it had ended (written at once, as
      // without batching, they would have arrived with b1).
      expect(msBefore('/b1', '/a4')).toBeGreaterThan(100);
      expect(msBefore('/b1', '/a5')).toBeGreaterThan(100);
    } finally {
      child.kill();
    }
  });

  it('request_reusesConnection_afterCleanlyFinishedExchange', async () => {
    server = await httpServer((req, res) => res.end('x'));
    upstream = pool(server.port);
    for (let i = 0; i < 5; i++) {
      const out = await exchange(upstream, forwardRequest());
      expect(out.body.toString()).toBe('x');
    }
    expect(server.connections).toBe(1);
    expect(upstream.openConnections).toBe(1);
    expect(upstream.idleConnections).toBe(1);
  });

  it.each([
    ['connectionClose', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi'],
    ['connectionCloseAmongOtherTokens', 'HTTP/1.1 200 OK\r\nConnection: Upgrade ,  CLOSE\r\nContent-Length: 2\r\n\r\nhi'],
    ['http10WithoutKeepAlive', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi'],
    ['http10WithTransferEncoding', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n'],
  ])('request_doesNotReuseConnection_after_%s', async (_name, response) => {
    server = await rawServer(respondToEachRequest(response));
    upstream = pool(server.port);
    const first = await exchange(upstream, forwardRequest());
    expect(first.body.toString()).toBe('hi');
    expect(upstream.openConnections).toBe(0);
    await exchange(upstream, forwardRequest());
    expect(server.connections).toBe(2);
  });

  it('request_reusesHttp10Connection_whenKeepAliveIsAnnounced', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi'));
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    await exchange(upstream, forwardRequest());
    expect(server.connections).toBe(1);
  });

  it('request_doesNotReuseConnection_whenBytesFollowTheResponse', async () => {
    server = await rawServer(respondToEachRequest(`${OK_HI}HTTP/1.1 200 OK\r\n`));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest());
    expect(out.body.toString()).toBe('hi');
    expect(upstream.openConnections).toBe(0);
  });

  it('request_doesNotReuseConnection_whenResponseEndsBeforeRequestBody', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'));
    upstream = pool(server.port);
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'length', headers: 'Content-Length: 100\r\n' }), {
      body: (ex) => ex.writeBody(Buffer.from('only part of it')),
    });
    expect(out.status).toBe(413);
    expect(upstream.openConnections).toBe(0);
    // Writing after the exchange ended is harmless.
    expect(out.calls).toEqual(['head', 'end']);
  });

  it('request_doesNotReuseConnection_afterAnError', async () => {
    server = await rawServer(respondToEachRequest('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'));
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    expect(upstream.openConnections).toBe(0);
  });

  it('request_takesMostRecentlyReleasedIdleConnection_LIFO', async () => {
    server = await rawServer((socket, index) => {
      respondToEachRequest(() => `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${index}`)(socket);
    });
    upstream = pool(server.port);
    // Two concurrent exchanges open connections 0 and 1; whichever finishes last is on top.
    const [a, b] = await Promise.all([exchange(upstream, forwardRequest()), exchange(upstream, forwardRequest())]);
    expect(new Set([a.body.toString(), b.body.toString()])).toEqual(new Set(['0', '1']));
    const next1 = await exchange(upstream, forwardRequest());
    const next2 = await exchange(upstream, forwardRequest());
    expect(next2.body.toString()).toBe(next1.body.toString());
    expect(server.connections).toBe(2);
  });

  it('request_startedFromInsideOnEnd_reusesTheJustReleasedConnection', async () => {
    server = await httpServer((req, res) => res.end('x'));
    upstream = pool(server.port);
    const second = await new Promise<Outcome>((resolve) => {
      upstream!.request(forwardRequest(), {
        onHead: () => {},
        onData: () => true,
        onEnd: () => { void exchange(upstream!, forwardRequest()).then(resolve); },
        onError: () => {},
      });
    });
    expect(second.body.toString()).toBe('x');
    expect(server.connections).toBe(1);
  });
});

describe('Http1Pool stale keep-alive connections', () => {
  /** Answers the first request on connection 0, then closes it when the second one arrives. */
  async function staleOnSecondRequest(kill: (socket: net.Socket) => void): Promise<void> {
    server = await rawServer((socket, index) => {
      let requests = 0;
      socket.on('data', () => {
        requests++;
        if (index === 0 && requests === 2) kill(socket);
        else socket.write(OK_HI);
      });
    });
  }

  it('request_retriesOnceOnFreshConnection_whenReusedSocketIsClosedBeforeResponse', async () => {
    await staleOnSecondRequest((socket) => socket.end());
    upstream = pool(server!.port);
    await exchange(upstream, forwardRequest());
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toBeUndefined();
    expect(out.calls).toEqual(['head', 'data', 'end']);
    expect(out.body.toString()).toBe('hi');
    expect(server!.connections).toBe(2);
  });

  it('request_retriesOnceOnFreshConnection_whenReusedSocketIsReset', async () => {
    await staleOnSecondRequest((socket) => socket.resetAndDestroy());
    upstream = pool(server!.port);
    await exchange(upstream, forwardRequest());
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('hi');
  });

  it('request_retries_whenIdleSocketsFinGoesUnnoticedUntilReuse', async () => {
    // The upstream answers and closes at once; the next request is started from inside
    // onEnd, before the FIN is read, so it lands on a connection that is already closing.
    server = await rawServer((socket) => socket.once('data', () => socket.end(OK_HI)));
    upstream = pool(server.port);
    const second = await new Promise<Outcome>((resolve) => {
      upstream!.request(forwardRequest(), {
        onHead: () => {},
        onData: () => true,
        onEnd: () => { void exchange(upstream!, forwardRequest()).then(resolve); },
        onError: () => {},
      });
    });
    expect(second.error).toBeUndefined();
    expect(second.body.toString()).toBe('hi');
    expect(server.connections).toBe(2);
  });

  it('request_retriesOnlyOnce_thenReportsResetNotRetryable', async () => {
    server = await rawServer((socket, index) => {
      let requests = 0;
      socket.on('data', () => {
        requests++;
        if (index === 0 && requests === 1) socket.write(OK_HI);
        else socket.destroy();
      });
    });
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    const out = await exchange(upstream, forwardRequest());
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', retryable: false, responseStarted: false });
    expect(server.connections).toBe(2);
  });

  it('request_withBodyInFlight_isNotRetried_andNotRetryable', async () => {
    await staleOnSecondRequest((socket) => socket.destroy());
    upstream = pool(server!.port);
    await exchange(upstream, forwardRequest());
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'length', headers: 'Content-Length: 4\r\n' }), {
      body: (ex) => { ex.writeBody(Buffer.from('data')); ex.endBody(); },
    });
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', retryable: false, responseStarted: false });
    expect(server!.connections).toBe(1);
  });

  it('request_withBodyNotYetWritten_isNotRetried_butRetryable', async () => {
    await staleOnSecondRequest((socket) => socket.destroy());
    upstream = pool(server!.port);
    await exchange(upstream, forwardRequest());
    const out = await exchange(upstream, forwardRequest('POST', { bodyMode: 'chunked', headers: 'Transfer-Encoding: chunked\r\n' }));
    expect(out.error).toMatchObject({ code: 'UPSTREAM_RESET', retryable: true, responseStarted: false });
    expect(server!.connections).toBe(1);
  });
});

describe('Http1Pool idle connections', () => {
  it('idleConnection_isClosedAfterIdleTimeout', async () => {
    let closedAt = 0;
    server = await rawServer((socket) => {
      respondToEachRequest(OK_HI)(socket);
      socket.on('close', () => { closedAt = Date.now(); });
    });
    upstream = pool(server.port, { idleTimeoutMs: 200 });
    await exchange(upstream, forwardRequest());
    const idleSince = Date.now();
    expect(upstream.openConnections).toBe(1);
    await eventually(() => closedAt > 0);
    expect(closedAt - idleSince).toBeGreaterThanOrEqual(180);
    expect(upstream.openConnections).toBe(0);
  });

  it('idleConnection_closedByUpstream_isRemovedFromPool', async () => {
    const sockets: net.Socket[] = [];
    server = await rawServer((socket) => {
      sockets.push(socket);
      respondToEachRequest(OK_HI)(socket);
    });
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    expect(upstream.idleConnections).toBe(1);
    sockets[0].end();
    await eventually(() => upstream!.openConnections === 0);
    expect(upstream.idleConnections).toBe(0);
    const out = await exchange(upstream, forwardRequest());
    expect(out.body.toString()).toBe('hi');
  });

  it('idleConnection_receivingUnsolicitedBytes_isRemovedFromPool', async () => {
    const sockets: net.Socket[] = [];
    server = await rawServer((socket) => {
      sockets.push(socket);
      respondToEachRequest(OK_HI)(socket);
    });
    upstream = pool(server.port);
    await exchange(upstream, forwardRequest());
    sockets[0].write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    await eventually(() => upstream!.openConnections === 0);
    expect(upstream.idleConnections).toBe(0);
  });

  it('release_capsIdleStackAtMaxIdleConnections', async () => {
    server = await rawServer((socket) => {
      socket.once('data', async () => {
        await sleep(50);
        respondToEachRequest(OK_HI)(socket);
        socket.write(OK_HI);
      });
    });
    upstream = pool(server.port, { maxIdleConnections: 2 });
    await Promise.all([1, 2, 3, 4].map(() => exchange(upstream!, forwardRequest())));
    expect(server.connections).toBe(4);
    expect(upstream.idleConnections).toBe(2);
    expect(upstream.openConnections).toBe(2);
  });

  it('release_withZeroMaxIdle_neverKeepsConnections', async () => {
    server = await httpServer((req, res) => res.end('x'));
    upstream = pool(server.port, { maxIdleConnections: 0 });
    await exchange(upstream, forwardRequest());
    expect(upstream.openConnections).toBe(0);
  });
});
