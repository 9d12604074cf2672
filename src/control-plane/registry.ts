/**
 * The instance registry: each instance writes a heartbeat (keys.ts: `instance:<id>` with a
 * TTL, and its id in the `instances` sorted set) every third of the TTL, and at once when a
 * worker acknowledges a version, so `gatewayctl status` sees every live instance, the version
 * it and each of its workers applied, and any drift. An instance that stops beating expires.
 */
import type { Logger } from '../observability/logger.js';
import { encodeHeartbeat, type Heartbeat } from './codec.js';
import type { ControlPlaneKeys } from './keys.js';
import type { RedisClient } from './redis-connect.js';

/** A prompt heartbeat waits this long so that a burst of acknowledgements makes one write. */
const COALESCE_MS = 20;

export class Registry {
  readonly #redis: RedisClient;
  readonly #keys: ControlPlaneKeys;
  readonly #ttlMs: number;
  readonly #build: () => Omit<Heartbeat, 'protocol'>;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #failing = false;

  constructor(redis: RedisClient, keys: ControlPlaneKeys, ttlMs: number, build: () => Omit<Heartbeat, 'protocol'>, log: Logger) {
    this.#redis = redis;
    this.#keys = keys;
    this.#ttlMs = ttlMs;
    this.#build = build;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
    void this.beat();
  }

  /** Beat shortly (coalesced). */
  beatSoon(): void {
    if (this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      void this.beat();
    }, COALESCE_MS);
    this.#soon.unref();
  }

  async beat(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    const beat = this.#build();
    const now = Date.now();
    try {
      await this.#redis.multi()
        .set(this.#keys.instance(beat.id), encodeHeartbeat(beat), 'PX', this.#ttlMs)
        .zadd(this.#keys.instances, now, beat.id)
        .zremrangebyscore(this.#keys.instances, 0, now - 10 * this.#ttlMs)
        .exec();
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: (err as Error).message }, 'heartbeat failed; retrying on the next beat');
      this.#failing = true;
    }
  }

  /** Leave the registry (on shutdown): the instance disappears from status at once. */
  async stop(id: string): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    if (this.#redis.status !== 'ready') return;
    await this.#redis.multi().del(this.#keys.instance(id)).zrem(this.#keys.instances, id).exec().catch(() => undefined);
  }
}
