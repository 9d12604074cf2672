/**
 * Redis connections from one URL (REDIS_URL / --redis; the forms are in redis-url.ts), through
 * ioredis: standalone, Sentinel or Cluster.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';

export { parseRedisUrl, redactUrl } from './redis-url.js';

export type RedisClient = Redis;

export interface ConnectOptions {
  /** Backoff between reconnect attempts; null: do not reconnect (a CLI). */
  readonly retry: ((attempt: number) => number) | null;
  readonly connectTimeoutMs: number;
  /** Queue commands while disconnected (the subscriber) or fail them at once (everything else). */
  readonly offlineQueue: boolean;
  readonly lazyConnect?: boolean;
  readonly name: string;
}

/** Exponential backoff from 50 ms to 2 s: reconnects fast after a blip, gently during an outage. */
export function reconnectBackoff(attempt: number): number {
  return Math.min(2_000, 50 * 2 ** Math.min(attempt, 6));
}

/**
 * The Redis password from REDIS_PASSWORD_FILE (a mounted secret), when set: it wins over a
 * password in REDIS_URL. Read here, at the one place every connection is made (the gateway's
 * and gatewayctl's), so neither needs the secret in its command line or URL.
 */
export function passwordFromFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.REDIS_PASSWORD_FILE?.trim();
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`REDIS_PASSWORD_FILE=${file}: ${(err as Error).message}`);
  }
}

export function connectRedis(url: string, opts: ConnectOptions): RedisClient {
  const parsed = parseRedisUrl(url);
  if ('error' in parsed) throw new Error(`REDIS_URL ${parsed.error}`);
  const common: RedisOptions = {
    connectionName: opts.name,
    username: parsed.username,
    password: passwordFromFile() ?? parsed.password,
    db: parsed.db,
    tls: parsed.tls ? {} : undefined,
    connectTimeout: opts.connectTimeoutMs,
    enableOfflineQueue: opts.offlineQueue,
    maxRetriesPerRequest: opts.offlineQueue ? null : 0,
    retryStrategy: (attempt: number) => (opts.retry ? opts.retry(attempt) : null),
    lazyConnect: opts.lazyConnect ?? false,
    autoResubscribe: true,
  };
  switch (parsed.kind) {
    case 'standalone':
      return new Redis({ ...common, host: parsed.hosts[0].host, port: parsed.hosts[0].port });
    case 'sentinel':
      return new Redis({ ...common, sentinels: parsed.hosts.map((h) => ({ ...h })), name: parsed.master, sentinelPassword: parsed.password });
    case 'cluster':
      // A Cluster speaks the same commands; the control plane's keys share one hash tag
      // (keys.ts), so its multi-key script runs on one node.
      return new Cluster(parsed.hosts.map((h) => ({ ...h })), {
        redisOptions: common, enableOfflineQueue: opts.offlineQueue, lazyConnect: opts.lazyConnect ?? false,
        clusterRetryStrategy: (attempt: number) => (opts.retry ? opts.retry(attempt) : null),
      }) as unknown as RedisClient;
  }
}
