// Upstream-client micro benchmark: the cost per request of the forwarder's Http1Pool against
// undici's Client (one Client per concurrent slot, dispatch()) and undici's Pool (dispatch()),
// with no downstream server in the way (see BENCH.md, "An upstream-only loop").
//
// The upstream is a raw `net` server returning a fixed 100-byte response, in a child process
// so that this process's CPU time is the client's alone. When taskset exists the upstream is
// pinned to CPU 0; start this script pinned to CPU 1 (below) so that V8's helper threads are
// pinned with it (re-pinning a running process moves only its main thread). Each case runs `--seconds` (default 5) after a
// 2 s unrecorded warm-up; cases are interleaved A B C A B C ... `--reps` times (default 3).
//
// Reported per run: req/s, and client CPU µs per request (user+system of this process /
// requests) — the figure that survives the machine's noise best.
//
// Usage (after `npx tsc -p .`, or point FWD_DIST at another build of src/forwarder):
//   taskset -c 1 node bench/micro/upstream-client.mjs [--seconds 5] [--reps 3] [--concurrency 50]

import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Client, Pool } from 'undici';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    reps: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '50' },
    child: { type: 'boolean', default: false },
  },
});

const BODY = 'x'.repeat(100);
const RESPONSE = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

if (args.child) {
  // The upstream: answers every request head with RESPONSE. Requests carry no body.
  const net = await import('node:net');
  const response = Buffer.from(RESPONSE);
  const server = net.createServer({ noDelay: true }, (socket) => {
    let tail = '';
    socket.on('data', (d) => {
      const text = tail + d.toString('latin1');
      let count = 0;
      let at = 0;
      let i;
      while ((i = text.indexOf('\r\n\r\n', at)) >= 0) {
        count++;
        at = i + 4;
      }
      tail = text.slice(at);
      if (count === 1) socket.write(response);
      else if (count > 1) socket.write(Buffer.concat(Array(count).fill(response)));
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else {
  await main();
}

async function main() {
  const seconds = Number(args.seconds);
  const reps = Number(args.reps);
  const concurrency = Number(args.concurrency);
  const distRoot = process.env.FWD_DIST ?? path.resolve(import.meta.dirname, '../../dist/forwarder');
  const { Http1Pool } = await import(pathToFileURL(path.join(distRoot, 'http1-pool.js')).href);

  const pin = hasTaskset();
  const child = spawn(
    pin ? 'taskset' : process.execPath,
    [...(pin ? ['-c', '0', process.execPath] : []), import.meta.filename, '--child'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [portLine] = await once(child.stdout, 'data');
  const port = Number(String(portLine).trim());
  const origin = `http://127.0.0.1:${port}`;
  const host = `127.0.0.1:${port}`;

  const cases = {
    'Http1Pool (ours)': () => oursCase(Http1Pool, port, host, concurrency),
    'undici Client x N, dispatch': () => undiciClientsCase(origin, concurrency),
    'undici Pool, dispatch': () => undiciPoolCase(origin, concurrency),
  };

  console.log(`node ${process.version}, concurrency ${concurrency}, ${seconds}s per run, ${reps} reps interleaved, upstream pinned to CPU 0: ${pin}`);
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, make] of Object.entries(cases)) {
      const runner = make();
      await runner.run(2_000); // warm-up, not recorded
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const n = await runner.run(seconds * 1_000);
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      await runner.close();
      const r = { rps: n / elapsed, cpuUs: (cpu.user + cpu.system) / n };
      results[name].push(r);
      console.log(`rep ${rep + 1}  ${name.padEnd(28)} ${Math.round(r.rps).toString().padStart(7)} req/s  ${r.cpuUs.toFixed(2).padStart(6)} µs CPU/req`);
    }
  }
  console.log('\nmedian');
  for (const [name, rs] of Object.entries(results)) {
    const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`${name.padEnd(28)} ${Math.round(med(rs.map((r) => r.rps))).toString().padStart(7)} req/s  ${med(rs.map((r) => r.cpuUs)).toFixed(2).padStart(6)} µs CPU/req`);
  }
  child.kill();
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs `concurrency` request loops for `ms`; `start(slot, done)` issues one request. */
function loop(concurrency, start) {
  return (ms) => new Promise((resolve, reject) => {
    let completed = 0;
    let active = concurrency;
    const deadline = Date.now() + ms;
    const next = (slot) => {
      if (Date.now() >= deadline) {
        if (--active === 0) resolve(completed);
        return;
      }
      start(slot, (err) => {
        if (err) return reject(err);
        completed++;
        next(slot);
      });
    };
    for (let slot = 0; slot < concurrency; slot++) next(slot);
  });
}

function oursCase(Http1Pool, port, host, concurrency) {
  const pool = new Http1Pool({ host: '127.0.0.1', port }, {
    maxIdleConnections: concurrency * 2, idleTimeoutMs: 60_000, connectTimeoutMs: 5_000, maxResponseHeadBytes: 16_384,
  });
  const path = '/';
  return {
    run: loop(concurrency, (_slot, done) => {
      // Built per request, as the pipeline does.
      const head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`;
      pool.request({ method: 'GET', head, bodyMode: 'none', headTimeoutMs: 10_000, bodyIdleTimeoutMs: 10_000 }, {
        onHead() {},
        onData() { return true; },
        onEnd() { done(null); },
        onError(e) { done(new Error(e.message)); },
      });
    }),
    close: async () => pool.close(),
  };
}

/** undici's native (legacy) dispatch handler: no wrapper layer in v7's Client. */
function undiciHandler(done) {
  return {
    onConnect() {},
    onHeaders() { return true; },
    onData() { return true; },
    onComplete() { done(null); },
    onError(err) { done(err); },
  };
}

function undiciClientsCase(origin, concurrency) {
  const clients = Array.from({ length: concurrency }, () => new Client(origin, { pipelining: 1, keepAliveTimeout: 60_000 }));
  return {
    run: loop(concurrency, (slot, done) => {
      clients[slot].dispatch({ method: 'GET', path: '/' }, undiciHandler(done));
    }),
    close: () => Promise.all(clients.map((c) => c.close())),
  };
}

function undiciPoolCase(origin, concurrency) {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  return {
    run: loop(concurrency, (_slot, done) => {
      pool.dispatch({ method: 'GET', path: '/' }, undiciHandler(done));
    }),
    close: () => pool.close(),
  };
}
