/**
 * Micro-benchmark of header handling on the hot path (src/transforms), per worker thread:
 *
 *   npm run build && node bench/micro/transforms.mjs [--quick]
 *
 * - request head: buildRequestHead (the upstream head the pipeline sends) for a 10-header
 *   request, with no transforms, with three header transforms, and with an auth verdict that
 *   strips Authorization and adds two claim headers;
 * - response headers: the per-header filter the pipeline applies before writing a 6-header
 *   response (hop-by-hop table, the route's drop set, lower-casing through the bounded cache).
 */
import Benchmark from 'benchmark';
import { compileRoute } from '../../dist/transforms/compile.js';
import { lowerName, skipResponseHeader } from '../../dist/transforms/headers.js';
import { buildRequestHead } from '../../dist/transforms/request-head.js';

const quick = process.argv.includes('--quick');
const opts = quick ? { maxTime: 0.5, minSamples: 5 } : { maxTime: 2 };

const headers = [
  'host', 'api.example.com', 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) bench', 'accept', 'application/json',
  'accept-encoding', 'gzip, deflate, br', 'accept-language', 'en-GB,en;q=0.9', 'connection', 'keep-alive',
  'x-request-id', 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', 'cookie', 'session=abc123; theme=dark',
  'authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig', 'x-forwarded-for', '203.0.113.9',
];
const plain = compileRoute({ id: 'plain', cluster: 'c', match: { path: '/{**rest}' } }, 0);
const transformed = compileRoute({
  id: 'transformed', cluster: 'c', match: { path: '/api/{**rest}' },
  transforms: [{ pathRemovePrefix: '/api' }, { requestHeader: 'x-env', set: 'prod' }, { requestHeaderRemove: 'cookie' }, { requestHeader: 'x-tag', append: 'gw' }],
}, 1);
const authRemove = new Set(['authorization']);
const authAdd = ['x-user-id', 'u-1234', 'x-tenant', 'acme'];

const responseHeaders = ['Content-Type', 'application/json', 'Content-Length', '100', 'Date', 'Sat, 28 Nov 2026 22:00:00 GMT',
  'Cache-Control', 'no-store', 'Connection', 'keep-alive', 'X-Upstream', 'svc-7'];
const responseDrop = new Set(['x-upstream']);

let sink = 0;
new Benchmark.Suite()
  .add('request head, no transforms', () => {
    sink += buildRequestHead('GET', '/orders/42?x=1', headers, plain, null, null, false, '127.0.0.1', 'api.example.com', -1, false).length;
  }, opts)
  .add('request head, 3 header transforms + path rewrite', () => {
    const path = transformed.rewritePath('/api/orders/42');
    sink += buildRequestHead('GET', path, headers, transformed, null, null, false, '127.0.0.1', 'api.example.com', -1, false).length;
  }, opts)
  .add('request head, auth verdict (strip 1, add 2)', () => {
    sink += buildRequestHead('GET', '/orders/42', headers, plain, authRemove, authAdd, false, '127.0.0.1', 'api.example.com', -1, false).length;
  }, opts)
  .add('response headers, filter 6 (1 dropped by the route)', () => {
    for (let i = 0; i < responseHeaders.length; i += 2) {
      const lower = lowerName(responseHeaders[i]);
      if (skipResponseHeader(lower) || responseDrop.has(lower)) continue;
      sink += lower.length;
    }
  }, opts)
  .on('cycle', (e) => {
    const t = e.target;
    console.log(`${t.name.padEnd(52)} ${Math.round(t.hz).toLocaleString('en').padStart(12)} ops/s  ${(1e9 / t.hz).toFixed(0).padStart(6)} ns/op  ±${t.stats.rme.toFixed(1)}%`);
  })
  .on('complete', () => { if (sink === 42) console.log(''); })
  .run();
