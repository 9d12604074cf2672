// Tracing per request, end to end in one thread: a loop of requests through the worker's tracer
// (server span + one client span, as the pipeline records them), with the spans either only
// recorded or also encoded as the span batcher does it (each span appended to an OTLP
// protobuf body as it ends; a body holds 512 spans). No network: the POST is measured by
// bench/micro/otlp-post.mjs, the whole by the load bench.
//
// Reported: CPU µs per request (user+system of this process / requests), medians of --reps
// interleaved runs, and the encoding's share (encoded minus recorded).
//
// Usage (after `npx tsc -p .`):
//   taskset -c 1 node bench/micro/trace-loop.mjs [--requests 1000000] [--reps 3]

import { parseArgs } from 'node:util';
import { CompactRequestTracer, samplerFromEnv } from '../../dist/observability/tracing.js';
import { ByteWriter, OtlpProtobufEncoder } from '../../dist/observability/otlp-encode.js';
import { SpanClock } from '../../dist/observability/span-record.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000000' },
    reps: { type: 'string', default: '3' },
  },
});
const requests = Number(args.requests);
const BATCH = 512;

function run(encode) {
  const encoder = new OtlpProtobufEncoder({ resource: { 'service.name': 'bench' }, scopeName: 'fengling-gateway' }, new SpanClock());
  const writer = new ByteWriter(256 * 1024);
  let n = 0;
  const onEnd = encode
    ? (span) => {
      if (n % BATCH === 0) {
        if (n > 0) encoder.finish(writer);
        encoder.begin(writer);
      }
      encoder.append(writer, span, n % BATCH);
      n++;
    }
    : () => { n++; };
  const tracer = new CompactRequestTracer(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_on' }, () => undefined).plan, { add: onEnd });
  const c0 = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const t = tracer.start('GET', '/orders/42', 'orders', 'api.example:8080', undefined, undefined, i);
    t.startUpstream('u1', 'http://10.0.0.5:9000', 1, i + 0.1);
    t.endUpstream(200, null, i + 0.2);
    t.end(200, null, i + 0.3);
  }
  const c = process.cpuUsage(c0);
  if (n !== 2 * requests) throw new Error(`expected ${2 * requests} spans, got ${n}`);
  return (c.user + c.system) / requests;
}

const results = { recorded: [], encoded: [] };
run(true); // warm-up: both paths compiled before anything is measured
for (let rep = 0; rep < Number(args.reps); rep++) {
  results.recorded.push(run(false));
  results.encoded.push(run(true));
  console.log(`rep ${rep + 1}: recorded ${results.recorded.at(-1).toFixed(2)} µs, recorded + encoded ${results.encoded.at(-1).toFixed(2)} µs per request`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rec = median(results.recorded);
const enc = median(results.encoded);
console.log(`\n${requests} requests, medians of ${args.reps}: recorded ${rec.toFixed(2)} µs, recorded + encoded ${enc.toFixed(2)} µs, encoding ${(enc - rec).toFixed(2)} µs per request (two spans)`);
