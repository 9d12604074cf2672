/**
 * Upstream faults end to end: keep-alive traffic through two gateway instances of two workers
 * each while a destination dies (refused, reset mid-response, hung) with another one up, and
 * while a destination answers with broken HTTP. The forwarder's own tests cover each shape on
 * one pool (test/forwarder/http1-pool.errors.test.ts); these check what a client of the
 * running gateway sees, and what the upstream sees (connections, requests after ejection).
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, rawServer, type TestServer } from '../forwarder/helpers.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { requestOnce, startLoad, type LoadReport } from '../support/load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every good response body: its length and its marker end are checked by the clients. */
const BODY_BYTES = 2_000;
function body(name: string): string {
  return `${name}:`.padEnd(BODY_BYTES - 1, 'x') + '.';
}
function okResponse(name: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${BODY_BYTES}\r\n\r\n${body(name)}`;
}
const checkBody = (b: Buffer): string | null =>
  b.length === BODY_BYTES && b[BODY_BYTES - 1] === 0x2e && /^(good|bad):x/.test(b.subarray(0, 6).toString('latin1')) ? null : `${b.length} bytes`;

interface Seen { readonly conn: number; readonly path: string }

/**
 * A raw upstream that parses request heads (no bodies: the tests send GETs) and answers each
 * with `respond`, recording the connection every request came on.
 */
async function scriptedUpstream(respond: (socket: Socket, path: string) => void): Promise<TestServer & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = await rawServer((socket, conn) => {
    let pending = '';
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const path = pending.slice(0, pending.indexOf('\r\n')).split(' ')[1];
        pending = pending.slice(end + 4);
        seen.push({ conn, path });
        if (!socket.destroyed) respond(socket, path);
      }
    });
  });
  return Object.assign(server, { seen });
}

function summary(name: string, r: LoadReport, extra: Record<string, unknown> = {}): void {
  // Printed for docs/reliability.md: what each run measured.
  console.log(`[upstream-faults] ${name}: ${JSON.stringify({ sent: r.sent, ok: r.ok, failed: r.failures.length, ...extra })}`);
}

describe('upstream faults end to end (two instances × two workers)', () => {
  let good: TestServer & { seen: Seen[] };
  const dying: Record<'refuse' | 'drop' | 'reset' | 'hang', { server: TestServer & { seen: Seen[] }; mode: 'ok' | 'fail' }> = {} as never;
  let garbage: TestServer & { seen: Seen[] };
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    good = await scriptedUpstream((s) => s.write(okResponse('good'), 'latin1'));
    for (const kind of ['refuse', 'drop', 'reset', 'hang'] as const) {
      const entry = { mode: 'ok' as 'ok' | 'fail', server: null as unknown as TestServer & { seen: Seen[] } };
      entry.server = await scriptedUpstream((s) => {
        if (entry.mode === 'ok') return void s.write(okResponse('bad'), 'latin1');
        if (kind === 'drop') return void s.resetAndDestroy(); // reads the request, resets: no byte of an answer
        if (kind === 'reset') {
          // Head and a quarter of the body, then a TCP reset.
          s.write(okResponse('bad').slice(0, -BODY_BYTES * 3 / 4), 'latin1', () => s.resetAndDestroy());
        }
        // 'hang': read the request, never answer. ('refuse' closes the server instead.)
      });
      dying[kind] = entry;
    }
    garbage = await scriptedUpstream((s, path) => s.write(GARBAGE[path.slice(1)] ?? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', 'latin1', () => {
      if (CLOSE_AFTER.has(path.slice(1))) s.end();
    }));
    const outlierDetection = { consecutiveFailures: 3, ejectionSeconds: 300 };
    const pair = (kind: string, port: number) => ({
      id: kind, loadBalancing: 'round-robin', outlierDetection,
      destinations: [{ id: `${kind}-dying`, address: `http://127.0.0.1:${port}` }, { id: `${kind}-good`, address: `http://127.0.0.1:${good.port}` }],
    });
    const config = {
      routes: [
        { id: 'refuse', cluster: 'refuse', match: { path: '/refuse/{**rest}' } },
        { id: 'drop', cluster: 'drop', match: { path: '/drop/{**rest}' } },
        { id: 'reset', cluster: 'reset', match: { path: '/reset/{**rest}' } },
        { id: 'hang', cluster: 'hang', match: { path: '/hang/{**rest}' }, timeoutMs: 400 },
        { id: 'garbage', cluster: 'garbage', match: { path: '/garbage/{**rest}' }, transforms: [{ pathRemovePrefix: '/garbage' }] },
      ],
      clusters: [
        pair('refuse', dying.refuse.server.port), pair('drop', dying.drop.server.port), pair('reset', dying.reset.server.port), pair('hang', dying.hang.server.port),
        { id: 'garbage', destinations: [{ id: 'garbage', address: `http://127.0.0.1:${garbage.port}` }] },
      ],
    };
    for (let i = 0; i < 2; i++) gateways.push(await startGateway({ config, workers: 2 }));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await closeAll();
  });

  /** Run keep-alive traffic on `path` through both instances; `fault()` after 600 ms. */
  async function underTraffic(path: string, fault: () => Promise<void> | void, destination: string) {
    const load = startLoad(gateways.flatMap((g) => [`${g.url}${path}`, `${g.url}${path}`]), { concurrency: 8, check: checkBody });
    await sleep(600);
    const faultAt = Date.now();
    await fault();
    const ejections = await Promise.all(gateways.map((g) => g.waitForLog((l) => l.msg === 'destination ejected by passive outlier detection' && l.destination === destination, 15_000)));
    const ejectedAfterMs = Date.now() - faultAt;
    await sleep(800);
    const report = await load.stop();
    return { report, ejections, ejectedAfterMs };
  }

  it('destinationRefusingConnections_midTraffic_isRetriedElsewhereAndEjected_withZeroFailures', async () => {
    const { server } = dying.refuse;
    const { report, ejectedAfterMs } = await underTraffic('/refuse/x', () => server.close(), 'refuse-dying');
    summary('refused', report, { ejectedAfterMs });
    expect(server.seen.length).toBeGreaterThan(10);
    expect(report.ok).toBeGreaterThan(100);
    expect(report.failures).toEqual([]);
  }, 30_000);

  it('destinationResettingBeforeAnswering_midTraffic_idempotentGetsAreRetriedElsewhere_andItIsEjected_withZeroFailures', async () => {
    const drop = dying.drop;
    let seenAtFault = 0;
    const { report, ejectedAfterMs } = await underTraffic('/drop/x', () => { drop.mode = 'fail'; seenAtFault = drop.server.seen.length; }, 'drop-dying');
    summary('reset before answering', report, { ejectedAfterMs, droppedRequests: drop.server.seen.length - seenAtFault });
    expect(drop.server.seen.length - seenAtFault).toBeGreaterThan(0);
    expect(report.failures).toEqual([]);
  }, 30_000);

  it('destinationHanging_midTraffic_idempotentGetsAreRetriedElsewhere_andItIsEjected_withZeroFailures', async () => {
    const hang = dying.hang;
    let seenAtFault = 0;
    const { report, ejectedAfterMs } = await underTraffic('/hang/x', () => { hang.mode = 'fail'; seenAtFault = hang.server.seen.length; }, 'hang-dying');
    // Ejected on both instances: no request reaches it any more.
    const after = hang.server.seen.length;
    const more = startLoad(gateways.map((g) => `${g.url}/hang/x`), { concurrency: 4, check: checkBody });
    await sleep(500);
    const extra = await more.stop();
    summary('hung', report, { ejectedAfterMs, hungRequests: after - seenAtFault });
    expect(after - seenAtFault).toBeGreaterThan(0);
    expect(report.failures).toEqual([]);
    expect(extra.failures).toEqual([]);
    expect(extra.ok).toBeGreaterThan(10);
    expect(hang.server.seen.length).toBe(after);
  }, 30_000);

  it('destinationResettingMidResponse_cutsOnlyTheResponsesItStarted_neverPassesATruncatedOneAsComplete_andIsEjected', async () => {
    const reset = dying.reset;
    let seenAtFault = 0;
    const { report, ejectedAfterMs } = await underTraffic('/reset/x', () => { reset.mode = 'fail'; seenAtFault = reset.server.seen.length; }, 'reset-dying');
    const resets = reset.server.seen.length - seenAtFault;
    const more = startLoad(gateways.map((g) => `${g.url}/reset/x`), { concurrency: 4, check: checkBody });
    await sleep(500);
    const extra = await more.stop();
    summary('reset mid-response', report, { ejectedAfterMs, resetResponses: resets, failures: report.failures.map((f) => f.what).slice(0, 3) });
    expect(resets).toBeGreaterThan(0);
    // Every failure is a cut response (never a 200 with a short or wrong body, never a 5xx
    // for a response that had started), and at most one per reset the upstream sent.
    for (const f of report.failures) expect(f.what).toMatch(/response cut|body truncated|ECONNRESET|socket hang up/);
    expect(report.failures.length).toBeLessThanOrEqual(resets);
    // Ejected after its first few failures on each instance (3 in a row, plus the requests
    // already in flight on it), and then never tried again.
    expect(report.failures.length).toBeLessThanOrEqual(2 * (3 + 8));
    expect(report.ok).toBeGreaterThan(100);
    expect(extra.failures).toEqual([]);
    expect(reset.server.seen.length - seenAtFault).toBe(resets);
  }, 30_000);

  it('garbageFromTheUpstream_isACleanErrorOrACutConnection_theWorkersKeepServing_andTheConnectionIsNeverReused', async () => {
    const expected: Record<string, (o: Awaited<ReturnType<typeof requestOnce>>) => void> = {
      'bad-status': (o) => expect(o).toMatchObject({ kind: 'failed', status: 502 }),
      'cl-longer-then-close': (o) => expect(o).toMatchObject({ kind: 'failed', what: expect.stringMatching(/cut|truncated|ECONNRESET|hang up/) }),
      'cl-shorter-extra-bytes': (o) => expect(o).toMatchObject({ kind: 'ok', body: Buffer.from('hello') }),
      'chunked-truncated': (o) => expect(o).toMatchObject({ kind: 'failed', what: expect.stringMatching(/cut|truncated|ECONNRESET|hang up/) }),
      'two-responses': (o) => expect(o).toMatchObject({ kind: 'ok', body: Buffer.from('first') }),
      'no-status-line': (o) => expect(o).toMatchObject({ kind: 'failed', status: 502 }),
    };
    const codes: Record<string, string> = {};
    for (const gw of gateways) {
      for (const shape of Object.keys(expected)) {
        const o = await requestOnce(`${gw.url}/garbage/${shape}`);
        expected[shape](o);
        if (o.kind === 'failed' && o.status === 502) codes[shape] = (JSON.parse(o.body!.toString()) as { code: string }).code;
        // The worker keeps serving, and the next answers are the right ones (a second
        // response left on the connection would otherwise answer the next request).
        for (let i = 0; i < 4; i++) {
          const next = await requestOnce(`${gw.url}/garbage/ok${i}`);
          expect(next).toMatchObject({ kind: 'ok', body: Buffer.from('ok') });
        }
      }
    }
    expect(codes).toEqual({ 'bad-status': 'UPSTREAM_PROTOCOL', 'no-status-line': 'UPSTREAM_PROTOCOL' });
    // Upstream side: a connection that carried a broken response never carries another request.
    const byConn = new Map<number, string[]>();
    for (const s of garbage.seen) byConn.set(s.conn, [...(byConn.get(s.conn) ?? []), s.path]);
    for (const [conn, paths] of byConn) {
      const broken = paths.findIndex((p) => p.slice(1) in expected);
      if (broken >= 0) expect({ conn, after: paths.slice(broken + 1) }).toEqual({ conn, after: [] });
    }
    // ...while healthy connections are reused (so the check above is not vacuous).
    expect([...byConn.values()].some((paths) => paths.length > 1)).toBe(true);
    console.log(`[upstream-faults] garbage: ${JSON.stringify({ requests: garbage.seen.length, upstreamConnections: garbage.connections, codes })}`);
  }, 30_000);
});

/** Broken responses by path; CLOSE_AFTER lists the ones after which the upstream closes. */
const GARBAGE: Record<string, string> = {
  'bad-status': 'HTTP/1.1 2x0 OK\r\ncontent-length: 2\r\n\r\nok',
  'no-status-line': 'hello there\r\n\r\n',
  'cl-longer-then-close': `HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n${'a'.repeat(50)}`,
  'cl-shorter-extra-bytes': 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloEXTRA BYTES',
  'chunked-truncated': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab',
  'two-responses': 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond',
};
const CLOSE_AFTER = new Set(['cl-longer-then-close', 'chunked-truncated']);
