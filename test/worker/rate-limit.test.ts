import { writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One request on a fresh connection (`connection: close`): the kernel spreads connections over
 * the workers (SO_REUSEPORT), so a run of these reaches both.
 */
function send(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `total` requests from `clients` concurrent loops, each request on its own connection. */
async function burstOf(port: number, path: string, total: number, clients: number, headers: Record<string, string> = {}): Promise<Reply[]> {
  const replies: Reply[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) {
      next++;
      replies.push(await send(port, path, headers));
    }
  }));
  return replies;
}

const admitted = (replies: readonly Reply[]) => replies.filter((r) => r.status === 200).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function routes(changing: Record<string, unknown>) {
  return [
    // 0.01/s: one token every 100 s, so within a test only the burst counts.
    { id: 'per-address', cluster: 'backend', match: { path: '/addr/{**rest}' }, rateLimit: { requestsPerSecond: 0.01, burst: 20 } },
    { id: 'per-key', cluster: 'backend', match: { path: '/key/{**rest}' }, rateLimit: { requestsPerSecond: 0.01, burst: 3, key: { header: 'X-Api-Key' } } },
    { id: 'refill', cluster: 'backend', match: { path: '/refill/{**rest}' }, rateLimit: { requestsPerSecond: 2, burst: 2 } },
    { id: 'changing', cluster: 'backend', match: { path: '/change/{**rest}' }, rateLimit: changing },
    { id: 'open', cluster: 'backend', match: { path: '/open/{**rest}' } },
  ];
}

describe('per-route rate limits shared by the workers of an instance', () => {
  let up: Upstream;
  let gw: GatewayProcess;
  let metricsPort: number;
  let config: { routes: unknown[]; clusters: unknown[] };

  beforeAll(async () => {
    up = await startUpstream();
    metricsPort = await freePort();
    config = {
      routes: routes({ requestsPerSecond: 0.01, burst: 3 }),
      clusters: [{ id: 'backend', destinations: [{ id: 'b1', address: `http://127.0.0.1:${up.port}` }] }],
    };
    gw = await startGateway({
      workers: 2, config,
      env: { GATEWAY_ACCESS_LOG: 'on', GATEWAY_METRICS_PORT: String(metricsPort), GATEWAY_METRICS_HOST: '127.0.0.1' },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('limit_holdsAcrossBothWorkers_admittingExactlyTheBurst', async () => {
    const replies = await burstOf(gw.port, '/addr/x', 60, 6);
    expect(admitted(replies)).toBe(20);
    expect(replies.filter((r) => r.status === 429)).toHaveLength(40);
    // Both workers served this route: with a bucket per worker, more than 20 would have passed.
    await gw.waitForLog(() => gw.logs.filter((l) => (l.access as { route?: string } | undefined)?.route === 'per-address').length === 60);
    const threads = new Set(gw.logs.filter((l) => (l.access as { route?: string } | undefined)?.route === 'per-address').map((l) => l.thread));
    expect([...threads].sort()).toEqual([0, 1]);
    // Counted like every coded error, by code and under the route.
    const expected = ['fengling_errors_total{code="RATE_LIMITED"} 40', 'fengling_requests_total{route="per-address",method="GET",status_class="4xx"} 40'];
    const until = Date.now() + 10_000;
    let metrics = '';
    while (Date.now() < until && !expected.every((line) => metrics.includes(line))) {
      metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text(), () => '');
      await sleep(25);
    }
    for (const line of expected) expect(metrics).toContain(line);
  });

  it('refusal_isA429ProblemWithRetryAfterAndRateLimitHeaders', async () => {
    const r = await send(gw.port, '/addr/again');
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(r.body)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    // One token every 100 s; the bucket (20 tokens) is full again in 2,000 s.
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(90);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(100);
    expect(r.headers['ratelimit-limit']).toBe('20');
    expect(r.headers['ratelimit-remaining']).toBe('0');
    expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThan(1_990);
    expect(Number(r.headers['ratelimit-reset'])).toBeLessThanOrEqual(2_000);
    expect(up.seen.some((s) => s.url === '/addr/again')).toBe(false);
  });

  it('headerKeys_haveSeparateBuckets_andARequestWithoutTheHeaderIsKeyedByItsAddress', async () => {
    const a = await burstOf(gw.port, '/key/a', 6, 3, { 'x-api-key': 'alpha' });
    const b = await burstOf(gw.port, '/key/b', 6, 3, { 'x-api-key': 'beta' });
    const none = await burstOf(gw.port, '/key/n', 6, 3);
    // `none` got a full bucket although this address spent its /addr bucket: routes are apart.
    expect([admitted(a), admitted(b), admitted(none)]).toEqual([3, 3, 3]);
    // An empty value counts as no header: the same (now spent) address bucket.
    expect(admitted(await burstOf(gw.port, '/key/e', 2, 1, { 'x-api-key': '' }))).toBe(0);
    // A route without rateLimit is not limited.
    expect(admitted(await burstOf(gw.port, '/open/x', 30, 3))).toBe(30);
  });

  it('tokens_refillAtTheConfiguredRate', async () => {
    // 2 a second, burst 2: request until refused (a slow machine may see a refill meanwhile).
    const started = Date.now();
    let passed = 0;
    let refused: Reply | null = null;
    while (refused === null && passed < 50) {
      const r = await send(gw.port, '/refill/x');
      if (r.status === 200) passed++;
      else refused = r;
    }
    const elapsed = (Date.now() - started) / 1000;
    expect(refused?.status).toBe(429);
    expect(passed).toBeGreaterThanOrEqual(2);
    expect(passed).toBeLessThanOrEqual(2 + Math.ceil(elapsed * 2));
    expect(refused!.headers['retry-after']).toBe('1');
    // Half a second later a token is back.
    await sleep(600);
    expect((await send(gw.port, '/refill/x')).status).toBe(200);
  });

  it('configurationChange_appliesTheNewRate_toTheExistingBuckets', async () => {
    const before = await burstOf(gw.port, '/change/x', 6, 2);
    expect(admitted(before)).toBe(3);
    // Under the old rate the next token is 100 s away. The new one: 5 a second, burst 10.
    config = { ...config, routes: routes({ requestsPerSecond: 5, burst: 10 }) };
    writeFileSync(gw.configPath, JSON.stringify(config, null, 2));
    await gw.waitForLog((l) => l.msg === 'configuration applied' && l.version === 2);
    const until = Date.now() + 15_000;
    const after: Reply[] = [];
    while (admitted(after) < 5 && Date.now() < until) {
      after.push(await send(gw.port, '/change/x'));
      await sleep(50);
    }
    expect(admitted(after)).toBe(5);
    // A worker on the new configuration says so in its refusals.
    const refusals = after.filter((r) => r.status === 429 && r.headers['ratelimit-limit'] === '10');
    for (const r of refusals) expect(r.headers['retry-after']).toBe('1');
  });
});
