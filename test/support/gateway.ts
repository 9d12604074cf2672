/**
 * Start the real gateway (node dist/cli/gateway.js) as a child process on a free port, with a
 * configuration file written for the test; wait until /readyz answers 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ENTRY = fileURLToPath(new URL('../../dist/cli/gateway.js', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface GatewayProcess {
  readonly port: number;
  readonly url: string;
  readonly configPath: string;
  readonly child: ChildProcess;
  /** Every stdout line parsed as JSON (pino), in order. */
  readonly logs: Array<Record<string, unknown>>;
  /** Raw stderr. */
  stderr(): string;
  /** Resolves with the first log line matching the predicate (or rejects after timeoutMs). */
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  readonly config: unknown;
  readonly workers?: number;
  readonly env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  readonly waitReady?: boolean;
}

export async function startGateway(opts: StartOptions): Promise<GatewayProcess> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` first (npm test does)`);
  const dir = mkdtempSync(join(tmpdir(), 'fengling-test-'));
  const configPath = join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify(opts.config, null, 2));
  const port = await freePort();
  const child = spawn(process.execPath, [ENTRY], {
    env: {
      ...process.env,
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_WORKERS: String(opts.workers ?? 2),
      GATEWAY_CONFIG: configPath,
      LOG_LEVEL: 'info',
      // Tests that scrape metrics pass their own free port; the rest must not collide on 9464.
      GATEWAY_METRICS_PORT: '0',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i].pred(entry)) waiters.splice(i, 1)[0].resolve(entry);
      } catch {
        /* not a log line */
      }
    }
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const gw: GatewayProcess = {
    port, url: `http://127.0.0.1:${port}`, configPath, child, logs, exited,
    stderr: () => err,
    waitForLog(pred, timeoutMs = 10_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => { clearTimeout(t); resolve(l); } });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) await waitReady(gw);
  return gw;
}

export async function waitReady(gw: GatewayProcess, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (gw.child.exitCode !== null) throw new Error(`gateway exited with ${gw.child.exitCode}: ${gw.stderr()}`);
    try {
      const r = await fetch(`${gw.url}/readyz`);
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gateway not ready within ${timeoutMs} ms: ${gw.stderr()}`);
}

/** A one-route, one-cluster configuration pointing at the given upstream ports. */
export function simpleConfig(ports: number[], extra: { route?: Record<string, unknown>; cluster?: Record<string, unknown> } = {}) {
  return {
    routes: [{ id: 'all', cluster: 'backend', match: { path: '/{**rest}' }, ...extra.route }],
    clusters: [{
      id: 'backend',
      destinations: ports.map((p, i) => ({ id: `d${i}`, address: `http://127.0.0.1:${p}` })),
      ...extra.cluster,
    }],
  };
}
