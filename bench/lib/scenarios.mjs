/**
 * What is sent. Each scenario: { name, describe, kind: 'closed' | 'fixed', method, path,
 * body, expect: { status, bytes } } — `expect` is checked once per case before measuring,
 * so a proxy that answers 404/502 fast cannot win.
 */
import { LARGE_BODY_BYTES, POST_BODY_BYTES, SMALL_BODY_BYTES } from './upstream.mjs';

export const SCENARIOS = {
  plain: {
    describe: `GET, ${SMALL_BODY_BYTES}-byte response, wrk closed loop (max throughput)`,
    kind: 'closed', method: 'GET', path: null, body: null,
    expect: { status: 200, bytes: SMALL_BODY_BYTES },
  },
  large: {
    describe: `GET, ${LARGE_BODY_BYTES / 1024} KiB response, wrk closed loop`,
    kind: 'closed', method: 'GET', path: '/large', body: null,
    expect: { status: 200, bytes: LARGE_BODY_BYTES },
  },
  post16k: {
    describe: `POST with a ${POST_BODY_BYTES / 1024} KiB body, short response, wrk closed loop (-s lua)`,
    kind: 'closed', method: 'POST', path: '/post', body: 'x'.repeat(POST_BODY_BYTES),
    expect: { status: 200, bytes: 3 },
  },
  fixed: {
    describe: 'GET 100 B at a fixed rate (h2load --h1 --rps, open loop): latency at ~5,000 req/s',
    kind: 'fixed', method: 'GET', path: null, body: null,
    expect: { status: 200, bytes: SMALL_BODY_BYTES },
  },
};
for (const [name, s] of Object.entries(SCENARIOS)) s.name = name;

/** Default case list of the fixed-rate scenario (the brief: upstream-direct, nginx, gateway). */
export const FIXED_DEFAULT_PRODUCTS = new Set(['upstream', 'nginx', 'gateway']);

/** The request of `scenario` against a running case. */
export function requestFor(scenario, kase, url) {
  const path = scenario.path ?? kase.request?.plainPath ?? '/';
  return { url: `${url}${path}`, method: scenario.method, body: scenario.body, headers: kase.request?.headers ?? {} };
}
