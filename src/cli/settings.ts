/**
 * Settings come from the environment, declared once in SETTINGS: parsing, defaults, `--help`
 * and docs all read this table. A bad value stops the process with a message naming the
 * variable (SETTING_INVALID).
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../errors.js';
import { DEFAULT_MAX_AUTH_POLICIES, DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_DESTINATIONS, DEFAULT_MAX_ROUTES } from '../shm/layout.js';

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
  readonly upstreamMaxIdle: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  readonly maxResponseHeadBytes: number;
}

/** What a worker thread needs of the settings (passed in workerData). */
export type WorkerSettings = Pick<Settings,
  'port' | 'host' | 'logLevel' | 'accessLog' | 'upstreamMaxIdle' | 'upstreamIdleTimeoutMs' |
  'upstreamConnectTimeoutMs' | 'upstreamBodyTimeoutMs' | 'maxResponseHeadBytes'>;

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
  spec({ env: 'GATEWAY_UPSTREAM_MAX_IDLE', key: 'upstreamMaxIdle', help: 'Idle keep-alive connections kept per destination per worker', default: () => 128, parse: integer(0, 100_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', key: 'upstreamIdleTimeoutMs', help: 'Idle upstream connections are closed after this long', default: () => 30_000, parse: integer(100, 3_600_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_CONNECT_TIMEOUT_MS', key: 'upstreamConnectTimeoutMs', help: 'Upstream connect timeout', default: () => 5_000, parse: integer(1, 600_000) }),
  spec({ env: 'GATEWAY_UPSTREAM_BODY_TIMEOUT_MS', key: 'upstreamBodyTimeoutMs', help: 'Longest pause between two reads of an upstream response body (0 = none)', default: () => 60_000, parse: integer(0, 3_600_000) }),
  spec({ env: 'GATEWAY_MAX_RESPONSE_HEAD_BYTES', key: 'maxResponseHeadBytes', help: 'Largest upstream response head accepted (else 502)', default: () => 65_536, parse: integer(1024, 1_048_576) }),
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
    maxResponseHeadBytes: s.maxResponseHeadBytes,
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
    'Docs: README.md, docs/configuration.md, docs/architecture.md.',
  ].join('\n');
}
