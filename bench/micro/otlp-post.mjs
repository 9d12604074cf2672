// OTLP export POST micro benchmark: the worker's CPU per POST of one batch body, through
// node:http with a keep-alive Agent (how spans were exported before) and through the
// forwarder's Http1Pool (how an http:// collector is posted to now; src/observability/span-export.ts).
//
// The collector is a node:http server in a child process that reads each body and answers
// 200, so this process's CPU time is the client's alone; it is pinned to CPU 0 when taskset
// exists; start this script pinned to CPU 1. One POST at a time, as the span batcher sends
// them. Cases are interleaved A B A B ... `--reps` times; each runs `--posts` POSTs after 200
// unrecorded ones. Reported: client CPU µs per POST (user+system of this process / POSTs).
//
// Usage (after `npx tsc -p .`):
//   taskset -c 1 node bench/micro/otlp-post.mjs [--bytes 180000] [--posts 2000] [--reps 3]
// 180,000 bytes is about one batch of 512 spans at the gateway's span size (protobuf).

import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Http1Pool } from '../../dist/forwarder/http1-pool.js';

const { values: args } = parseArgs({
  options: {
    bytes: { type: 'string', default: '180000' },
    posts: { type: 'string', default: '2000' },
    reps: { type: 'string', default: '3' },
    child: { type: 'boolean', default: false },
  },
});

if (args.child) {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else {
  const hasTaskset = (() => { try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); return true; } catch { return false; } })();
  const childArgs = [process.argv[1], '--child'];
  const child = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...childArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  const port = Number(String(line).trim());
  const body = Buffer.alloc(Number(args.bytes), 7);
  const url = new URL(`http://127.0.0.1:${port}/v1/traces`);

  const agent = new http.Agent({ keepAlive: true });
  const viaNodeHttp = () => new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.on('data', () => undefined);
      res.on('close', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });

  const pool = new Http1Pool({ host: '127.0.0.1', port }, { maxIdleConnections: 4, idleTimeoutMs: 4000, connectTimeoutMs: 10_000, maxResponseHeadBytes: 16 * 1024 });
  const head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/x-protobuf\r\ncontent-length: ${body.length}\r\n\r\n`;
  const viaPool = () => new Promise((resolve, reject) => {
    const exchange = pool.request({ method: 'POST', head, bodyMode: 'length', headTimeoutMs: 10_000, bodyIdleTimeoutMs: 10_000 }, {
      onHead() {}, onData() { return true; }, onEnd() { resolve(); }, onError(e) { reject(new Error(e.code)); },
    });
    exchange.writeBody(body);
    exchange.endBody();
  });

  const cases = { 'node:http Agent': viaNodeHttp, 'forwarder Http1Pool': viaPool };
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const posts = Number(args.posts);
  for (let rep = 0; rep < Number(args.reps); rep++) {
    for (const [name, post] of Object.entries(cases)) {
      for (let i = 0; i < 200; i++) await post();
      const c0 = process.cpuUsage();
      for (let i = 0; i < posts; i++) await post();
      const c = process.cpuUsage(c0);
      results[name].push((c.user + c.system) / posts);
      console.log(`rep ${rep + 1} ${name}: ${((c.user + c.system) / posts).toFixed(1)} µs CPU per POST (user ${(c.user / posts).toFixed(1)})`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`\nbody ${body.length} bytes, medians of ${args.reps}:`);
  for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(20)} ${median(xs).toFixed(1)} µs CPU per POST`);
  pool.close();
  agent.destroy();
  child.kill();
}
