/**
 * Settings come from the environment, declared once in SETTINGS: parsing, defaults, `--help`
 * and docs all read this table. A bad value stops the process with a message naming the
 * variable (SETTING_INVALID).
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../errors.js';
import { DEFAULT_PREFIX } from '../control-plane/keys.js';
import { parseRedisUrl } from '../control-plane/redis-url.js';
import { DEFAULT_MAX_AUTH_POLICIES, DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_DESTINATIONS, DEFAULT_MAX_ROUTES } from '../shm/layout.js';
import { DEFAULT_RATE_LIMIT_BUCKETS, MAX_RATE_LIMIT_BUCKETS, MIN_RATE_LIMIT_BUCKETS } from '../shm/rate-limit-layout.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The embedded default configuration, used when GATEWAY_CONFIG is not set. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/gateway.yaml', import.meta.url));

export interface Settings {
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  readonly configPath: string;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly accessLog: boolean;
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly maxRoutes: number;
  readonly maxClusters: number;
  readonly maxDestinations: number;
  readonly maxAuthPolicies: number;
  readonly rateLimitBuckets: number;
  readonly upstreamMaxIdle: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  readonly maxResponseHeadBytes: number;
  readonly maxUrlBytes: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly requestBodyTimeoutMs: number;
  /** 0 = no limit. */
  readonly maxRequestsPerWorker: number;
  /** '' = no Redis: the configuration comes from GATEWAY_CONFIG. */
  readonly redisUrl: string;
  readonly redisPrefix: string;
  /** '' = no saved state (no cold start without Redis). */
  readonly stateDir: string;
  readonly instanceId: string;
  readonly antiEntropyMs: number;
  readonly heartbeatTtlMs: number;
  readonly redisStartWaitMs: number;
  readonly faultInjection: boolean;
  /** '' = no admin keys: the management API is off (404). */
  readonly adminKeysFile: string;
  /** Read by connectRedis (control-plane/redis-connect.ts); validated here. */
  readonly redisPasswordFile: string;
}

/** What a worker thread needs of the settings (passed in workerData). */
export type WorkerSettings = Pick<Settings,
  'port' | 'host' | 'logLevel' | 'accessLog' | 'upstreamMaxIdle' | 'upstreamIdleTimeoutMs' |
  'upstreamConnectTimeoutMs' | 'upstreamBodyTimeoutMs' | 'maxResponseHeadBytes' | 'faultInjection' |
  'maxUrlBytes' | 'maxHeaderCount' | 'maxHeaderBytes' | 'requestBodyTimeoutMs' | 'maxRequestsPerWorker'>;

/**
 * Ceilings of the request limits, set by what this uWS build (20.30) does on its own (measured;
 * docs/architecture.md, "uWS 20.30 behaviours"): a request head that arrives in more than one
 * read may be at most 4 KiB (larger: the connection is closed without an answer), and a head
 * with more than 48 header lines is never answered. A larger setting could not be honoured.
 */
export const UWS_HEAD_BUFFER_BYTES = 4096;
export const UWS_MAX_HEADERS = 48;

interface SettingSpec<K extends keyof Settings> {
  readonly env: string;
  readonly key: K;
  readonly help: string;
  readonly default: () => Settings[K];
  readonly defaultText?: string;
  readonly parse: (raw: string) => Settings[K] | Invalid;
}

/** A parse failure: the reason, phrased to follow the variable's name. */
class Invalid {
  constructor(readonly reason: string) {}
}

function integer(min: number, max: number) {
  return (raw: string): number | Invalid => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    return n >= min && n <= max ? n : new Invalid(`must be a whole number from ${min} to ${max}`);
  };
}

/** A whole number in range that is a power of two (a hash table's capacity). */
function powerOfTwo(min: number, max: number) {
  const inRange = integer(min, max);
  return (raw: string): number | Invalid => {
    const n = inRange(raw);
    return n instanceof Invalid || (n & (n - 1)) !== 0 ? new Invalid(`must be a power of two from ${min} to ${max}`) : n;
  };
}

function flag(raw: string): boolean | Invalid {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no', ''].includes(v)) return false;
  return new Invalid('must be one of on, off, true, false, 1, 0');
}

function spec<K extends keyof Settings>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

export const SETTINGS = [
  spec({ env: 'GATEWAY_PORT', key: 'port', help: 'TCP port every worker listens on', default: () => 8080, parse: integer(0, 65535) }),
  spec({ env: 'GATEWAY_HOST', key: 'host', help: 'Address to listen on', default: () => '0.0.0.0',
    parse: (raw) => (/^[0-9a-fA-F.:]+$|^localhost$/.test(raw.trim()) ? raw.trim() : new Invalid('must be an IPv4 or IPv6 address (or localhost)')) }),
  spec({ env: 'GATEWAY_WORKERS', key: 'workers', help: 'Worker threads, each with its own uWS server on the port', default: () => availableParallelism(),
    defaultText: 'available parallelism', parse: integer(1, 1024) }),
  spec({ env: 'GATEWAY_CONFIG', key: 'configPath', help: 'Configuration file (YAML or JSON), watched for changes', default: () => DEFAULT_CONFIG_PATH,
    defaultText: 'the embedded config/gateway.yaml', parse: (raw) => (raw.trim() ? raw.trim() : new Invalid('must be a file path')) }),
  spec({ env: 'GATEWAY_DRAIN_TIMEOUT_MS', key: 'drainTimeoutMs', help: 'On SIGTERM/SIGINT, how long in-flight requests may take to finish', default: () => 10_000, parse: integer(0, 3_600_000) }),
  spec({ env: 'LOG_LEVEL', key: 'logLevel', help: `Log level: ${LOG_LEVELS.join(', ')}`, default: (): LogLevel => 'info',
    parse: (raw) => ((LOG_LEVELS as readonly string[]).includes(raw.trim()) ? (raw.trim() as LogLevel) : new Invalid(`must be one of ${LOG_LEVELS.join(', ')}`)) }),
  spec({ env: 'GATEWAY_ACCESS_LOG', key: 'accessLog', help: 'One JSON log line per request (on/off)', default: () => false, defaultText: 'off', parse: flag }),
  spec({ env: 'GATEWAY_METRICS_PORT', key: 'metricsPort', help: 'Port of GET /metrics (Prometheus text format, every worker of the instance); 0 turns metrics off', default: () => 9464, parse: integer(0, 65535) }),
  spec({ env: 'GATEWAY_METRICS_HOST', key: 'metricsHost', help: 'Address the metrics endpoint listens on', default: () => '0.0.0.0',
    parse: (raw) => (/^[0-9a-fA-F.:]+$|^localhost$/.test(raw.trim()) ? raw.trim() : new Invalid('must be an IPv4 or IPv6 address (or localhost)')) }),
  spec({ env: 'GATEWAY_MAX_ROUTES', key: 'maxRoutes', help: 'Route table capacity (shared memory, reserved at start)', default: () => DEFAULT_MAX_ROUTES, parse: integer(1, 4_000_000) }),
  spec({ env: 'GATEWAY_MAX_CLUSTERS', key: 'maxClusters', help: 'Cluster table capacity', default: () => DEFAULT_MAX_CLUSTERS, parse: integer(1, 1_000_000) }),
  spec({ env: 'GATEWAY_MAX_DESTINATIONS', key: 'maxDestinations', help: 'Destination table capacity', default: () => DEFAULT_MAX_DESTINATIONS, parse: integer(1, 1_000_000) }),
  spec({ env: 'GATEWAY_MAX_AUTH_POLICIES', key: 'maxAuthPolicies', help: 'Auth policy table capacity', default: () => DEFAULT_MAX_AUTH_POLICIES, parse: integer(1, 100_000) }),
  spec({ env: 'GATEWAY_RATE_LIMIT_BUCKETS', key: 'rateLimitBuckets', help: 'Rate-limit buckets (one per route and client key, shared by the workers; a power of two). When full, the stalest is reused',
    default: () => DEFAULT_RATE_LIMIT_BUCKETS, parse: powerOfTwo(MIN_RATE_LIMIT_BUCKETS, MAX_RATE_LIMIT_BUCKETS) }),
  spec({ env: 'GATEWAY_UPSTREAM_MAX_IDLE', key: 'upstreamMaxIdle', help: 'Idle keep-alive connections kept per destination per worker', default: () => 128, parse: integer(0, 100_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', key: 'upstreamIdleTimeoutMs', help: 'Idle upstream connections are closed after this long', default: () => 30_000, parse: integer(100, 3_600_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_CONNECT_TIMEOUT_MS', key: 'upstreamConnectTimeoutMs', help: 'Upstream connect timeout', default: () => 5_000, parse: integer(1, 600_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_BODY_TIMEOUT_MS', key: 'upstreamBodyTimeoutMs', help: 'Longest pause between two reads of an upstream response body (0 = none)', default: () => 60_000, parse: integer(0, 3_600_000) }),
  spec({ env: 'GATEWAY_MAX_RESPONSE_HEAD_BYTES', key: 'maxResponseHeadBytes', help: 'Largest upstream response head accepted (else 502)', default: () => 65_536, parse: integer(1024, 1_048_576) }),
  spec({ env: 'GATEWAY_MAX_URL_BYTES', key: 'maxUrlBytes', help: `Longest request URL (path and query) accepted, else 414 URL_TOO_LONG; at most ${UWS_HEAD_BUFFER_BYTES} (uWS's head buffer)`,
    default: () => UWS_HEAD_BUFFER_BYTES, parse: integer(64, UWS_HEAD_BUFFER_BYTES) }),
  spec({ env: 'GATEWAY_MAX_HEADER_COUNT', key: 'maxHeaderCount', help: `Most request header lines accepted, else 431 HEADERS_TOO_LARGE; at most ${UWS_MAX_HEADERS} (uWS never answers a head with more)`,
    default: () => UWS_MAX_HEADERS, parse: integer(1, UWS_MAX_HEADERS) }),
  spec({ env: 'GATEWAY_MAX_HEADER_BYTES', key: 'maxHeaderBytes', help: `Most request header bytes accepted (each line: name, value and 4), else 431 HEADERS_TOO_LARGE; at most ${UWS_HEAD_BUFFER_BYTES} (uWS's head buffer)`,
    default: () => UWS_HEAD_BUFFER_BYTES, parse: integer(256, UWS_HEAD_BUFFER_BYTES) }),
  spec({ env: 'GATEWAY_REQUEST_BODY_TIMEOUT_MS', key: 'requestBodyTimeoutMs', help: 'Longest pause of a client sending its request body: then 408 BODY_TIMEOUT, the connection is closed and the upstream exchange aborted',
    default: () => 10_000, parse: integer(100, 3_600_000) }),
  spec({ env: 'GATEWAY_MAX_REQUESTS_PER_WORKER', key: 'maxRequestsPerWorker', help: 'Requests in flight per worker thread; beyond it 503 WORKER_OVERLOADED with Retry-After, connection closed (0 = no limit)',
    default: () => 0, defaultText: '0 (no limit)', parse: integer(0, 10_000_000) }),
  spec({ env: 'REDIS_URL', key: 'redisUrl', help: 'Configuration and health from Redis (redis://, rediss://, redis+sentinel://h1,h2/master, redis+cluster://h1,h2) instead of GATEWAY_CONFIG',
    default: () => '', defaultText: 'none (file configuration)', parse: (raw) => {
      const parsed = parseRedisUrl(raw);
      return 'error' in parsed ? new Invalid(parsed.error) : raw.trim();
    } }),
  spec({ env: 'GATEWAY_REDIS_PREFIX', key: 'redisPrefix', help: 'Prefix of every control-plane key and channel (hash-tagged for Redis Cluster: fengling: -> {fengling}:)', default: () => DEFAULT_PREFIX,
    parse: (raw) => (/^[\x21-\x7e]{1,64}$/.test(raw.trim()) ? raw.trim() : new Invalid('must be 1 to 64 printable characters without spaces')) }),
  spec({ env: 'GATEWAY_STATE_DIR', key: 'stateDir', help: 'Directory where the last good configuration from Redis is saved, for a start while Redis is down', default: () => '',
    defaultText: 'none (no saved state)', parse: (raw) => raw.trim() }),
  spec({ env: 'GATEWAY_INSTANCE_ID', key: 'instanceId', help: 'This instance\'s id in the registry (gatewayctl status)', default: () => `${hostname()}-${process.pid}`,
    defaultText: 'hostname-pid', parse: (raw) => (/^[A-Za-z0-9._:-]{1,128}$/.test(raw.trim()) ? raw.trim() : new Invalid('must be 1 to 128 of A-Z a-z 0-9 . _ : -')) }),
  spec({ env: 'GATEWAY_ANTI_ENTROPY_MS', key: 'antiEntropyMs', help: 'How often the applied version is compared with the version in Redis (a mismatch resyncs)', default: () => 5_000, parse: integer(100, 3_600_000) }),
  spec({ env: 'GATEWAY_HEARTBEAT_TTL_MS', key: 'heartbeatTtlMs', help: 'Lifetime of this instance\'s heartbeat in Redis; it is renewed every third of it', default: () => 15_000, parse: integer(300, 3_600_000) }),
  spec({ env: 'GATEWAY_REDIS_START_WAIT_MS', key: 'redisStartWaitMs', help: 'At start, how long to wait for Redis before using the saved state (the instance keeps trying after)', default: () => 3_000, parse: integer(0, 600_000) }),
  spec({ env: 'REDIS_PASSWORD_FILE', key: 'redisPasswordFile', help: 'File holding the Redis password (a mounted secret); wins over a password in REDIS_URL', default: () => '', defaultText: 'unset',
    parse: (raw) => (existsSync(raw.trim()) ? raw.trim() : new Invalid('must name a readable file')) }),
  spec({ env: 'GATEWAY_ADMIN_KEYS_FILE', key: 'adminKeysFile', help: 'Admin keys for /api/gateway/* (one per line: KEY or sha256:<hex>, then rw or ro); unset = management API off', default: () => '', defaultText: 'unset (management API off)', parse: (raw) => raw.trim() }),
  spec({ env: 'GATEWAY_FAULT_INJECTION', key: 'faultInjection', help: 'TESTS ONLY: enables /__fengling/fault/* (e.g. crash-worker) to exercise recovery; never in production', default: () => false, defaultText: 'off', parse: flag }),
] as const;

/** Parse every setting; all bad values are reported at once. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const s of SETTINGS) {
    const raw = env[s.env];
    if (raw === undefined || raw === '') {
      out[s.key] = s.default();
      continue;
    }
    const parsed = (s.parse as (raw: string) => unknown)(raw);
    if (parsed instanceof Invalid) {
      problems.push(`${s.env}=${JSON.stringify(raw)}: ${parsed.reason}`);
    } else {
      out[s.key] = parsed;
    }
  }
  if (problems.length) throw new GatewayError('SETTING_INVALID', problems.join('\n'));
  return out as unknown as Settings;
}

export function workerSettings(s: Settings): WorkerSettings {
  return {
    port: s.port, host: s.host, logLevel: s.logLevel, accessLog: s.accessLog,
    upstreamMaxIdle: s.upstreamMaxIdle, upstreamIdleTimeoutMs: s.upstreamIdleTimeoutMs,
    upstreamConnectTimeoutMs: s.upstreamConnectTimeoutMs, upstreamBodyTimeoutMs: s.upstreamBodyTimeoutMs,
    maxResponseHeadBytes: s.maxResponseHeadBytes, faultInjection: s.faultInjection,
    maxUrlBytes: s.maxUrlBytes, maxHeaderCount: s.maxHeaderCount, maxHeaderBytes: s.maxHeaderBytes,
    requestBodyTimeoutMs: s.requestBodyTimeoutMs, maxRequestsPerWorker: s.maxRequestsPerWorker,
  };
}

/** The `--help` text, generated from SETTINGS. */
export function helpText(): string {
  const rows = SETTINGS.map((s) => `  ${s.env.padEnd(36)} ${s.help}\n  ${''.padEnd(36)} default: ${s.defaultText ?? String(s.default())}`);
  return [
    'fengling-gateway — a multi-core API gateway (uWS worker threads, shared-memory routing tables)',
    '',
    'Usage: fengling-gateway [--help] [--version] [--check]',
    '',
    '  --help      this text',
    '  --version   print the version',
    '  --check     validate the configuration (GATEWAY_CONFIG) and the settings, print every error, and exit',
    '',
    'Settings (environment variables):',
    ...rows,
    '',
    'Signals: SIGTERM or SIGINT stop accepting connections, let in-flight requests finish',
    'within GATEWAY_DRAIN_TIMEOUT_MS, then exit 0.',
    'Endpoints: GET /healthz (alive), GET /readyz (200 once every worker has a configuration).',
    'Docs: README.md, docs/configuration.md, docs/architecture.md, docs/control-plane.md (REDIS_URL).',
  ].join('\n');
}
