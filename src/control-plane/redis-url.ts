/**
 * REDIS_URL forms, parsed without loading ioredis (the settings table validates the variable
 * at start, in every thread):
 *
 *   redis://[user:password@]host:port[/db]            standalone (rediss:// for TLS)
 *   redis+sentinel://[user:password@]h1:26379,h2:26379/master-name[/db]
 *                                                     Sentinel: ioredis asks the sentinels for
 *                                                     the master and follows fail-overs
 *                                                     (rediss+sentinel:// for TLS to the data nodes)
 *   redis+cluster://[user:password@]h1:7000,h2:7001   Redis Cluster: the nodes are seeds
 *                                                     (rediss+cluster:// for TLS)
 *
 * The password belongs in the variable (SEC-01: never in the source tree); `redactUrl` keeps
 * it out of every log line.
 */
export interface ParsedUrl {
  readonly kind: 'standalone' | 'sentinel' | 'cluster';
  readonly tls: boolean;
  readonly hosts: ReadonlyArray<{ host: string; port: number }>;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
  readonly master?: string;
}

export function parseRedisUrl(url: string): ParsedUrl | { readonly error: string } {
  const m = /^(rediss?)(\+sentinel|\+cluster)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(?:\/([^/?#]*))?(?:\/([^/?#]*))?\/?$/.exec(url.trim());
  if (!m) return { error: 'must look like redis://host:port, rediss://..., redis+sentinel://h1:26379,h2:26379/master or redis+cluster://h1:7000,h2:7001' };
  const [, scheme, variant, user, pass, hostList, first, second] = m;
  const hosts = hostList.split(',').map((h) => {
    const hm = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(h);
    return { host: hm?.[1] ?? h, port: hm?.[2] ? Number(hm[2]) : variant === '+sentinel' ? 26379 : 6379 };
  });
  const kind = variant === '+sentinel' ? 'sentinel' : variant === '+cluster' ? 'cluster' : 'standalone';
  const dbText = kind === 'sentinel' ? second : first;
  const db = dbText ? Number(dbText) : 0;
  if (!Number.isInteger(db) || db < 0) return { error: `database "${dbText}" must be a whole number` };
  if (kind === 'sentinel' && !first) return { error: 'a sentinel URL names the master: redis+sentinel://h1:26379,h2:26379/mymaster' };
  if (kind === 'standalone' && hosts.length !== 1) return { error: 'a redis:// URL has one host; use redis+sentinel:// or redis+cluster:// for several' };
  return {
    kind, tls: scheme === 'rediss', hosts, db, master: kind === 'sentinel' ? first : undefined,
    username: user ? decodeURIComponent(user) : undefined, password: pass ? decodeURIComponent(pass) : undefined,
  };
}

/** The URL with its password replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
