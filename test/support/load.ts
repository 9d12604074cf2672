/**
 * A bounded load generator for fault and soak tests: `concurrency` loops, each on its own
 * keep-alive connection (node:http Agent with one socket), optionally paced to a total rate.
 * Every request is classified, so a test can say exactly which requests failed and how:
 *
 *   ok        status 200, the body complete (res.complete) and accepted by `check`
 *   refused   the connection was refused (nothing listens): the request was never accepted
 *   failed    anything else: another status, a reset or cut connection, a truncated body
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** Loops; each keeps one connection (default 4). Loop i targets urls[i % urls.length]. */
  readonly concurrency?: number;
  /** Total requests per second over all loops; unset = as fast as the loops go. */
  readonly ratePerSecond?: number;
  /** Extra check of a complete 200 response: a reason it is wrong, or null. */
  readonly check?: (body: Buffer, url: string) => string | null;
}

export interface Failure {
  readonly url: string;
  /** ms since the load started. */
  readonly at: number;
  readonly what: string;
}

export interface LoadReport {
  readonly sent: number;
  readonly ok: number;
  readonly refused: number;
  readonly failures: readonly Failure[];
  readonly durationMs: number;
}

export interface Load {
  /** Counters so far (the loops keep running). */
  progress(): LoadReport;
  stop(): Promise<LoadReport>;
}

export type Outcome =
  | { readonly kind: 'ok'; readonly status: 200; readonly body: Buffer }
  | { readonly kind: 'refused' }
  | { readonly kind: 'failed'; readonly what: string; readonly status?: number; readonly body?: Buffer };

/** One GET, classified (see the top of this file). `agent` defaults to a fresh connection. */
export function requestOnce(url: string, agent: Agent | false = false, check?: LoadOptions['check']): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: Outcome): void => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      const status = res.statusCode!;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => settle({ kind: 'failed', what: `response cut: ${err.message}`, status }));
      res.on('aborted', () => settle({ kind: 'failed', what: 'response cut (aborted)', status }));
      res.on('close', () => {
        const body = Buffer.concat(chunks);
        if (!res.complete) return settle({ kind: 'failed', what: `HTTP ${status}, body truncated`, status });
        if (status !== 200) return settle({ kind: 'failed', what: `HTTP ${status}: ${body.toString('utf8').slice(0, 120)}`, status, body });
        const wrong = check?.(body, url) ?? null;
        settle(wrong === null ? { kind: 'ok', status, body } : { kind: 'failed', what: `HTTP 200, wrong body: ${wrong}`, status, body });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      settle(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'failed', what: `${err.code ?? ''} ${err.message}`.trim() });
    });
    req.end();
  });
}

export function startLoad(urls: readonly string[], opts: LoadOptions = {}): Load {
  const concurrency = opts.concurrency ?? 4;
  const intervalMs = opts.ratePerSecond ? (1000 * concurrency) / opts.ratePerSecond : 0;
  const started = Date.now();
  let running = true;
  let sent = 0;
  let ok = 0;
  let refused = 0;
  const failures: Failure[] = [];
  const agents: Agent[] = [];
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    const url = urls[i % urls.length];
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    // Spread the loops' start times over one interval so the paced rate is smooth.
    let next = Date.now() + (intervalMs * i) / concurrency;
    while (running) {
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!running) break;
      // No catch-up burst after a stall: the schedule never runs more than one interval behind.
      next = Math.max(next + intervalMs, Date.now());
      sent++;
      const outcome = await requestOnce(url, agent, opts.check);
      if (outcome.kind === 'ok') ok++;
      else if (outcome.kind === 'refused') refused++;
      else failures.push({ url, at: Date.now() - started, what: outcome.what });
      if (outcome.kind === 'refused') await new Promise((r) => setTimeout(r, 20));
    }
  });
  const report = (): LoadReport => ({ sent, ok, refused, failures: [...failures], durationMs: Date.now() - started });
  return {
    progress: report,
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
      return report();
    },
  };
}
