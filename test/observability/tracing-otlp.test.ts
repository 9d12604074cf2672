import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig, startGateway, type GatewayProcess } from '../support/gateway.js';
import { decodeTraceExport } from '../support/otlp-decode.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

/** The fields of an OTLP/JSON span this test reads (ids are hex in OTLP/JSON). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

/**
 * A minimal OTLP/HTTP receiver: POST /v1/traces with http/json bodies, or with http/protobuf
 * ones (decoded by the test's own decoder into the JSON mapping's shape).
 */
async function startReceiver(protocol: 'json' | 'protobuf' = 'json'): Promise<{
  server: Server; port: number; spans: OtlpSpan[]; services: string[]; headers: Array<Record<string, unknown>>; close(): Promise<void>;
}> {
  const spans: OtlpSpan[] = [];
  const services: string[] = [];
  const headers: Array<Record<string, unknown>> = [];
  const contentType = protocol === 'json' ? 'application/json' : 'application/x-protobuf';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== contentType) {
        res.writeHead(404).end();
        return;
      }
      headers.push(req.headers);
      const raw = Buffer.concat(chunks);
      const body = (protocol === 'json' ? JSON.parse(raw.toString('utf8')) : decodeTraceExport(raw)) as {
        resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const rs of body.resourceSpans) {
        const name = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
        if (typeof name === 'string') services.push(name);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server, port: (server.address() as AddressInfo).port, spans, services, headers,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function get(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.boolValue);
}

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const BATCH_DELAY_MS = 50;

function tracingEnv(receiverPort: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_METRICS_PORT: '0', GATEWAY_ACCESS_LOG: 'on',
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
    OTEL_SERVICE_NAME: 'gateway-under-test', OTEL_BSP_SCHEDULE_DELAY: String(BATCH_DELAY_MS),
    ...extra,
  };
}

describe('tracing through the gateway, exported over OTLP/HTTP (http/json)', () => {
  let up: Upstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gw: GatewayProcess;

  beforeAll(async () => {
    up = await startUpstream();
    receiver = await startReceiver();
    gw = await startGateway({ workers: 2, config: simpleConfig([up.port]), env: tracingEnv(receiver.port) });
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
    await receiver?.close();
  });

  it('spans_joinTheCallersTrace_andTheUpstreamSeesTheClientSpanAsParent', async () => {
    const status = await get(gw.port, '/orders/42', { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: 'acme=1' });
    expect(status).toBe(200);

    const server = await waitFor(() => receiver.spans.find((s) => s.traceId === CALLER_TRACE && s.kind === SPAN_KIND_SERVER), 5_000);
    const client = await waitFor(() => receiver.spans.find((s) => s.traceId === CALLER_TRACE && s.kind === SPAN_KIND_CLIENT), 5_000);
    expect(server).toBeDefined();
    expect(client).toBeDefined();
    expect(server!.parentSpanId).toBe(CALLER_SPAN);
    expect(client!.parentSpanId).toBe(server!.spanId);
    expect(server!.name).toBe('GET all');
    expect(attr(server!, 'http.route')).toBe('all');
    expect(attr(server!, 'http.request.method')).toBe('GET');
    expect(attr(server!, 'url.path')).toBe('/orders/42');
    expect(Number(attr(server!, 'http.response.status_code'))).toBe(200);
    expect(attr(client!, 'server.address')).toBe('127.0.0.1');
    expect(Number(attr(client!, 'server.port'))).toBe(up.port);
    expect(attr(client!, 'fengling.destination.id')).toBe('d0');
    expect(receiver.services).toContain('gateway-under-test');

    const seen = up.seen.find((r) => r.url === '/orders/42')!;
    expect(seen.headers.traceparent).toBe(`00-${CALLER_TRACE}-${client!.spanId}-01`);
    expect(seen.headers.tracestate).toBe('acme=1');

    // The request's access log line carries its ids.
    const line = await gw.waitForLog((l) => l.msg === 'request' && (l.access as { path: string }).path === '/orders/42');
    expect(line.trace_id).toBe(CALLER_TRACE);
    expect(line.span_id).toBe(server!.spanId);
  });

  it('spans_startANewTrace_whenTheCallerSentNone', async () => {
    expect(await get(gw.port, '/fresh', {})).toBe(200);
    const seen = await waitFor(() => up.seen.find((r) => r.url === '/fresh'), 2_000);
    const traceparent = String(seen!.headers.traceparent);
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, parent] = traceparent.split('-');
    const client = await waitFor(() => receiver.spans.find((s) => s.spanId === parent), 5_000);
    expect(client?.kind).toBe(SPAN_KIND_CLIENT);
    const server = receiver.spans.find((s) => s.spanId === client!.parentSpanId);
    expect(server?.traceId).toBe(traceId);
    expect(server?.parentSpanId || undefined).toBeUndefined();
  });

  it('spans_respectAnUnsampledCaller_andForwardItsTraceparentUnchanged', async () => {
    const unsampled = `00-${CALLER_TRACE.replace(/^4/, '5')}-${CALLER_SPAN}-00`;
    expect(await get(gw.port, '/unsampled', { traceparent: unsampled })).toBe(200);
    const seen = await waitFor(() => up.seen.find((r) => r.url === '/unsampled'), 2_000);
    expect(seen!.headers.traceparent).toBe(unsampled);
    await new Promise((r) => setTimeout(r, BATCH_DELAY_MS * 8));
    expect(receiver.spans.filter((s) => s.traceId === unsampled.split('-')[1])).toEqual([]);
  });
});

describe('tracing with OTEL_TRACES_SAMPLER=always_off', () => {
  it('sampler_alwaysOff_sendsNoSpan_andPassesTheCallersTraceparentOn', async () => {
    const up = await startUpstream();
    const receiver = await startReceiver();
    const gw = await startGateway({ workers: 2, config: simpleConfig([up.port]), env: tracingEnv(receiver.port, { OTEL_TRACES_SAMPLER: 'always_off' }) });
    try {
      const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
      for (let i = 0; i < 5; i++) expect(await get(gw.port, `/off/${i}`, { traceparent })).toBe(200);
      // Several batch periods: a sampled span would have been exported by now.
      await new Promise((r) => setTimeout(r, BATCH_DELAY_MS * 10));
      expect(receiver.spans).toEqual([]);
      expect(up.seen.filter((r) => r.url.startsWith('/off/')).map((r) => r.headers.traceparent)).toEqual(Array(5).fill(traceparent));
      const line = await gw.waitForLog((l) => l.msg === 'request');
      expect(line.trace_id).toBeUndefined();
    } finally {
      await gw.stop();
      await up.close();
      await receiver.close();
    }
  });
});

describe('tracing exported over OTLP/HTTP (http/protobuf, the default), flushed when the gateway stops', () => {
  it('spans_reachTheCollectorOnShutdown_asProtobuf_withTheConfiguredHeaders', async () => {
    const up = await startUpstream();
    const receiver = await startReceiver('protobuf');
    // A schedule delay far past the test: only the drain on shutdown exports these spans.
    const env = tracingEnv(receiver.port, { OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k%201' });
    delete env.OTEL_EXPORTER_OTLP_PROTOCOL;
    const gw = await startGateway({ workers: 2, config: simpleConfig([up.port]), env });
    try {
      const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
      for (let i = 0; i < 4; i++) expect(await get(gw.port, `/pb/${i}`, { traceparent, tracestate: 'acme=1' })).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.spans).toEqual([]);
    } finally {
      await gw.stop();
      await up.close();
    }
    try {
      const servers = receiver.spans.filter((s) => s.kind === SPAN_KIND_SERVER);
      const clients = receiver.spans.filter((s) => s.kind === SPAN_KIND_CLIENT);
      expect(servers).toHaveLength(4);
      expect(clients).toHaveLength(4);
      for (const server of servers) {
        expect(server.traceId).toBe(CALLER_TRACE);
        expect(server.parentSpanId).toBe(CALLER_SPAN);
        expect((server as unknown as { traceState: string }).traceState).toBe('acme=1');
        expect(attr(server, 'url.path')).toMatch(/^\/pb\/\d$/);
        expect(attr(server, 'http.response.status_code')).toBe(200);
      }
      // Every client span is the child of one of the server spans, one each.
      expect(clients.map((c) => c.parentSpanId).sort()).toEqual(servers.map((s) => s.spanId).sort());
      for (const client of clients) expect(attr(client, 'server.port')).toBe(up.port);
      const seen = up.seen.filter((r) => r.url.startsWith('/pb/')).map((r) => String(r.headers.traceparent).split('-')[2]);
      expect(seen.sort()).toEqual(clients.map((c) => c.spanId).sort());
      expect(receiver.services).toContain('gateway-under-test');
      expect(receiver.headers.every((h) => h['x-collector-key'] === 'k 1')).toBe(true);
    } finally {
      await receiver.close();
    }
  });
});
