import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

/** One request on a fresh connection (`connection: close`), so the kernel spreads them over the workers. */
function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

/** The value of one exact series (name plus labels as printed), or undefined. */
function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Scrape until `ok` holds (counts land just after the client has its response). */
async function scrapeUntil(port: number, ok: (body: string) => boolean, timeoutMs = 5_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let body = '';
  while (Date.now() < until) {
    // The endpoint starts listening just after the workers report ready.
    body = await scrape(port).then((r) => r.body, () => '');
    if (ok(body)) return body;
    await new Promise((r) => setTimeout(r, 25));
  }
  return body;
}

const N = 60;

describe('GET /metrics: one scrape for every worker of the instance', () => {
  let up: Upstream;
  let gw: GatewayProcess;
  let metricsPort: number;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    up = await startUpstream();
    const deadPort = await freePort();
    metricsPort = await freePort();
    config = {
      routes: [
        { id: 'echo', cluster: 'backend', match: { path: '/echo/{**rest}' } },
        { id: 'dead', cluster: 'dead', match: { path: '/dead/{**rest}' } },
      ],
      clusters: [
        { id: 'backend', destinations: [{ id: 'd0', address: `http://127.0.0.1:${up.port}` }] },
        { id: 'dead', destinations: [{ id: 'gone', address: `http://127.0.0.1:${deadPort}` }] },
      ],
    };
    gw = await startGateway({
      workers: 2, config,
      env: { GATEWAY_METRICS_PORT: String(metricsPort), GATEWAY_METRICS_HOST: '127.0.0.1', GATEWAY_ACCESS_LOG: 'on' },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('metrics_countExactlyNRequests_byRouteAndStatusClass_overBothWorkers', async () => {
    const statuses: number[] = [];
    // Batches of concurrent fresh connections: the port's two listeners each get a share.
    for (let i = 0; i < N; i += 10) statuses.push(...await Promise.all(Array.from({ length: 10 }, (_, j) => get(gw.port, `/echo/${i + j}`))));
    expect(statuses.every((s) => s === 200)).toBe(true);

    const body = await scrapeUntil(metricsPort, (b) => sample(b, 'fengling_request_duration_seconds_count{route="echo"}') === N);
    expect(sample(body, 'fengling_requests_total{route="echo",method="GET",status_class="2xx"}')).toBe(N);
    expect(sample(body, 'fengling_request_duration_seconds_count{route="echo"}')).toBe(N);
    expect(sample(body, 'fengling_request_duration_seconds_bucket{route="echo",le="+Inf"}')).toBe(N);
    expect(sample(body, 'fengling_upstream_duration_seconds_count{route="echo"}')).toBe(N);
    expect(sample(body, 'fengling_response_bytes_total{route="echo"}')).toBeGreaterThan(0);

    // Both workers served (the access log names the thread), and the scrape summed both blocks.
    const threads = new Set(gw.logs.filter((l) => l.msg === 'request').map((l) => l.thread));
    expect([...threads].sort()).toEqual([0, 1]);
  });

  it('metrics_countErrorsByCode_forA404AndA502', async () => {
    expect(await get(gw.port, '/nowhere')).toBe(404);
    expect(await get(gw.port, '/dead/x')).toBe(502);
    const body = await scrapeUntil(metricsPort, (b) => sample(b, 'fengling_errors_total{code="UPSTREAM_CONNECT_FAILED"}') === 1);
    expect(sample(body, 'fengling_errors_total{code="ROUTE_NOT_FOUND"}')).toBe(1);
    expect(sample(body, 'fengling_errors_total{code="UPSTREAM_CONNECT_FAILED"}')).toBe(1);
    expect(sample(body, 'fengling_requests_total{route="(unmatched)",method="GET",status_class="4xx"}')).toBe(1);
    expect(sample(body, 'fengling_requests_total{route="dead",method="GET",status_class="5xx"}')).toBe(1);
  });

  it('metrics_reportDestinations_withInFlightBackToZero', async () => {
    const body = await scrapeUntil(metricsPort, (b) => sample(b, 'fengling_requests_in_flight') === 0);
    expect(sample(body, 'fengling_destination_in_flight{cluster="backend",destination="d0"}')).toBe(0);
    expect(sample(body, 'fengling_destination_in_flight{cluster="dead",destination="gone"}')).toBe(0);
    expect(sample(body, 'fengling_destination_up{cluster="backend",destination="d0"}')).toBe(1);
    expect(sample(body, 'fengling_requests_in_flight')).toBe(0);
  });

  it('metrics_reportTheInstancesHealth_andTheProcessDefaults', async () => {
    const { status, type, body } = await scrape(metricsPort);
    expect(status).toBe(200);
    expect(type).toContain('text/plain');
    expect(sample(body, 'fengling_worker_restarts_total{worker="0"}')).toBe(0);
    expect(sample(body, 'fengling_worker_restarts_total{worker="1"}')).toBe(0);
    expect(sample(body, 'fengling_worker_up{worker="1"}')).toBe(1);
    expect(sample(body, 'fengling_config_version')).toBe(1);
    expect(sample(body, 'fengling_worker_config_version{worker="0"}')).toBe(1);
    expect(sample(body, 'fengling_config_changes_total{result="applied"}')).toBe(1);
    expect(sample(body, 'fengling_config_changes_total{result="rejected"}')).toBe(0);
    expect(body).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(body).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });

  it('metrics_countAConfigChange_andItsPropagationToEveryWorker', async () => {
    const next = { ...config, routes: [...(config.routes as unknown[]), { id: 'echo2', cluster: 'backend', match: { path: '/two/{**rest}' } }] };
    writeFileSync(gw.configPath, JSON.stringify(next, null, 2));
    const body = await scrapeUntil(metricsPort, (b) => sample(b, 'fengling_config_propagation_seconds_count') === 2, 10_000);
    expect(sample(body, 'fengling_config_version')).toBe(2);
    expect(sample(body, 'fengling_config_changes_total{result="applied"}')).toBe(2);
    expect(sample(body, 'fengling_worker_config_version{worker="1"}')).toBe(2);
    expect(sample(body, 'fengling_config_propagation_seconds_count')).toBe(2);
    expect(sample(body, 'fengling_config_propagation_seconds_bucket{le="+Inf"}')).toBe(2);
  });

  it('index_listsTheEndpoint_andUnknownPathsAre404', async () => {
    const index = await scrape(metricsPort, '/');
    expect(index.status).toBe(200);
    expect(index.body).toContain('/metrics');
    expect((await scrape(metricsPort, '/other')).status).toBe(404);
  });
});
