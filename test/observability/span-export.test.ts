import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ByteWriter, OtlpJsonEncoder, OtlpProtobufEncoder } from '../../src/observability/otlp-encode.js';
import { OtlpHttpExporter, PendingBatch, SpanBatcher, type BatchSettings, type SpanExporter } from '../../src/observability/span-export.js';
import { SpanClock, SpanRecord, SPAN_KIND_SERVER } from '../../src/observability/span-record.js';
import { decodeTraceExport } from '../support/otlp-decode.js';

function span(i: number): SpanRecord {
  const s = SpanRecord.withHexIds('4bf92f3577b34da6a3ce929d0e0e4736', (i + 1).toString(16).padStart(16, '0'), null, false, null, SPAN_KIND_SERVER, `GET ${i}`, i);
  s.endTime = i + 1;
  return s;
}

/** An exporter that keeps its batches; `hold` makes exports wait until released. */
function memoryExporter() {
  const batches: SpanRecord[][] = [];
  let hold: Promise<void> | null = null;
  let release = (): void => undefined;
  const exporter: SpanExporter & { shutdowns: number } = {
    encoder: null,
    shutdowns: 0,
    async export(batch) {
      batches.push([...batch.records!]);
      if (hold !== null) await hold;
    },
    shutdown() {
      this.shutdowns++;
    },
  };
  return {
    exporter, batches,
    holdExports() {
      hold = new Promise((r) => { release = r; });
    },
    releaseExports() {
      hold = null;
      release();
    },
  };
}

const settings = (over: Partial<BatchSettings> = {}): BatchSettings => ({ scheduledDelayMillis: 20, exportTimeoutMillis: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, ...over });

async function waitFor(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('SpanBatcher (BatchSpanProcessor rules)', () => {
  it('add_exportsAfterTheScheduledDelay_inBatchesOfAtMostMaxExportBatchSize', async () => {
    const m = memoryExporter();
    const b = new SpanBatcher(m.exporter, settings({ maxExportBatchSize: 4 }), () => undefined, () => undefined);
    for (let i = 0; i < 10; i++) b.add(span(i));
    await waitFor(() => m.batches.flat().length === 10);
    expect(m.batches.map((x) => x.length)).toEqual([4, 4, 2]);
    expect(m.batches.flat().map((s) => s.name)).toEqual(Array.from({ length: 10 }, (_, i) => `GET ${i}`));
  });

  it('add_encodesEachSpanAsItEnds_whenTheExporterHasAnEncoder_andReusesWriters', async () => {
    const encoder = new OtlpJsonEncoder({ resource: {}, scopeName: 'fengling-gateway' }, new SpanClock());
    const bodies: string[][] = [];
    const writers: ByteWriter[] = [];
    const taken: ByteWriter[] = [];
    const exporter: SpanExporter = {
      encoder,
      takeWriter() {
        const w = writers.pop() ?? new ByteWriter(256);
        taken.push(w);
        return w;
      },
      async export(batch) {
        const body = JSON.parse(encoder.finish(batch.writer!).toString('utf8')) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
        bodies.push(body.resourceSpans[0].scopeSpans[0].spans.map((x) => x.name));
        writers.push(batch.writer!);
      },
      shutdown() {},
    };
    const b = new SpanBatcher(exporter, settings({ maxExportBatchSize: 3 }), () => undefined, () => undefined);
    for (let i = 0; i < 7; i++) {
      const s = span(i);
      b.add(s);
      // Encoded when added: what happens to the record afterwards is not exported.
      (s as { name: string }).name = 'changed';
    }
    expect(b.queued).toBe(7);
    await waitFor(() => bodies.flat().length === 7);
    expect(bodies).toEqual([['GET 0', 'GET 1', 'GET 2'], ['GET 3', 'GET 4', 'GET 5'], ['GET 6']]);
    expect(b.queued).toBe(0);
    // Three batches were open at once; later ones take the writers of finished ones.
    for (let i = 7; i < 10; i++) b.add(span(i));
    await waitFor(() => bodies.flat().length === 10);
    expect(taken).toHaveLength(4);
    expect(new Set(taken).size).toBe(3);
  });

  it('add_dropsPastMaxQueueSize_andCountsTheDrops', async () => {
    const m = memoryExporter();
    const drops: number[] = [];
    const b = new SpanBatcher(m.exporter, settings({ maxQueueSize: 5, maxExportBatchSize: 5, scheduledDelayMillis: 60_000 }), () => undefined, (n) => drops.push(n));
    m.holdExports();
    for (let i = 0; i < 5; i++) b.add(span(i)); // a full batch: exported at once (next turn), then held
    await waitFor(() => m.batches.length === 1);
    for (let i = 5; i < 13; i++) b.add(span(i)); // 5 fit in the queue, 3 are dropped
    expect(b.queued).toBe(5);
    m.releaseExports();
    await waitFor(() => m.batches.length === 2);
    expect(drops).toEqual([3]);
    expect(m.batches[1].map((s) => s.name)).toEqual(['GET 5', 'GET 6', 'GET 7', 'GET 8', 'GET 9']);
  });

  it('export_isAbandonedAfterTheExportTimeout_andTheNextBatchGoes', async () => {
    const m = memoryExporter();
    const errors: Error[] = [];
    const b = new SpanBatcher(m.exporter, settings({ exportTimeoutMillis: 50, maxExportBatchSize: 2 }), (e) => errors.push(e), () => undefined);
    m.holdExports();
    for (let i = 0; i < 4; i++) b.add(span(i));
    await waitFor(() => m.batches.length === 2);
    expect(errors.map((e) => e.message)).toContain('export timed out after 50 ms');
    m.releaseExports();
  });

  it('shutdown_exportsEverythingQueued_andStopsTakingSpans', async () => {
    const m = memoryExporter();
    const b = new SpanBatcher(m.exporter, settings({ scheduledDelayMillis: 60_000, maxExportBatchSize: 3 }), () => undefined, () => undefined);
    for (let i = 0; i < 2; i++) b.add(span(i));
    await b.shutdown();
    expect(m.batches.flat()).toHaveLength(2);
    expect(m.exporter.shutdowns).toBe(1);
    b.add(span(9));
    expect(b.queued).toBe(0);
  });
});

describe('OtlpHttpExporter against a real HTTP receiver', () => {
  let server: Server | null = null;
  afterEach(async () => {
    if (server !== null) await new Promise<void>((r) => { server!.closeAllConnections(); server!.close(() => r()); });
    server = null;
  });

  /** A receiver answering with `statuses` in turn (then 200), keeping every request and counting connections. */
  async function receiver(statuses: number[], answerBody = '') {
    const requests: Array<{ headers: IncomingHttpHeaders; body: Buffer; method: string; url: string }> = [];
    const counts = { connections: 0 };
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({ headers: req.headers, body: Buffer.concat(chunks), method: req.method ?? '', url: req.url ?? '' });
        res.writeHead(statuses.shift() ?? 200, { 'retry-after': '0' }).end(answerBody);
      });
    });
    server.on('connection', () => { counts.connections++; });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, requests, counts };
  }

  const origin = { resource: { 'service.name': 'edge' }, scopeName: 'fengling-gateway' };
  const clock = new SpanClock();

  it('export_postsProtobuf_retriesA503_withTheHeaders', async () => {
    const r = await receiver([503]);
    const exporter = new OtlpHttpExporter(new OtlpProtobufEncoder(origin, clock), { url: r.url, headers: { authorization: 'Bearer x' }, timeoutMillis: 5000, compression: 'none' });
    await exporter.export(PendingBatch.of(exporter, [span(0), span(1)]));
    exporter.shutdown();
    expect(r.requests).toHaveLength(2);
    expect(r.requests[1]).toMatchObject({ method: 'POST', url: '/v1/traces' });
    expect(r.requests[1].headers).toMatchObject({ 'content-type': 'application/x-protobuf', authorization: 'Bearer x', 'user-agent': 'fengling-gateway-otlp' });
    expect(r.requests[1].headers['content-length']).toBe(String(r.requests[1].body.length));
    const decoded = decodeTraceExport(r.requests[1].body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }> };
    expect(decoded.resourceSpans[0].scopeSpans[0].spans).toHaveLength(2);
  });

  it('export_keepsItsOwnHeaders_whenTheUsersNameThemToo', async () => {
    const r = await receiver([200]);
    const exporter = new OtlpHttpExporter(new OtlpProtobufEncoder(origin, clock), {
      url: r.url, headers: { 'Content-Type': 'text/plain', 'User-Agent': 'other', Host: 'elsewhere', 'x-tenant': 't1' }, timeoutMillis: 5000, compression: 'none',
    });
    await exporter.export(PendingBatch.of(exporter, [span(0)]));
    exporter.shutdown();
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0].headers).toMatchObject({ 'content-type': 'application/x-protobuf', 'user-agent': 'fengling-gateway-otlp', 'x-tenant': 't1' });
    expect(r.requests[0].headers.host).toBe(new URL(r.url).host);
  });

  it('export_rejects_onANonRetryableAnswer_withoutRetrying', async () => {
    const r = await receiver([400]);
    const exporter = new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url: r.url, headers: {}, timeoutMillis: 5000, compression: 'none' });
    await expect(exporter.export(PendingBatch.of(exporter, [span(0)]))).rejects.toThrow('collector answered 400');
    exporter.shutdown();
    expect(r.requests).toHaveLength(1);
  });

  it('export_gzipsTheBody_whenCompressionIsGzip', async () => {
    const r = await receiver([]);
    const exporter = new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url: r.url, headers: {}, timeoutMillis: 5000, compression: 'gzip' });
    await exporter.export(PendingBatch.of(exporter, [span(3)]));
    exporter.shutdown();
    expect(r.requests[0].headers['content-encoding']).toBe('gzip');
    const body = JSON.parse(gunzipSync(r.requests[0].body).toString('utf8')) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
    expect(body.resourceSpans[0].scopeSpans[0].spans[0].name).toBe('GET 3');
  });

  it('export_reusesOneKeepAliveConnection_forBatchAfterBatch', async () => {
    const r = await receiver([]);
    const exporter = new OtlpHttpExporter(new OtlpProtobufEncoder(origin, clock), { url: r.url, headers: {}, timeoutMillis: 5000, compression: 'none' });
    for (let i = 0; i < 5; i++) await exporter.export(PendingBatch.of(exporter, [span(i)]));
    exporter.shutdown();
    expect(r.requests).toHaveLength(5);
    expect(r.counts.connections).toBe(1);
  });

  it('export_rejects_onAnAnswerLargerThan64KiB_withoutRetrying', async () => {
    const r = await receiver([], 'x'.repeat(70 * 1024));
    const exporter = new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url: r.url, headers: {}, timeoutMillis: 5000, compression: 'none' });
    await expect(exporter.export(PendingBatch.of(exporter, [span(0)]))).rejects.toThrow('more than 65536 bytes');
    exporter.shutdown();
    expect(r.requests).toHaveLength(1);
  });

  it('constructor_refusesAHeaderThatCouldSplitTheRequest', () => {
    const url = 'http://127.0.0.1:4318/v1/traces';
    expect(() => new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url, headers: { 'x-a': 'b\r\nx-injected: 1' }, timeoutMillis: 5000, compression: 'none' })).toThrow(/control character/);
    expect(() => new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url, headers: { 'bad name': 'v' }, timeoutMillis: 5000, compression: 'none' })).toThrow(/not a valid header name/);
  });

  it('export_rejects_whenNothingListens', async () => {
    const r = await receiver([]);
    const url = r.url;
    await new Promise<void>((done) => server!.close(() => done()));
    server = null;
    const exporter = new OtlpHttpExporter(new OtlpJsonEncoder(origin, clock), { url, headers: {}, timeoutMillis: 300, compression: 'none' });
    await expect(exporter.export(PendingBatch.of(exporter, [span(0)]))).rejects.toThrow(/ECONNREFUSED/);
    exporter.shutdown();
  });
});
