/**
 * Control-plane test support: a real redis-server per test file (on a free loopback port,
 * killable and restartable), gateways that take their configuration from it, a writer, and
 * a traffic loop that counts every failed request.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ControlPlaneStore } from '../../src/control-plane/store.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { freePort, startGateway, type GatewayProcess } from '../support/gateway.js';

export const GATEWAYCTL = fileURLToPath(new URL('../../dist/cli/gatewayctl.js', import.meta.url));

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL (no shutdown, no save) and wait for the exit. */
  kill(): Promise<void>;
  /**
   * Start again on the same port (and directory). `empty`: with its data files removed first,
   * as a replaced or wiped Redis comes back (a writer then starts a new epoch).
   */
  restart(opts?: { empty?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** Fails with a clear message when redis-server is missing: these tests never pass empty. */
export function requireRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-server is not on PATH: the control-plane tests need a real Redis (e.g. apt-get install redis-server)');
  }
}

/** `persistent`: append-only file with fsync on every write, so data survives SIGKILL. */
export async function startRedis(opts: { persistent?: boolean } = {}): Promise<RedisServer> {
  requireRedisServer();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fengling-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
    ...(opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const until = Date.now() + 5_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > until) throw new Error(`redis-server did not start on port ${port}`);
        await sleep(50);
      }
    }
  };
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await done;
  };
  const restart = (opts: { empty?: boolean } = {}): Promise<void> => {
    if (opts.empty) for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
    return launch();
  };
  await launch();
  return { port, url: `redis://127.0.0.1:${port}`, kill: () => exit('SIGKILL'), restart, stop: () => exit('SIGKILL') };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(25);
  }
}

export function writer(redis: RedisServer, prefix?: string): { store: ControlPlaneStore; client: Redis } {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * n, 500) });
  client.on('error', () => undefined);
  return { store: new ControlPlaneStore(client, { prefix, writer: 'test' }), client };
}

export interface RedisGatewayOptions {
  readonly id: string;
  readonly workers?: number;
  readonly prefix?: string;
  readonly stateDir?: string;
  readonly waitReady?: boolean;
  readonly env?: Record<string, string>;
}

export function startRedisGateway(redis: RedisServer, opts: RedisGatewayOptions): Promise<GatewayProcess> {
  return startGateway({
    config: { routes: [], clusters: [] },
    workers: opts.workers ?? 2,
    waitReady: opts.waitReady,
    env: {
      REDIS_URL: redis.url,
      GATEWAY_INSTANCE_ID: opts.id,
      GATEWAY_METRICS_PORT: '0',
      GATEWAY_ANTI_ENTROPY_MS: '500',
      GATEWAY_HEARTBEAT_TTL_MS: '1500',
      GATEWAY_REDIS_START_WAIT_MS: '1000',
      ...(opts.prefix ? { GATEWAY_REDIS_PREFIX: opts.prefix } : {}),
      ...(opts.stateDir ? { GATEWAY_STATE_DIR: opts.stateDir } : {}),
      ...opts.env,
    },
  });
}

/** The base configuration of these tests: a stable route that traffic runs through, plus `extra` routes. */
export function baseConfig(stablePort: number, otherPort: number, extra: GatewayConfig['routes'] = []): GatewayConfig {
  return {
    routes: [
      { id: 'stable', cluster: 'stable', match: { path: '/stable/{**rest}' } },
      ...extra,
    ],
    clusters: [
      { id: 'stable', destinations: [{ id: 's0', address: `http://127.0.0.1:${stablePort}` }] },
      { id: 'other', destinations: [{ id: 'o0', address: `http://127.0.0.1:${otherPort}` }] },
    ],
  };
}

export function route(id: string, path: string, cluster = 'other'): GatewayConfig['routes'][number] {
  return { id, cluster, match: { path } };
}

export interface Traffic {
  /** Stop and report: requests sent and the failures (status or error). */
  stop(): Promise<{ sent: number; failures: string[] }>;
}

/** `concurrency` loops of GET requests against each gateway's `path`, until stopped. */
export function startTraffic(gateways: readonly GatewayProcess[], path = '/stable/ping', concurrency = 2): Traffic {
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const loops = gateways.flatMap((gw) => Array.from({ length: concurrency }, async () => {
    while (running) {
      sent++;
      try {
        const res = await fetch(`${gw.url}${path}`);
        await res.arrayBuffer();
        if (res.status !== 200) failures.push(`${gw.port}: HTTP ${res.status}`);
      } catch (err) {
        failures.push(`${gw.port}: ${(err as Error).message}`);
      }
      await sleep(5);
    }
  }));
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { sent, failures };
    },
  };
}

export async function status(gw: GatewayProcess, path: string): Promise<number> {
  const res = await fetch(`${gw.url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

/** Every worker of every listed instance reports `version` in its heartbeat. */
export async function waitConverged(store: ControlPlaneStore, ids: readonly string[], version: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(`instances ${ids.join(', ')} at version ${version}`, async () => {
    const beats = await store.instances();
    return ids.every((id) => {
      const b = beats.find((x) => x.id === id);
      return b !== undefined && b.appliedVersion === version && b.workers.length > 0 && b.workers.every((w) => w.appliedVersion === version);
    });
  }, timeoutMs);
}

export function runCtl(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GATEWAYCTL, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
