/**
 * The upstream response parser alone: nginx's 100-byte answer (status line, five header lines,
 * body) parsed again and again in one thread, as the forwarder parses each response.
 *
 * Usage (after `npm run build`): taskset -c 1 node bench/micro/parse-loop.mjs
 * Environment: REPS (5) rounds of N (1,000,000) responses; prints ns per response per round.
 * Under callgrind (`REPS=1 N=100000` and `N=300000`, the difference of the two totals / 200,000)
 * it gives instructions per response without the machine's noise. Run node with
 * `--single-threaded` there: with V8 compiling on its own threads, when the optimized code
 * arrives depends on callgrind's scheduling (a loop of 200,000 once counted more than one of 400,000).
 *   REPS=1 N=100000 valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded bench/micro/parse-loop.mjs
 */
import { ResponseParser, PARSE_COMPLETE } from '../../dist/forwarder/response-parser.js';

const head = 'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 03:24:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n';
const buf = Buffer.alloc(65536);
const n = buf.write(head + 'x'.repeat(100), 0, 'latin1');
const parser = new ResponseParser(65536);

function once() {
  parser.start(false);
  let off = 0;
  let ev;
  do {
    ev = parser.execute(buf, off, n);
    off = parser.offset;
  } while (ev !== PARSE_COMPLETE);
}

for (let r = 0; r < Number(process.env.REPS ?? 5); r++) {
  const N = Number(process.env.N ?? 1_000_000);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) once();
  console.log(`${(Number(process.hrtime.bigint() - t) / N).toFixed(1)} ns per response`);
}
