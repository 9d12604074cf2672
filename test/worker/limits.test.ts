/**
 * Overload and request limits, end to end: a real gateway (worker threads, uWS sockets), real
 * upstream servers on loopback that hold requests until the test lets them go, raw sockets
 * where the exact bytes matter.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGateway, type GatewayProcess } from '../support/gateway.js';
import { raw } from '../support/raw-client.js';

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly ms: number;
}

/** One request on its own connection (so concurrent ones spread over the workers). */
function send(url: string, init: { method?: string; body?: string } = {}): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

function codeOf(a: Answer): string {
  return (JSON.parse(a.body) as { code: string }).code;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * An upstream that parks every request whose path contains `/hold` until `releaseAll()`,
 * answers the others at once (after `delayMs`), and counts how many it serves at once.
 */
interface HoldingUpstream {
  readonly port: number;
  readonly paths: string[];
  readonly held: ServerResponse[];
  current: number;
  max: number;
  /** Requests whose client side went away before their body was complete. */
  bodiesCut: number;
  releaseAll(): void;
  close(): Promise<void>;
}

function startHoldingUpstream(delayMs = 0): Promise<HoldingUpstream> {
  const up: HoldingUpstream = {
    port: 0, paths: [], held: [], current: 0, max: 0, bodiesCut: 0,
    releaseAll() {
      for (const res of up.held.splice(0)) res.end('released');
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  const server: Server = createServer((req, res) => {
    up.paths.push(req.url!);
    up.current++;
    up.max = Math.max(up.max, up.current);
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('close', () => { if (!req.complete) up.bodiesCut++; });
    res.on('close', () => { up.current--; });
    if (req.url!.includes('/hold')) {
      up.held.push(res);
      return;
    }
    req.on('end', () => setTimeout(() => res.end(JSON.stringify({ path: req.url, bytes })), delayMs));
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      (up as { port: number }).port = (server.address() as { port: number }).port;
      resolve(up);
    });
  });
}

async function inFlight(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('fengling_requests_in_flight')) sum += Number(line.split(' ').at(-1));
  return sum;
}

describe('limits on one worker: cluster concurrency, its queue, per-worker and request limits', () => {
  let up: HoldingUpstream;
  let gw: GatewayProcess;
  let metricsPort: number;

  beforeAll(async () => {
    up = await startHoldingUpstream();
    metricsPort = await freePort();
    const dest = [{ id: 'u', address: `http://127.0.0.1:${up.port}` }];
    gw = await startGateway({
      workers: 1,
      env: {
        GATEWAY_METRICS_PORT: String(metricsPort), GATEWAY_METRICS_HOST: '127.0.0.1',
        GATEWAY_MAX_URL_BYTES: '200', GATEWAY_MAX_HEADER_COUNT: '10', GATEWAY_MAX_HEADER_BYTES: '600',
        GATEWAY_REQUEST_BODY_TIMEOUT_MS: '1500', GATEWAY_MAX_REQUESTS_PER_WORKER: '6',
      },
      config: {
        routes: ['tight', 'queued', 'short', 'open'].map((c) => ({ id: c, cluster: c, match: { path: `/${c}/{**rest}` } })),
        clusters: [
          { id: 'tight', destinations: dest, limits: { maxConcurrentPerDestination: 2, maxQueuedPerWorker: 0, retryAfterSeconds: 7 } },
          { id: 'queued', destinations: dest, limits: { maxConcurrentPerDestination: 1, maxQueuedPerWorker: 1, queueTimeoutMs: 20_000 } },
          { id: 'short', destinations: dest, limits: { maxConcurrentPerDestination: 1, queueTimeoutMs: 300 } },
          { id: 'open', destinations: dest },
        ],
      },
    });
  });

  afterAll(async () => {
    up?.releaseAll();
    await gw?.stop();
    await up?.close();
  });

  it('concurrencyLimit_admitsUpToTheLimit_thenAnswers503WithRetryAfter', async () => {
    const first = send(`${gw.url}/tight/hold/1`);
    await waitFor('one held request', () => up.held.length === 1);
    // limit - 1 in flight: admitted.
    const second = await send(`${gw.url}/tight/now`);
    expect(second.status).toBe(200);
    const third = send(`${gw.url}/tight/hold/2`);
    await waitFor('two held requests', () => up.held.length === 2);
    // At the limit, no queue: 503 at once.
    const refused = await send(`${gw.url}/tight/now`);
    expect(refused.status).toBe(503);
    expect(codeOf(refused)).toBe('UPSTREAM_OVERLOADED');
    expect(refused.headers['retry-after']).toBe('7');
    expect(refused.headers['content-type']).toBe('application/problem+json');
    up.releaseAll();
    expect((await first).status).toBe(200);
    expect((await third).status).toBe(200);
    // The slots came back.
    expect((await send(`${gw.url}/tight/now`)).status).toBe(200);
  });

  it('queuedRequest_isSent_whenASlotFrees', async () => {
    const first = send(`${gw.url}/queued/hold/1`);
    await waitFor('one held request', () => up.held.length === 1);
    const queued = send(`${gw.url}/queued/hold/2`);
    await waitFor('the second request in the gateway', async () => (await inFlight(metricsPort)) === 2);
    expect(up.paths.filter((p) => p === '/queued/hold/2')).toEqual([]);
    up.releaseAll();
    expect((await first).status).toBe(200);
    await waitFor('the queued request at the upstream', () => up.held.length === 1);
    expect(up.paths.at(-1)).toBe('/queued/hold/2');
    up.releaseAll();
    expect((await queued).status).toBe(200);
  });

  it('queuedRequest_answers503_whenItsWaitTimesOut', async () => {
    const first = send(`${gw.url}/short/hold/1`);
    await waitFor('one held request', () => up.held.length === 1);
    const late = await send(`${gw.url}/short/now`);
    expect(late.status).toBe(503);
    expect(codeOf(late)).toBe('UPSTREAM_OVERLOADED');
    expect(late.headers['retry-after']).toBe('1');
    expect(late.ms).toBeGreaterThanOrEqual(280);
    expect(up.paths).not.toContain('/short/now');
    up.releaseAll();
    expect((await first).status).toBe(200);
  });

  it('queuedRequestWithAPausedBody_answers503_andClosesTheConnection', async () => {
    const first = send(`${gw.url}/short/hold/1`);
    await waitFor('one held request', () => up.held.length === 1);
    // A chunked body, its first chunk sent and the rest not yet: the gateway stops reading it
    // while the request waits for a destination. After the 503 nothing would ever read this
    // connection again, so it must be closed (well before the 1.5 s body timeout).
    const r = await raw(gw.port, 'POST /short/now HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', 1000);
    expect(r.text).toMatch(/^HTTP\/1\.1 503 /);
    expect(r.closed).toBe(true);
    up.releaseAll();
    expect((await first).status).toBe(200);
  });

  it('clientAbortWhileQueued_leavesTheQueue_andAFullQueueAnswers503AtOnce', async () => {
    const first = send(`${gw.url}/queued/hold/a`);
    await waitFor('one held request', () => up.held.length === 1);
    const x = connect(gw.port, '127.0.0.1');
    x.on('error', () => {});
    x.write('GET /queued/abandoned HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('the abandoned request queued', async () => (await inFlight(metricsPort)) === 2);
    // The queue (1 per worker) is full.
    const full = await send(`${gw.url}/queued/now`);
    expect(full.status).toBe(503);
    expect(codeOf(full)).toBe('UPSTREAM_OVERLOADED');
    expect(full.ms).toBeLessThan(10_000);
    x.destroy();
    await waitFor('the abandoned request gone', async () => (await inFlight(metricsPort)) === 1);
    // Its place is free again.
    const next = send(`${gw.url}/queued/next`);
    await waitFor('the next request queued', async () => (await inFlight(metricsPort)) === 2);
    up.releaseAll();
    expect((await first).status).toBe(200);
    expect((await next).status).toBe(200);
    expect(up.paths).not.toContain('/queued/abandoned');
  });

  it('workerLimit_admitsUpToItsMaximum_thenAnswers503AndClosesTheConnection', async () => {
    const held = Array.from({ length: 5 }, (_, i) => send(`${gw.url}/open/hold/${i}`));
    await waitFor('five held requests', () => up.held.length === 5);
    // 5 in flight, maximum 6: admitted.
    expect((await send(`${gw.url}/open/now`)).status).toBe(200);
    held.push(send(`${gw.url}/open/hold/5`));
    await waitFor('six held requests', () => up.held.length === 6);
    const r = await raw(gw.port, ['GET /open/now HTTP/1.1\r\nHost: x\r\n\r\n'], 5000);
    expect(r.text).toMatch(/^HTTP\/1\.1 503 /);
    expect(r.text).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(r.text).toContain('"code":"WORKER_OVERLOADED"');
    expect(r.closed).toBe(true);
    up.releaseAll();
    for (const h of await Promise.all(held)) expect(h.status).toBe(200);
  });

  it('urlLength_isAccepted_atTheLimit_andAnswered414_aboveIt', async () => {
    const target = (n: number) => {
      const prefix = '/open/u?q=';
      return prefix + 'a'.repeat(n - prefix.length);
    };
    const ok = await send(`${gw.url}${target(200)}`);
    expect(ok.status).toBe(200);
    const long = await send(`${gw.url}${target(201)}`);
    expect(long.status).toBe(414);
    expect(codeOf(long)).toBe('URL_TOO_LONG');
  });

  it('headerCount_isAccepted_atTheLimit_andAnswered431_aboveIt', async () => {
    const head = (lines: number) => {
      let h = 'GET /open/h HTTP/1.1\r\nHost: x\r\n';
      for (let i = 1; i < lines; i++) h += `x-h${i}: v\r\n`;
      return `${h}\r\n`;
    };
    expect((await raw(gw.port, [head(10)])).text).toMatch(/^HTTP\/1\.1 200 /);
    const over = (await raw(gw.port, [head(11)])).text;
    expect(over).toMatch(/^HTTP\/1\.1 431 /);
    expect(over).toContain('"code":"HEADERS_TOO_LARGE"');
  });

  it('headerBytes_areAccepted_atTheLimit_andAnswered431_aboveIt', async () => {
    // Each line counts name + value + 4: "host"+"x"+4 = 9, "x-pad"+value+4 = 9 + value.
    const head = (valueBytes: number) => `GET /open/b HTTP/1.1\r\nHost: x\r\nx-pad: ${'p'.repeat(valueBytes)}\r\n\r\n`;
    expect((await raw(gw.port, [head(600 - 18)])).text).toMatch(/^HTTP\/1\.1 200 /);
    const over = (await raw(gw.port, [head(600 - 17)])).text;
    expect(over).toMatch(/^HTTP\/1\.1 431 /);
    expect(over).toContain('"code":"HEADERS_TOO_LARGE"');
  });

  it('stalledRequestBody_gets408_theConnectionClosed_andTheUpstreamExchangeAborted', async () => {
    const cutBefore = up.bodiesCut;
    // Larger than the gateway holds whole (64 KiB): the upstream exchange starts at once.
    const t0 = performance.now();
    const r = await raw(gw.port, [
      'POST /open/body HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n',
      'a'.repeat(70_000),
    ], 8000);
    const ms = performance.now() - t0;
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text).toContain('"code":"BODY_TIMEOUT"');
    expect(r.closed).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(1400);
    await waitFor('the upstream request cut', () => up.bodiesCut > cutBefore);
  });

  it('slowButSteadyBody_outlivesUwsTenSecondTimer', async () => {
    // uWS 20.30 alone cuts any request whose body is still arriving ~10 s after its head; the
    // gateway re-arms that timer while the body makes progress. 41 pieces, 300 ms apart.
    const pieces = ['POST /open/steady HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n'];
    for (let i = 0; i < 40; i++) pieces.push('s'.repeat(1000));
    const r = await raw(gw.port, pieces, 3000, 300);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.text).toContain('"bytes":40000');
  }, 40_000);
});

describe('limits across two workers, and the uWS defaults', () => {
  let a: HoldingUpstream;
  let b: HoldingUpstream;
  let gw: GatewayProcess;

  beforeAll(async () => {
    a = await startHoldingUpstream(30);
    b = await startHoldingUpstream(30);
    gw = await startGateway({
      workers: 2,
      config: {
        routes: [{ id: 'pair', cluster: 'pair', match: { path: '/pair/{**rest}' } }],
        clusters: [{
          id: 'pair',
          destinations: [{ id: 'a', address: `http://127.0.0.1:${a.port}` }, { id: 'b', address: `http://127.0.0.1:${b.port}` }],
          limits: { maxConcurrentPerDestination: 3, maxQueuedPerWorker: 500, queueTimeoutMs: 60_000 },
        }],
      },
      env: { GATEWAY_ACCESS_LOG: 'on' },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await a?.close();
    await b?.close();
  });

  it('concurrencyLimit_holdsInstanceWide_withManyRequestsOnTwoWorkers', async () => {
    const n = 120;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => send(`${gw.url}/pair/r${i}`)));
    expect(answers.map((x) => x.status)).toEqual(new Array(n).fill(200));
    expect(a.paths.length + b.paths.length).toBe(n);
    expect(a.max).toBeLessThanOrEqual(3);
    expect(b.max).toBeLessThanOrEqual(3);
    // The limit was really reached, and both workers served.
    expect(Math.max(a.max, b.max)).toBe(3);
    await waitFor('access log lines', () => gw.logs.filter((l) => l.access !== undefined).length >= n);
    const threads = new Set(gw.logs.filter((l) => l.access !== undefined).map((l) => l.thread));
    expect(threads.size).toBe(2);
  }, 60_000);

  it('defaultUrlLimit_is4KiB_evenForAHeadUwsReadsAtOnce', async () => {
    const r = await raw(gw.port, [`GET /pair/${'u'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    expect(r.text).toMatch(/^HTTP\/1\.1 414 /);
  });

  it('uws_closesAHeadOver4KiB_thatArrivesInTwoReads_withoutAnAnswer', async () => {
    const head = (total: number) => {
      const pre = 'GET /pair/x HTTP/1.1\r\nHost: x\r\nx-big: ';
      const post = '\r\n\r\n';
      const h = pre + 'b'.repeat(total - pre.length - post.length) + post;
      return [h.slice(0, 1000), h.slice(1000)];
    };
    expect((await raw(gw.port, head(4096), 1000, 100)).text).toMatch(/^HTTP\/1\.1 200 /);
    const over = await raw(gw.port, head(4097), 2000, 100);
    expect(over).toEqual({ text: '', closed: true });
  });

  it('uws_neverAnswersAHeadWithMoreThan48Lines_andClosesItOnItsIdleTimer', async () => {
    let h = 'GET /pair/x HTTP/1.1\r\nHost: x\r\n';
    for (let i = 1; i < 49; i++) h += `x-h${i}: v\r\n`;
    const t0 = performance.now();
    const r = await raw(gw.port, [`${h}\r\n`], 20_000);
    expect(r).toEqual({ text: '', closed: true });
    // uWS's compiled-in idle timeout: 10 s, checked every 4 s.
    expect(performance.now() - t0).toBeGreaterThan(7000);
  }, 30_000);
});
