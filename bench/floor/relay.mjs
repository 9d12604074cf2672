#!/usr/bin/env node
/**
 * The architecture's floor: the least a relay built from the gateway's own parts (uWS.js for
 * the clients, Node's `net` for the upstream, JavaScript between them) has to do to proxy the
 * benchmark's requests, and nothing more. No routing, no config, no metrics, no balancing, no
 * timeouts, one fixed upstream; the main thread serves unless --thread. It does the same job as the bench's nginx
 * (docs/benchmarks.md, "Same job"): the client's method, path, query and headers upstream over
 * a keep-alive pool, with Host and the X-Forwarded-* trio; the status, headers and body back,
 * hop-by-hop headers dropped.
 *
 * What it is for: its CPU per request, measured beside nginx in one run (case `floor-1w`),
 * is the lowest any gateway of this architecture can reach on the machine. The gateway's
 * distance to it is what the gateway's features and safety cost; the floor's distance to
 * nginx is what the architecture costs, out of reach of any change to the gateway's code.
 *
 * Scope: Content-Length framed requests and responses only (the upstream of bench/ sends no
 * other); a chunked response or a broken upstream gets a 502. Not a product: it skips every
 * check a proxy facing the Internet must make.
 *
 *   node bench/floor/relay.mjs --port P --upstream HOST:PORT [--thread]
 *
 * --thread serves from one worker thread, the main thread idle, as the gateway does: the two
 * cases (floor-1w, floor-1w-thread) price that part of the architecture.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { isMainThread, Worker } from 'node:worker_threads';
// The gateway's own pieces where the job is the same (npm run build first): the native-uWS
// check, the client address's text, the request headers a proxy never forwards.
import { loadNativeUws } from '../../dist/worker/uws.js';
import { addressText } from '../../dist/worker/client-address.js';
import { skipRequestHeader } from '../../dist/transforms/headers.js';

const { values: opts } = parseArgs({
  options: { port: { type: 'string' }, upstream: { type: 'string' }, thread: { type: 'boolean' }, help: { type: 'boolean' } },
});
if (opts.help || !opts.port || !opts.upstream) {
  console.log('usage: node bench/floor/relay.mjs --port P --upstream HOST:PORT [--thread]\n' +
    '  --thread  serve from one worker thread, as the gateway does (the main thread idles)');
  process.exit(opts.help ? 0 : 2);
}
const [upstreamHost, upstreamPortText] = opts.upstream.split(':');
const upstreamPort = Number(upstreamPortText);

const CR = 13;
const COLON = 58;

/** One read buffer shared by every upstream socket: each read is consumed before the next. */
const readBuffer = Buffer.allocUnsafe(64 * 1024);
/** Where a response's kept head lines are gathered for the one writeStatus. */
const headScratch = Buffer.allocUnsafe(16 * 1024);
const idle = [];

/** Lower-case ASCII compare of buf[at, at + name.length) with `name` (already lower case). */
function nameIs(buf, at, end, name) {
  if (end - at !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if ((buf[at + i] | 0x20) !== name.charCodeAt(i)) return false;
  }
  return true;
}

class Upstream {
  constructor() {
    this.exchange = null;
    /** Bytes of an unfinished response kept from earlier reads (a copy), or null. */
    this.carry = null;
    this.socket = net.connect({
      host: upstreamHost,
      port: upstreamPort,
      noDelay: true,
      onread: { buffer: readBuffer, callback: (n, buf) => this.onRead(buf, n) },
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.onClose());
  }

  send(exchange, head) {
    this.exchange = exchange;
    // UTF-8, as the gateway: uWS makes header strings from UTF-8, latin1 would mangle non-ASCII values.
    this.socket.write(head, 'utf8');
  }

  onRead(buf, n) {
    let bytes = buf;
    let end = n;
    if (this.carry !== null) {
      bytes = Buffer.concat([this.carry, buf.subarray(0, n)]);
      end = bytes.length;
      this.carry = null;
    }
    const done = this.exchange === null ? -1 : respond(this.exchange, bytes, end);
    if (done === 0) {
      this.carry = Buffer.from(bytes.subarray(0, end)); // incomplete: keep a copy, the read buffer is shared
      return;
    }
    if (done < 0 || done !== end) {
      this.socket.destroy(); // error, or bytes past the response: not a reusable connection
      return;
    }
    this.exchange = null;
    idle.push(this);
  }

  onClose() {
    const i = idle.indexOf(this);
    if (i >= 0) idle.splice(i, 1);
    const exchange = this.exchange;
    this.exchange = null;
    if (exchange !== null) fail(exchange);
  }
}

/** Kept runs of the head being relayed: [start, end) pairs of byte offsets. */
const runs = new Int32Array(64);

/** Copies b[from, to) to headScratch at `at`; returns where it ended. Head lines are short: a loop beats a native call. */
function copy(b, from, to, at) {
  for (let k = from; k < to; k++) headScratch[at++] = b[k];
  return at;
}

/**
 * Answers the client from a whole response in `b` [0, end): the number of bytes it used, 0
 * when the response is not whole yet, -1 when it cannot be relayed (answered 502).
 *
 * The kept head (the status text and every line but Content-Length and the hop-by-hop ones)
 * goes to uWS in one writeStatus, as the gateway does (docs/performance.md, change 15): when
 * the dropped lines are at the end or absent, as from nginx, that is one view of the read
 * buffer, copied nowhere; otherwise the kept runs are joined in a scratch buffer.
 */
function respond(exchange, b, end) {
  const statusStart = 9; // "HTTP/1.1 "
  let line = statusStart;
  while (line < end && b[line] !== CR) line++;
  line += 2;
  let runStart = statusStart;
  let runCount = 0;
  let length = -1;
  for (;;) {
    if (line + 1 >= end) return 0;
    if (b[line] === CR) break;
    let eol = line;
    while (eol < end && b[eol] !== CR) eol++;
    if (eol + 1 >= end) return 0;
    // Only names starting with c, t or k can be dropped: others skip the name scan.
    const first = b[line] | 0x20;
    let drop = false;
    if (first === 0x63 || first === 0x74 || first === 0x6b) {
      let colon = line;
      while (colon < eol && b[colon] !== COLON) colon++;
      if (nameIs(b, line, colon, 'content-length')) {
        length = 0;
        for (let k = colon + 1; k < eol; k++) if (b[k] !== 32) length = length * 10 + (b[k] - 48);
        drop = true;
      } else if (nameIs(b, line, colon, 'transfer-encoding')) {
        fail(exchange);
        return -1;
      } else {
        drop = nameIs(b, line, colon, 'connection') || nameIs(b, line, colon, 'keep-alive');
      }
    }
    if (drop) {
      if (runStart >= 0) { runs[runCount++] = runStart; runs[runCount++] = line - 2; }
      runStart = -1;
    } else if (runStart < 0) {
      if (runCount === runs.length) { fail(exchange); return -1; }
      runStart = line - 2; // with the CRLF before the line
    }
    line = eol + 2;
  }
  if (runStart >= 0) { runs[runCount++] = runStart; runs[runCount++] = line - 2; }
  line += 2;
  if (length < 0) { fail(exchange); return -1; }
  if (end - line < length) return 0;
  if (!exchange.aborted) {
    let head;
    if (runCount === 2) {
      head = new Uint8Array(b.buffer, b.byteOffset + runs[0], runs[1] - runs[0]);
    } else {
      let out = 0;
      for (let r = 0; r < runCount; r += 2) {
        if (out + runs[r + 1] - runs[r] > headScratch.length) { fail(exchange); return -1; }
        out = copy(b, runs[r], runs[r + 1], out);
      }
      head = new Uint8Array(headScratch.buffer, headScratch.byteOffset, out);
    }
    const res = exchange.res;
    const body = new Uint8Array(b.buffer, b.byteOffset + line, length);
    res.cork(() => res.writeStatus(head).end(body));
  }
  return line + length;
}

function fail(exchange) {
  if (exchange.aborted) return;
  exchange.aborted = true;
  const res = exchange.res;
  res.cork(() => res.writeStatus('502 Bad Gateway').end('bad gateway\n'));
}

function serve() {
  loadNativeUws().App().any('/*', handle).listen('127.0.0.1', Number(opts.port), (token) => {
    if (!token) {
      console.error(`relay-floor: cannot listen on 127.0.0.1:${opts.port}`);
      process.exit(1);
    }
    console.log(`relay-floor: listening on http://127.0.0.1:${opts.port}, upstream ${opts.upstream}${isMainThread ? '' : ' (worker thread)'}`);
  });
}

function handle(res, req) {
  const exchange = { res, aborted: false };
  res.onAborted(() => { exchange.aborted = true; });
  const query = req.getQuery();
  let host = '';
  let contentLength = 0;
  let head = `${req.getCaseSensitiveMethod()} ${query ? `${req.getUrl()}?${query}` : req.getUrl()} HTTP/1.1\r\n`;
  req.forEach((name, value) => {
    if (name === 'host') host = value;
    else if (name === 'content-length') contentLength = Number(value);
    else if (!skipRequestHeader(name)) head += `${name}: ${value}\r\n`;
  });
  if (contentLength > 0) head += `content-length: ${contentLength}\r\n`;
  head += `host: ${host}\r\nx-forwarded-for: ${addressText(res.getRemoteAddress())}\r\nx-forwarded-proto: http\r\nx-forwarded-host: ${host}\r\n\r\n`;
  const upstream = idle.length > 0 ? idle.pop() : new Upstream();
  upstream.send(exchange, head);
  if (contentLength > 0) {
    res.onData((chunk) => {
      if (!exchange.aborted) upstream.socket.write(Buffer.from(chunk.slice(0)));
    });
  }
}

if (opts.thread && isMainThread) {
  new Worker(new URL(import.meta.url), { argv: process.argv.slice(2) });
} else {
  serve();
}
