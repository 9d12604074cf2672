/**
 * The cases: one start function per proxy product. Each returns
 *   { pids, url, stop, alive, logFile, configPath? }
 * once the proxy answers. A case is described by an object:
 *   name       e.g. 'nginx-1w'
 *   product    'upstream' | 'nginx' | 'haproxy' | 'gateway'
 *   workers    worker processes/threads (0 for upstream-direct); the ratio column compares
 *              a case with `nginx-<workers>w`
 *   cpus       taskset CPU list for the proxy ('1' when workers == 1), null = unpinned
 *   request    per-case overrides of the load: { plainPath, headers }
 *   skipReason(ctx) -> string | null
 *   start(ctx) -> Promise<{ pids, url, stop }>
 *
 * Names are parsed, so any worker count works without registration:
 *   upstream-direct, nginx-<N>w, haproxy-<N>t, floor-1w[-thread], gateway-<N>w[-<variant>][@b]
 * A gateway case ending in `@b` runs the build given by --gateway-b (another commit, say)
 * instead of --gateway: both builds in one interleaved run, for before/after comparisons.
 *
 * Adding a gateway case later (JWT route, 1k/10k routes, a balancing policy, metrics,
 * tracing) = one entry in GATEWAY_VARIANTS below.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, startProcess, waitReady, which } from './proc.mjs';
import { NGINX_MISSING, nginxAvailable, nginxConf, startNginx } from './nginx.mjs';
import { gatewayConfigYaml, hotPath } from './gateway-config.mjs';
import { BENCH_JWT } from './jwt.mjs';

export const HAPROXY_MISSING = 'haproxy not installed (apt-get install nginx-light haproxy)';
export const GATEWAY_MISSING = 'dist/cli/gateway.js not built (npm run build)';
export const GATEWAY_B_MISSING = 'an @b case needs --gateway-b PATH (the entry point of the other build)';

/** A proxy on its own core when it has one worker; shared cores otherwise (BENCH.md). */
const cpusFor = (workers) => (workers === 1 ? '1' : null);

/**
 * Gateway variants: `gateway-<N>w-<key>`.
 *   config   options of gatewayConfigYaml (route count, policy, destinations, extra YAML)
 *   env      extra environment for the gateway process
 *   request  load overrides: plainPath (the path of the `plain` scenario), headers (sent by wrk)
 *   describe one line for --help and the report
 *   readyTimeoutMs  how long start may take (default 30 s)
 */
export const GATEWAY_VARIANTS = {
  '': { describe: 'one catch-all route, one destination' },
  routes1k: {
    describe: '1,000 routes; the request matches one in the middle of the table',
    config: { routeCount: 1000 },
    request: { plainPath: hotPath(1000) },
  },
  routes10k: {
    describe: '10,000 routes; the request matches one in the middle of the table',
    config: { routeCount: 10000 },
    request: { plainPath: hotPath(10000) },
  },
  routes100k: {
    describe: '100,000 routes (for bench/memory.mjs; the closed-loop suite stops at 10,000)',
    config: { routeCount: 100_000 },
    request: { plainPath: hotPath(100_000) },
    // Parsing and loading 100,000 routes of YAML takes ~20 s on a quiet 2-core machine and
    // several times that on a busy one.
    readyTimeoutMs: 180_000,
  },
  lr: {
    describe: 'least-requests over 2 destinations (both the same upstream)',
    config: { loadBalancing: 'least-requests', destinations: 2 },
  },
  rr: {
    describe: 'round-robin over 2 destinations (both the same upstream), to compare with lr',
    config: { loadBalancing: 'round-robin', destinations: 2 },
  },
  nometrics: {
    describe: 'metrics off (GATEWAY_METRICS_PORT=0): the other gateway cases have them on',
    env: { GATEWAY_METRICS_PORT: '0' },
  },
  trace1: {
    describe: 'tracing on, 1% sampled (traceidratio 0.01), OTLP http/protobuf (the default) to the upstream nginx as a sink',
    env: (ctx) => tracingEnv(ctx, 'traceidratio', '0.01'),
  },
  trace100: {
    describe: 'tracing on, every request sampled, OTLP http/protobuf (the default) to the upstream nginx as a sink',
    env: (ctx) => tracingEnv(ctx, 'always_on', ''),
  },
  trace100json: {
    describe: 'tracing on, every request sampled, OTLP http/json to the upstream nginx as a sink',
    env: (ctx) => ({ ...tracingEnv(ctx, 'always_on', ''), OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
  },
  jwt: {
    describe: 'a JWT route (HS256, claim sub -> X-User-Id); the same token every request, so verdicts come from the cache',
    config: { routeExtra: 'authPolicy: bench-jwt', topLevelExtra: BENCH_JWT.policyYaml },
    env: { BENCH_JWT_SECRET: BENCH_JWT.secret },
    request: { headers: { authorization: `Bearer ${BENCH_JWT.token}` } },
  },
};

function tracingEnv(ctx, sampler, arg) {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: ctx.upstream.url,
    OTEL_TRACES_SAMPLER: sampler,
    ...(arg ? { OTEL_TRACES_SAMPLER_ARG: arg } : {}),
    OTEL_SERVICE_NAME: 'fengling-bench',
  };
}

function upstreamDirect() {
  return {
    name: 'upstream-direct',
    product: 'upstream',
    workers: 0,
    cpus: null,
    describe: 'wrk straight to the upstream (wrk and upstream share CPU 0): the rig\'s ceiling',
    skipReason: () => (nginxAvailable() ? null : NGINX_MISSING),
    async start(ctx) {
      return { pids: [], url: ctx.upstream.url, stop: async () => {}, alive: () => true, logFile: null };
    },
  };
}

/** The `http { }` body of the nginx proxy cases (bench/instructions.mjs counts nginx with it too). */
export function nginxProxyBody(port, upstreamPort, workers) {
  return `
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096${workers > 1 ? ' reuseport' : ''};
    client_max_body_size 1m;
    # Keep the 16 KiB POST body in memory, never in a temp file.
    client_body_buffer_size 64k;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The same request the gateway sends upstream by default: the client's Host and the
      # X-Forwarded-* trio (docs/benchmarks.md, "Same job").
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      # A 64 KiB response must not spill into a temp file.
      proxy_buffers 16 8k;
      proxy_max_temp_file_size 0;
    }
  }`;
}

function nginxCase(workers) {
  const cpus = cpusFor(workers);
  return {
    name: `nginx-${workers}w`,
    product: 'nginx',
    workers,
    cpus,
    describe: `nginx proxy, ${workers} worker process(es), upstream keepalive 64, X-Forwarded-* set`,
    skipReason: () => (nginxAvailable() ? null : NGINX_MISSING),
    async start(ctx) {
      const dir = join(ctx.tmpRoot, `nginx-${workers}w`);
      const port = await freePort();
      const conf = nginxConf(dir, { workers, body: nginxProxyBody(port, ctx.upstream.port, workers) });
      const handle = startNginx(`nginx-${workers}w`, dir, conf, cpus);
      const url = `http://127.0.0.1:${port}`;
      await waitReady(handle, `${url}/`);
      return { pids: [handle.pid], url, stop: handle.stop, alive: () => !handle.exited, logFile: handle.logFile, configPath: join(dir, 'nginx.conf') };
    },
  };
}

function haproxyCase(threads) {
  const cpus = cpusFor(threads);
  return {
    name: `haproxy-${threads}t`,
    product: 'haproxy',
    workers: threads,
    cpus,
    describe: `HAProxy, ${threads} thread(s), http-reuse always, X-Forwarded-* set`,
    skipReason: () => (which('haproxy') ? null : HAPROXY_MISSING),
    async start(ctx) {
      const dir = join(ctx.tmpRoot, `haproxy-${threads}t`);
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const cfg = `# generated by bench/run.mjs
global
  nbthread ${threads}
  # maxconn sizes the FD limit haproxy asks for: keep it under this machine's ulimit -n.
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream
backend upstream
  # The same request the gateway sends upstream by default (Host passes through unchanged).
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  server u1 127.0.0.1:${ctx.upstream.port}
`;
      const cfgPath = join(dir, 'haproxy.cfg');
      writeFileSync(cfgPath, cfg);
      // -db: stay in the foreground, no daemon, no master-worker.
      const handle = startProcess(`haproxy-${threads}t`, 'haproxy', ['-db', '-f', cfgPath], {
        cpus,
        logFile: join(dir, 'stdout.log'),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(handle, `${url}/`);
      return { pids: [handle.pid], url, stop: handle.stop, alive: () => !handle.exited, logFile: handle.logFile, configPath: cfgPath };
    },
  };
}

/**
 * The architecture's floor (bench/floor/relay.mjs): a bare uWS + net relay on CPU 1 that does
 * nginx's job and nothing else. Its CPU per request is the least this design can cost.
 */
export const FLOOR_SCRIPT = 'bench/floor/relay.mjs';

/** The floor relay's arguments (bench/instructions.mjs starts it with them too). */
export function floorArgs(repoRoot, port, upstreamPort, thread) {
  return [join(repoRoot, FLOOR_SCRIPT), '--port', String(port), '--upstream', `127.0.0.1:${upstreamPort}`, ...(thread ? ['--thread'] : [])];
}

function floorCase(thread) {
  const name = thread ? 'floor-1w-thread' : 'floor-1w';
  return {
    name,
    product: 'floor',
    workers: 1,
    cpus: '1',
    describe: `bare uWS + net relay (bench/floor/relay.mjs${thread ? ' --thread' : ''}): the same job, no gateway features; the architecture's floor${thread ? ', served from a worker thread as the gateway is' : ''}`,
    // It imports a few of the gateway's pieces from dist/.
    skipReason: (ctx) => (existsSync(defaultGatewayEntry(ctx.repoRoot)) ? null : GATEWAY_MISSING),
    async start(ctx) {
      const dir = join(ctx.tmpRoot, name);
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const handle = startProcess(name, process.execPath, floorArgs(ctx.repoRoot, port, ctx.upstream.port, thread), {
        cpus: '1',
        cwd: ctx.repoRoot,
        logFile: join(dir, 'stdout.log'),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(handle, `${url}/`);
      return { pids: [handle.pid], url, stop: handle.stop, alive: () => !handle.exited, logFile: handle.logFile, configPath: join(ctx.repoRoot, FLOOR_SCRIPT) };
    },
  };
}

/** The environment a gateway case runs with (bench/instructions.mjs starts its gateways with it too). */
export async function gatewayEnv(ctx, variant, workers, port, configPath) {
  return {
    ...process.env,
    GATEWAY_WORKERS: String(workers),
    GATEWAY_PORT: String(port),
    GATEWAY_CONFIG: configPath,
    // Listen on loopback only (the gateway's default is 0.0.0.0).
    GATEWAY_HOST: '127.0.0.1',
    // The gateway is idle when stopped; don't let a drain outlast stopChild's grace period.
    GATEWAY_DRAIN_TIMEOUT_MS: '1000',
    // Metrics on (the default), on a port of its own so cases never collide.
    GATEWAY_METRICS_PORT: String(await freePort()),
    ...(typeof variant.env === 'function' ? variant.env(ctx) : variant.env),
  };
}

function gatewayCase(workers, variantKey, buildB) {
  const variant = GATEWAY_VARIANTS[variantKey];
  const name = `gateway-${workers}w${variantKey ? `-${variantKey}` : ''}${buildB ? '@b' : ''}`;
  const entry = (ctx) => (buildB ? ctx.gatewayEntryB : ctx.gatewayEntry);
  const cpus = cpusFor(workers);
  return {
    name,
    product: 'gateway',
    workers,
    cpus,
    describe: `Fengling gateway${buildB ? ' (build B, --gateway-b)' : ''}, GATEWAY_WORKERS=${workers}: ${variant.describe}`,
    request: variant.request ?? {},
    skipReason: (ctx) => {
      if (buildB && !ctx.gatewayEntryB) return GATEWAY_B_MISSING;
      return existsSync(entry(ctx)) ? null : `${entry(ctx)} not built (npm run build there)`;
    },
    async start(ctx) {
      const dir = join(ctx.tmpRoot, name);
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const configPath = join(dir, 'gateway.yaml');
      writeFileSync(configPath, gatewayConfigYaml(ctx.upstream.url, variant.config));
      const env = { ...(await gatewayEnv(ctx, variant, workers, port, configPath)), ...ctx.gatewayEnv };
      const handle = startProcess(name, process.execPath, [entry(ctx)], {
        cpus,
        env,
        cwd: ctx.repoRoot,
        logFile: join(dir, 'stdout.log'),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(handle, `${url}/readyz`, variant.readyTimeoutMs ?? 30000);
      return { pids: [handle.pid], url, stop: handle.stop, alive: () => !handle.exited, logFile: handle.logFile, configPath };
    },
  };
}

/** Case object for a name, or throws with the list of valid forms. */
export function resolveCase(name) {
  if (name === 'upstream-direct') return upstreamDirect();
  let m;
  if ((m = /^nginx-(\d+)w$/.exec(name))) return nginxCase(Number(m[1]));
  if ((m = /^haproxy-(\d+)t$/.exec(name))) return haproxyCase(Number(m[1]));
  if (name === 'floor-1w' || name === 'floor-1w-thread') return floorCase(name === 'floor-1w-thread');
  if ((m = /^gateway-(\d+)w(?:-([a-z0-9]+))?(@b)?$/.exec(name))) {
    const key = m[2] ?? '';
    if (!(key in GATEWAY_VARIANTS)) {
      throw new Error(`unknown gateway variant '${key}' (known: ${Object.keys(GATEWAY_VARIANTS).filter(Boolean).join(', ')})`);
    }
    return gatewayCase(Number(m[1]), key, m[3] !== undefined);
  }
  throw new Error(`unknown case '${name}' (forms: upstream-direct, nginx-<N>w, haproxy-<N>t, floor-1w[-thread], gateway-<N>w[-variant][@b])`);
}

/** The default case list: the 1-worker trio plus the rig's ceiling, and N-worker ones for --workers N. */
export function defaultCases(workerCounts) {
  const names = ['upstream-direct', 'nginx-1w', 'haproxy-1t', 'gateway-1w'];
  for (const n of workerCounts) {
    if (n === 1) continue;
    names.push(`nginx-${n}w`, `haproxy-${n}t`, `gateway-${n}w`);
  }
  return names;
}

export const defaultGatewayEntry = (repoRoot) => resolve(repoRoot, 'dist/cli/gateway.js');
