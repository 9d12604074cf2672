#!/usr/bin/env node
/**
 * `gatewayctl`: the reference publisher of the control plane (what a console does, from a
 * shell). It writes configuration and destination health into Redis through the protocol in
 * src/control-plane (ControlPlaneStore) and reads back what the instances report.
 *
 * Exit codes: 0 done, 1 invalid input (every error printed with its field path), 2 usage,
 * 3 version conflict that retrying did not resolve, 4 Redis unreachable.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import { formatErrors } from '../config/validate.js';
import type { GatewayConfig } from '../config/types.js';
import { assessInstances, describeChange, describeHistory, describeInstances } from '../control-plane/change-view.js';
import { diffWhole } from '../control-plane/config-model.js';
import { HealthChecker } from '../control-plane/health-checker.js';
import { DEFAULT_PREFIX } from '../control-plane/keys.js';
import { connectRedis, redactUrl, type RedisClient } from '../control-plane/redis-connect.js';
import { parseRedisUrl } from '../control-plane/redis-url.js';
import { ControlPlaneStore, HistoryUnavailableError, MalformedRecordError, type UpdateResult } from '../control-plane/store.js';

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;
const EXIT_CONFLICT = 3;
const EXIT_UNREACHABLE = 4;

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

class UsageError extends Error {}

const HELP: Readonly<Record<string, string>> = {
  main: `gatewayctl — publish configuration and destination health to Fengling Gateway instances through Redis

Usage: gatewayctl [--redis URL] [--prefix PREFIX] COMMAND [options]

Commands:
  apply -f FILE [--dry-run]             validate FILE, diff it against Redis, publish it as one version
  get [routes|clusters] [-o yaml|json]  print the configuration in Redis
  history [--limit N]                   the versions kept in Redis, newest first
  rollback VERSION                      publish the content of VERSION as a new version
  status [-o json]                      every live instance: applied version, workers, lag, drift
  health set CLUSTER/DESTINATION up|down [--reason TEXT]
  health list                           the health the console reported, per destination
  health watch [options]                probe every destination and publish changes of state

Connection: --redis URL or REDIS_URL (redis://, rediss://, redis+sentinel://h1,h2/master,
redis+cluster://h1,h2); --prefix or GATEWAY_REDIS_PREFIX (default ${DEFAULT_PREFIX}).
Every command takes --help. Exit codes: 0 ok, 1 invalid input, 2 usage, 3 version conflict,
4 Redis unreachable. Docs: docs/control-plane.md.`,
  apply: `Usage: gatewayctl apply -f FILE [--dry-run]

Validates FILE (YAML or JSON; every error is printed with its field path), diffs it against
the configuration in Redis, prints the diff and publishes it as one new version. Nothing is
published when they are identical. When another writer publishes first, the diff is computed
again against the new version and retried; exit 3 if it keeps losing.
  -f, --file FILE   the whole configuration to publish
  --dry-run         print the diff, publish nothing`,
  get: `Usage: gatewayctl get [routes|clusters] [-o yaml|json]

Prints the configuration in Redis (whole, or one list). The YAML output starts with a comment
naming the version; both outputs can be fed back to \`gatewayctl apply -f\`.`,
  history: `Usage: gatewayctl history [--limit N]

The versions kept in Redis (newest first): when, by whom, and what they changed.`,
  rollback: `Usage: gatewayctl rollback VERSION

Rebuilds the configuration of VERSION from the history and publishes it as a new version
(the history records it as a rollback). Exit 1 when VERSION is no longer in the history.`,
  status: `Usage: gatewayctl status [-o json]

Every live instance (heartbeat not expired) with the version it applied, the version each of
its workers applied, its lag behind Redis, and DRIFT when anything is out of step (behind,
another epoch, a worker behind, a rejected version, disconnected).`,
  health: `Usage:
  gatewayctl health set CLUSTER/DESTINATION up|down [--reason TEXT]
  gatewayctl health list
  gatewayctl health watch [--path /healthz] [--interval-ms 2000] [--timeout-ms 1000]
                          [--rise 2] [--fall 3] [--cluster ID ...]

set: publish a destination's health (the gateway's balancers skip a destination that is down).
watch: a console-side checker: every interval, GET PATH on each destination in the snapshot;
down after FALL consecutive failures, up after RISE consecutive successes (2xx/3xx within the
timeout); each change of state is published. Health checks live here, never in the gateway.`,
};

interface Parsed {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
  readonly multi: Map<string, string[]>;
}

const VALUE_FLAGS = new Set(['--redis', '--prefix', '-f', '--file', '-o', '--output', '--reason', '--limit', '--path', '--interval-ms', '--timeout-ms', '--rise', '--fall', '--cluster']);

function parseArgs(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const multi = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('-') && arg !== '-') {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      if (VALUE_FLAGS.has(name)) {
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`${name} needs a value`);
        flags.set(name, value);
        multi.set(name, [...(multi.get(name) ?? []), value]);
      } else {
        flags.set(name, true);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags, multi };
}

function flag(p: Parsed, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = p.flags.get(n);
    if (typeof v === 'string') return v;
  }
  return undefined;
}

function wholeNumber(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a whole number`);
  return Number(text);
}

function checkKnownFlags(p: Parsed, allowed: readonly string[]): void {
  const all = new Set(['--redis', '--prefix', '--help', '-h', ...allowed]);
  for (const name of p.flags.keys()) if (!all.has(name)) throw new UsageError(`unknown option ${name}`);
}

export async function main(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (err) {
    io.err(`USAGE: ${(err as Error).message}\n\n${HELP.main}`);
    return EXIT_USAGE;
  }
  const command = p.positional[0];
  if (command === undefined || command === 'help') {
    io.out(HELP.main);
    return p.flags.has('--help') || p.flags.has('-h') || command === 'help' ? EXIT_OK : EXIT_USAGE;
  }
  if (!(command in HELP) || command === 'main') {
    io.err(`USAGE: unknown command "${command}"\n\n${HELP.main}`);
    return EXIT_USAGE;
  }
  if (p.flags.has('--help') || p.flags.has('-h')) {
    io.out(HELP[command]);
    return EXIT_OK;
  }

  const url = flag(p, '--redis') ?? env.REDIS_URL ?? '';
  const prefix = flag(p, '--prefix') ?? env.GATEWAY_REDIS_PREFIX ?? DEFAULT_PREFIX;
  let redis: RedisClient | null = null;
  try {
    // Input is checked before connecting: a bad file is reported even with Redis down.
    const prepared = await prepare(command, p, io);
    if (typeof prepared === 'number') return prepared;
    if (!url) throw new UsageError('no Redis: pass --redis URL or set REDIS_URL');
    const parsedUrl = parseRedisUrl(url);
    if ('error' in parsedUrl) throw new UsageError(`--redis / REDIS_URL ${parsedUrl.error}`);
    redis = connectRedis(url, { retry: null, connectTimeoutMs: 2_000, offlineQueue: false, lazyConnect: true, name: 'gatewayctl' });
    let cause = '';
    redis.on('error', (err: Error) => { cause = err.message; });
    try {
      await redis.connect();
    } catch (err) {
      io.err(`REDIS_UNREACHABLE: cannot reach Redis at ${redactUrl(url)}: ${cause || (err as Error).message}`);
      return EXIT_UNREACHABLE;
    }
    const store = new ControlPlaneStore(redis, { prefix });
    return await run(command, p, store, io, prepared);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`USAGE: ${err.message}\n\n${HELP[command] ?? HELP.main}`);
      return EXIT_USAGE;
    }
    if (err instanceof HistoryUnavailableError || err instanceof MalformedRecordError) {
      io.err(`${err.code}: ${err.message}`);
      return EXIT_INVALID;
    }
    const e = err as Error & { code?: string };
    if (redis && redis.status !== 'ready') {
      io.err(`REDIS_UNREACHABLE: lost Redis at ${redactUrl(url)}: ${e.message}`);
      return EXIT_UNREACHABLE;
    }
    io.err(`INTERNAL: ${e.message}`);
    return EXIT_INVALID;
  } finally {
    redis?.disconnect();
  }
}

/** What a command needs before connecting (the validated file of `apply`). */
type Prepared = { readonly config?: GatewayConfig };

async function prepare(command: string, p: Parsed, io: Io): Promise<Prepared | number> {
  switch (command) {
    case 'apply': {
      checkKnownFlags(p, ['-f', '--file', '--dry-run']);
      const file = flag(p, '-f', '--file');
      if (!file) throw new UsageError('apply needs -f FILE');
      const result = await loadConfigFile(file);
      if (!result.ok) {
        io.err(`CONFIG_INVALID: ${file}: ${result.errors.length} error(s)\n${formatErrors(result.errors)}`);
        return EXIT_INVALID;
      }
      return { config: result.config };
    }
    case 'get': {
      checkKnownFlags(p, ['-o', '--output']);
      const what = p.positional[1];
      if (what !== undefined && what !== 'routes' && what !== 'clusters') throw new UsageError(`get takes routes or clusters, not "${what}"`);
      const output = flag(p, '-o', '--output') ?? 'yaml';
      if (output !== 'yaml' && output !== 'json') throw new UsageError('-o must be yaml or json');
      return {};
    }
    case 'history':
      checkKnownFlags(p, ['--limit']);
      wholeNumber(flag(p, '--limit'), '--limit', 20);
      return {};
    case 'rollback':
      checkKnownFlags(p, []);
      if (!/^\d+$/.test(p.positional[1] ?? '')) throw new UsageError('rollback needs a VERSION (a whole number)');
      return {};
    case 'status': {
      checkKnownFlags(p, ['-o', '--output']);
      const output = flag(p, '-o', '--output') ?? 'text';
      if (output !== 'text' && output !== 'json') throw new UsageError('-o must be text or json');
      return {};
    }
    case 'health': {
      const sub = p.positional[1];
      if (sub === 'set') {
        checkKnownFlags(p, ['--reason']);
        const target = p.positional[2] ?? '';
        if (!/^[^/\s]+\/[^/\s]+$/.test(target)) throw new UsageError('health set needs CLUSTER/DESTINATION');
        if (p.positional[3] !== 'up' && p.positional[3] !== 'down') throw new UsageError('health set needs a state: up or down');
        return {};
      }
      if (sub === 'list') {
        checkKnownFlags(p, []);
        return {};
      }
      if (sub === 'watch') {
        checkKnownFlags(p, ['--path', '--interval-ms', '--timeout-ms', '--rise', '--fall', '--cluster']);
        for (const [name, fallback] of [['--interval-ms', 2000], ['--timeout-ms', 1000], ['--rise', 2], ['--fall', 3]] as const) {
          if (wholeNumber(flag(p, name), name, fallback) < 1) throw new UsageError(`${name} must be at least 1`);
        }
        if (!(flag(p, '--path') ?? '/').startsWith('/')) throw new UsageError('--path must start with /');
        return {};
      }
      throw new UsageError('health takes set, list or watch');
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function run(command: string, p: Parsed, store: ControlPlaneStore, io: Io, prepared: Prepared): Promise<number> {
  switch (command) {
    case 'apply': {
      const dryRun = p.flags.has('--dry-run');
      const config = prepared.config!;
      if (dryRun) {
        const current = await store.read();
        const change = diffWhole(current.config, config);
        const lines = describeChange(current.config, change);
        for (const line of lines) io.out(line);
        io.out(`dry run: nothing published (Redis is at version ${current.version})`);
        return EXIT_OK;
      }
      const result = await store.update(() => config, {
        onAttempt: (current, change, attempt) => {
          if (attempt > 1) io.out(`another writer published version ${current.version} first; diffing again against it`);
          if (current.errors.length > 0) io.out(`note: the configuration in Redis (version ${current.version}) does not validate; it is replaced whole`);
          for (const line of describeChange(current.config, change)) io.out(line);
        },
      });
      return reportUpdate(result, io);
    }
    case 'get': {
      const snap = await store.read();
      const what = p.positional[1] as 'routes' | 'clusters' | undefined;
      const value = what ? snap.config[what] : snap.config;
      if ((flag(p, '-o', '--output') ?? 'yaml') === 'json') {
        io.out(JSON.stringify(value, null, 2));
      } else {
        io.out(`# Redis configuration version ${snap.version}${snap.epoch ? ` (epoch ${snap.epoch})` : ' (none)'}`);
        io.out(toYaml(value).trimEnd());
      }
      return EXIT_OK;
    }
    case 'history': {
      const entries = await store.history(wholeNumber(flag(p, '--limit'), '--limit', 20));
      if (entries.length === 0) io.out('no history in Redis');
      else for (const line of describeHistory(entries)) io.out(line);
      return EXIT_OK;
    }
    case 'rollback': {
      const version = Number(p.positional[1]);
      const result = await store.rollback(version, {
        onAttempt: (current, change) => {
          io.out(`rolling back to the content of version ${version} (Redis is at ${current.version}):`);
          for (const line of describeChange(current.config, change)) io.out(line);
        },
      });
      return reportUpdate(result, io);
    }
    case 'status': {
      const [redisVersion, beats] = await Promise.all([store.version(), store.instances()]);
      const views = assessInstances(beats, redisVersion);
      if ((flag(p, '-o', '--output') ?? 'text') === 'json') {
        io.out(JSON.stringify({ redis: redisVersion, instances: views.map((v) => ({ ...v.beat, lag: v.lag, drift: v.drift })) }, null, 2));
      } else {
        for (const line of describeInstances(views, redisVersion)) io.out(line);
      }
      return EXIT_OK;
    }
    case 'health': {
      const sub = p.positional[1];
      if (sub === 'set') {
        const [cluster, destination] = p.positional[2].split('/');
        const state = p.positional[3] as 'up' | 'down';
        const snap = await store.read();
        const known = snap.config.clusters.find((c) => c.id === cluster)?.destinations.some((d) => d.id === destination) ?? false;
        const report = await store.setHealth(cluster, destination, state, flag(p, '--reason') ?? '');
        io.out(`${cluster}/${destination} is ${state}${report.reason ? ` (${report.reason})` : ''}`);
        if (!known) io.out(`note: ${cluster}/${destination} is not in the configuration (version ${snap.version}); it applies when it appears`);
        return EXIT_OK;
      }
      if (sub === 'list') {
        const reports = await store.health();
        if (reports.length === 0) io.out('no health reported');
        for (const r of reports.sort((a, b) => `${a.cluster}/${a.destination}`.localeCompare(`${b.cluster}/${b.destination}`))) {
          io.out(`${r.cluster}/${r.destination}  ${r.state}  ${r.at}  ${r.by}${r.reason ? `  ${r.reason}` : ''}`);
        }
        return EXIT_OK;
      }
      const checker = new HealthChecker(store, {
        path: flag(p, '--path') ?? '/',
        intervalMs: wholeNumber(flag(p, '--interval-ms'), '--interval-ms', 2000),
        timeoutMs: wholeNumber(flag(p, '--timeout-ms'), '--timeout-ms', 1000),
        rise: wholeNumber(flag(p, '--rise'), '--rise', 2),
        fall: wholeNumber(flag(p, '--fall'), '--fall', 3),
        clusters: new Set(p.multi.get('--cluster') ?? []),
      }, (line) => io.out(line));
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      io.out('watching destination health (Ctrl-C to stop)');
      await checker.run(stop.signal);
      return EXIT_OK;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function reportUpdate(result: UpdateResult, io: Io): number {
  switch (result.kind) {
    case 'committed':
      io.out(`published version ${result.version}${result.attempts > 1 ? ` (after ${result.attempts - 1} conflict(s), re-diffed against version ${result.base})` : ''}`);
      return EXIT_OK;
    case 'unchanged':
      io.out(`no changes: Redis already holds this configuration (version ${result.version})`);
      return EXIT_OK;
    case 'aborted':
      io.err(`CONFIG_INVALID: ${result.reason}`);
      return EXIT_INVALID;
    case 'conflict':
      io.err(`VERSION_CONFLICT: other writers kept publishing first (${result.attempts} attempts; Redis is at version ${result.version}); nothing was published by this command`);
      return EXIT_CONFLICT;
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io: Io = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };
  main(process.argv.slice(2), io).then(
    (code) => { process.exitCode = code; },
    (err) => { process.stderr.write(`INTERNAL: ${(err as Error).stack ?? err}\n`); process.exitCode = 1; },
  );
}
