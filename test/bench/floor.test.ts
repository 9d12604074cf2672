/**
 * bench/floor/relay.mjs claims to do the bench's nginx job (docs/benchmarks.md, "The
 * architecture's floor"): this checks that job end to end, over real sockets, so that its
 * CPU per request is the floor of a relay that works and not of one that skips the work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

const RELAY = fileURLToPath(new URL('../../bench/floor/relay.mjs', import.meta.url));
const LARGE = Buffer.alloc(64 * 1024);
for (let i = 0; i < LARGE.length; i++) LARGE[i] = (i * 7) & 0xff;

let upstream: Upstream;
let relay: ChildProcess;
let base: string;
let upstreamConnections = 0;
let banner = '';

function answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  if (req.url === '/large') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE.length });
    res.end(LARGE);
    return;
  }
  if (req.url === '/dropped-between') {
    // Hop-by-hop and framing lines between kept ones: the kept head comes in three runs.
    res.writeHead(200, [['x-a', '1'], ['connection', 'keep-alive'], ['x-b', '2'], ['content-length', '5'], ['keep-alive', 'timeout=30'], ['x-c', '3']]);
    res.end('hello');
    return;
  }
  if (req.url === '/chunked') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a');
    res.end('b');
    return;
  }
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length });
  res.writeHead(201, { 'content-type': 'application/json', 'x-from-upstream': 'yes', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

describe.each<[string, string[]]>([['main thread', []], ['worker thread (--thread)', ['--thread']]])('the floor relay, %s', (_mode, extraArgs) => {
  beforeAll(async () => {
    upstream = await startUpstream(answer);
    upstreamConnections = 0;
    upstream.server.on('connection', () => { upstreamConnections++; });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    relay = spawn(process.execPath, [RELAY, '--port', String(port), '--upstream', `127.0.0.1:${upstream.port}`, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    relay.stderr!.on('data', (d: Buffer) => { errors += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      relay.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('listening')) { banner = d.toString(); resolve(); } });
      relay.on('exit', (code) => reject(new Error(`relay exited with ${code}: ${errors}`)));
    });
  });

  afterAll(async () => {
    relay?.kill();
    await upstream?.close();
  });

  it('servesFromTheThreadItWasAskedFor', () => {
    expect(banner.includes('(worker thread)')).toBe(extraArgs.length > 0);
  });

  it('forwardsMethodPathQueryAndHeaders_withTheForwardedTrio_andRelaysStatusAndHeaders', async () => {
    const r = await fetch(`${base}/some/path?x=1&y=2`, { headers: { 'x-client': 'abc', 'x-forwarded-for': 'spoofed' } });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-from-upstream')).toBe('yes');
    expect(r.headers.get('content-type')).toBe('application/json');
    const seen = await r.json() as { method: string; url: string; headers: Record<string, string> };
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/some/path?x=1&y=2');
    expect(seen.headers['x-client']).toBe('abc');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(base).host);
    expect(seen.headers.host).toBe(new URL(base).host);
  });

  it('passesANonAsciiHeaderValue_byteForByte', async () => {
    // UTF-8 bytes, given to fetch as the latin1 characters it sends as those bytes. (Not at the
    // value's end: uWS 20.30 cuts bytes >= 0x80 there, docs/architecture.md, Request parsing.)
    const utf8Bytes = Buffer.from('aë✓b', 'utf8').toString('latin1');
    const r = await fetch(`${base}/utf8`, { headers: { 'x-name': utf8Bytes } });
    const seen = await r.json() as { headers: Record<string, string> };
    expect(Buffer.from(seen.headers['x-name'], 'latin1').toString('utf8')).toBe('aë✓b');
  });

  it('reusesOneUpstreamConnection_forSequentialRequests', async () => {
    const before = upstreamConnections;
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${base}/n${i}`);
      expect(((await r.json()) as { url: string }).url).toBe(`/n${i}`);
    }
    expect(upstreamConnections - before).toBeLessThanOrEqual(1);
  });

  it('relaysA64KiBResponse_byteForByte', async () => {
    const r = await fetch(`${base}/large`);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(LARGE)).toBe(true);
  });

  it('relaysTheKeptLines_whenDroppedOnesSitBetweenThem', async () => {
    const r = await fetch(`${base}/dropped-between`);
    expect(r.status).toBe(200);
    expect([r.headers.get('x-a'), r.headers.get('x-b'), r.headers.get('x-c')]).toEqual(['1', '2', '3']);
    expect(r.headers.get('keep-alive')).toBeNull();
    expect(await r.text()).toBe('hello');
  });

  it('forwardsARequestBody', async () => {
    const r = await fetch(`${base}/post`, { method: 'POST', body: Buffer.alloc(16 * 1024, 1) });
    const seen = await r.json() as { method: string; bodyBytes: number };
    expect(seen.method).toBe('POST');
    expect(seen.bodyBytes).toBe(16 * 1024);
  });

  it('answers502_toAResponseItCannotFrame', async () => {
    const r = await fetch(`${base}/chunked`);
    expect(r.status).toBe(502);
    const after = await fetch(`${base}/still-serving`);
    expect(after.status).toBe(201);
  });
});
