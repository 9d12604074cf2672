/**
 * Load test of a Fengling Gateway deployment with k6 (https://k6.io): a ramping arrival rate
 * (open model: requests keep arriving when the gateway slows down, so latency is not hidden),
 * a check on every response, and thresholds that fail the run.
 *
 *   k6 run bench/k6/gateway.js
 *   k6 run -e TARGETS=http://10.0.0.5:8080,http://10.0.0.6:8080 -e PATHS=/api/users/1,/api/orders/2 \
 *          -e PEAK_RPS=20000 -e P99_MS=50 bench/k6/gateway.js
 *
 * Variables (all optional):
 *   TARGETS      comma-separated gateway base URLs (default http://127.0.0.1:8080); requests
 *                rotate over them, one instance after the other
 *   PATHS        comma-separated request paths (default /)
 *   PEAK_RPS     requests per second at the peak (default 2000)
 *   RAMP         duration of the ramp up and of the hold at the peak (default 30s)
 *   P99_MS       p99 latency threshold in milliseconds (default 100)
 *   MAX_ERROR    highest share of failed requests (default 0.001 = 0.1%)
 *   EXPECT       status every response must have (default 200)
 *
 * The same run with autocannon (closed model, fixed connections): docs/operations.md.
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

const targets = (__ENV.TARGETS || 'http://127.0.0.1:8080').split(',').map((t) => t.trim().replace(/\/$/, ''));
const paths = (__ENV.PATHS || '/').split(',').map((p) => p.trim());
const peak = Number(__ENV.PEAK_RPS || 2000);
const ramp = __ENV.RAMP || '30s';
const expected = Number(__ENV.EXPECT || 200);

export const options = {
  discardResponseBodies: true,
  scenarios: {
    gateway: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.floor(peak / 20)),
      timeUnit: '1s',
      // Virtual users are connections' owners; enough to sustain the peak at ~50 ms per request.
      preAllocatedVUs: Math.max(10, Math.ceil(peak / 20)),
      maxVUs: Math.max(50, Math.ceil(peak / 5)),
      stages: [
        { target: peak, duration: ramp },
        { target: peak, duration: ramp },
        { target: 0, duration: '10s' },
      ],
    },
  },
  thresholds: {
    http_req_failed: [`rate<${Number(__ENV.MAX_ERROR || 0.001)}`],
    http_req_duration: [`p(99)<${Number(__ENV.P99_MS || 100)}`],
    checks: ['rate>0.999'],
    // The arrival rate could not be held: the load generator, not the gateway, is the limit.
    dropped_iterations: ['count<1'],
  },
};

http.setResponseCallback(http.expectedStatuses(expected));

export default function () {
  // A number unique across all virtual users: consecutive requests go to the next instance.
  const i = exec.scenario.iterationInTest;
  const path = paths[Math.floor(i / targets.length) % paths.length];
  const res = http.get(targets[i % targets.length] + path, { tags: { name: path } });
  check(res, {
    [`status is ${expected}`]: (r) => r.status === expected,
    'not a gateway error': (r) => !(r.headers['Content-Type'] || '').startsWith('application/problem+json'),
  });
}
