/**
 * The console-side health checker behind `gatewayctl health watch` (K8S-02: health is decided
 * by the console, never probed by the gateway). Every interval it reads the destinations from
 * the snapshot in Redis, sends each an HTTP GET of the configured path, and publishes a
 * destination's state when it changes: down after `fall` consecutive failures, up after
 * `rise` consecutive successes (a 2xx or 3xx answer within the timeout).
 */
import type { ClusterConfig } from '../config/types.js';
import type { HealthState } from './codec.js';
import type { ControlPlaneStore } from './store.js';

export interface CheckerOptions {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** Only these clusters; empty = every cluster. */
  readonly clusters: ReadonlySet<string>;
}

export type Probe = (url: string, timeoutMs: number) => Promise<{ ok: boolean; detail: string }>;

interface Target {
  state: HealthState | null;
  successes: number;
  failures: number;
}

export const httpProbe: Probe = async (url, timeoutMs) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.arrayBuffer().catch(() => undefined);
    return { ok: res.status >= 200 && res.status < 400, detail: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, detail: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message) };
  }
};

export class HealthChecker {
  readonly #store: ControlPlaneStore;
  readonly #opts: CheckerOptions;
  readonly #probe: Probe;
  readonly #say: (line: string) => void;
  readonly #targets = new Map<string, Target>();

  constructor(store: ControlPlaneStore, opts: CheckerOptions, say: (line: string) => void, probe: Probe = httpProbe) {
    this.#store = store;
    this.#opts = opts;
    this.#say = say;
    this.#probe = probe;
  }

  /** Probe until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const known = new Map((await this.#store.health()).map((r) => [`${r.cluster}/${r.destination}`, r.state]));
    while (!signal.aborted) {
      const started = Date.now();
      await this.round(known);
      const wait = Math.max(0, this.#opts.intervalMs - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
  }

  /** One probe of every destination; publishes the state changes. */
  async round(known: ReadonlyMap<string, HealthState> = new Map()): Promise<void> {
    const snapshot = await this.#store.read();
    const clusters = (snapshot.config.clusters as readonly ClusterConfig[]).filter((c) => this.#opts.clusters.size === 0 || this.#opts.clusters.has(c.id));
    const live = new Set<string>();
    await Promise.all(clusters.flatMap((c) => c.destinations.map(async (d) => {
      const key = `${c.id}/${d.id}`;
      live.add(key);
      let target = this.#targets.get(key);
      if (!target) this.#targets.set(key, (target = { state: known.get(key) ?? null, successes: 0, failures: 0 }));
      const result = await this.#probe(new URL(this.#opts.path, d.address).href, this.#opts.timeoutMs);
      if (result.ok) {
        target.successes++;
        target.failures = 0;
      } else {
        target.failures++;
        target.successes = 0;
      }
      let next: HealthState | null = null;
      if (target.state !== 'up' && target.successes >= this.#opts.rise) next = 'up';
      if (target.state !== 'down' && target.failures >= this.#opts.fall) next = 'down';
      if (next === null) return;
      target.state = next;
      const reason = next === 'up'
        ? `GET ${this.#opts.path}: ${result.detail} (${target.successes} in a row)`
        : `GET ${this.#opts.path}: ${result.detail} (${target.failures} failures in a row)`;
      await this.#store.setHealth(c.id, d.id, next, reason);
      this.#say(`${new Date().toISOString()} ${key} ${next}: ${reason}`);
    })));
    for (const key of this.#targets.keys()) if (!live.has(key)) this.#targets.delete(key);
  }
}
