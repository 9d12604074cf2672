/**
 * RedisSource: the primary's configuration source when REDIS_URL is set. Only the primary
 * talks to Redis, over two connections (commands, and a subscriber); workers see the result
 * in the shared tables.
 *
 * Ordering: every configuration step (a change message, a resync, the cold-start load) runs on
 * one serial queue, so two steps never interleave and versions apply in order. The rules:
 *   - a change message goes through `nextStep` (sequencer.ts): apply as a patch, ignore, or
 *     resync from the snapshot;
 *   - the subscriber (re)connecting, the command connection reconnecting, a patch this
 *     instance rejects, and the anti-entropy tick finding (epoch, version) different from
 *     what is applied each queue a resync;
 *   - a resync reads epoch, version and snapshot in one MULTI, compiles the snapshot on the
 *     piscina pool (compiler.ts) and applies only the difference.
 * A version that is rejected (invalid, or beyond the tables' capacity) is logged with its
 * version, the last good configuration keeps serving, and the rejection shows in the
 * heartbeat until a later version applies. A rejected patch N leads to a resync, because
 * N+1 is a patch on top of N: the snapshot, validated whole, is what decides; if the snapshot
 * is rejected too, the instance stays on its last good version and does not compile that
 * snapshot again until the version in Redis moves.
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ClusterConfig } from '../config/types.js';
import { formatErrors } from '../config/validate.js';
import type { Logger } from '../observability/logger.js';
import type { ConfigApplier } from '../primary/config-applier.js';
import type { Supervisor } from '../primary/supervisor.js';
import type { TableWriter } from '../shm/table-writer.js';
import { decodeChangeMessage, decodeVersionKey, type Heartbeat, type RejectedVersion } from './codec.js';
import { SnapshotCompiler } from './compiler.js';
import { changeSize, upserts } from './config-model.js';
import { HealthSync } from './health-sync.js';
import { controlPlaneKeys, type ControlPlaneKeys } from './keys.js';
import { connectRedis, reconnectBackoff, redactUrl, type RedisClient } from './redis-connect.js';
import { Registry } from './registry.js';
import { needsResync, nextStep } from './sequencer.js';
import { StateStore } from './state-store.js';

export interface RedisSourceOptions {
  readonly url: string;
  readonly prefix: string;
  /** '' = no local state. */
  readonly stateDir: string;
  readonly instanceId: string;
  readonly antiEntropyMs: number;
  readonly heartbeatTtlMs: number;
  /** How long start() waits for Redis before falling back to the saved state. */
  readonly startWaitMs: number;
  readonly host: string;
  readonly port: number;
  readonly applier: ConfigApplier;
  readonly writer: TableWriter;
  readonly supervisor: Supervisor;
  readonly log: Logger;
}

/** Where the applied configuration came from. */
export type ConfigOrigin = 'none' | 'redis' | 'state-dir';

/** A compacting resync is forced after this many journal lines. */
const JOURNAL_COMPACT_LINES = 1_000;

export class RedisSource {
  readonly #opts: RedisSourceOptions;
  readonly #keys: ControlPlaneKeys;
  readonly #log: Logger;
  readonly #cmd: RedisClient;
  readonly #sub: RedisClient;
  readonly #compiler = new SnapshotCompiler();
  readonly #health: HealthSync;
  readonly #registry: Registry;
  readonly #state: StateStore | null;
  readonly #startedAt = new Date().toISOString();
  #queue: Promise<void> = Promise.resolve();
  #resyncQueued = false;
  #epoch: string | null = null;
  #seenVersion = 0;
  #origin: ConfigOrigin = 'none';
  #connected = false;
  #everConnected = false;
  #rejected: RejectedVersion | null = null;
  /** A snapshot (epoch/version) that was compiled and rejected: not compiled again. */
  #rejectedSnapshot: string | null = null;
  #lastError: Heartbeat['lastError'] = null;
  /** The malformed version key last reported, so that each anti-entropy tick does not log it again. */
  #badVersionKey: string | null = null;
  #antiEntropy: NodeJS.Timeout | null = null;
  #stopped = false;
  #firstResync: () => void = () => undefined;

  constructor(opts: RedisSourceOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'control-plane' });
    this.#keys = controlPlaneKeys(opts.prefix);
    const common = { retry: reconnectBackoff, connectTimeoutMs: 2_000 };
    this.#cmd = connectRedis(opts.url, { ...common, offlineQueue: false, name: `fengling:${opts.instanceId}:cmd` });
    this.#sub = connectRedis(opts.url, { ...common, offlineQueue: true, name: `fengling:${opts.instanceId}:sub` });
    this.#health = new HealthSync(opts.writer, opts.applier.model, this.#log);
    this.#registry = new Registry(this.#cmd, this.#keys, opts.heartbeatTtlMs, () => this.heartbeat(), this.#log);
    this.#state = opts.stateDir ? new StateStore(opts.stateDir, this.#log) : null;
  }

  get description(): string {
    return `redis:${redactUrl(this.#opts.url)} prefix=${this.#keys.prefix}`;
  }

  get origin(): ConfigOrigin {
    return this.#origin;
  }

  /**
   * Connect and load: resolves once the snapshot in Redis is applied, or after startWaitMs
   * with the saved state applied (if there is one) or nothing (the instance is not ready until
   * Redis answers; a Redis that holds no configuration also leaves it not ready).
   */
  async start(): Promise<void> {
    const firstResync = new Promise<void>((resolve) => { this.#firstResync = resolve; });
    this.#wire();
    const timedOut = await Promise.race([
      firstResync.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), this.#opts.startWaitMs).unref()),
    ]);
    if (timedOut && this.#state) {
      this.#log.warn({ url: redactUrl(this.#opts.url), waitedMs: this.#opts.startWaitMs }, 'Redis did not answer; starting from the saved state');
      await this.#enqueue(() => this.#loadSavedState());
    } else if (timedOut) {
      this.#log.warn({ url: redactUrl(this.#opts.url), waitedMs: this.#opts.startWaitMs }, 'Redis did not answer and there is no saved state; not ready until Redis answers');
    }
    this.#antiEntropy = setInterval(() => void this.#checkVersions(), this.#opts.antiEntropyMs);
    this.#antiEntropy.unref();
    this.#opts.supervisor.on('applied', () => this.#registry.beatSoon());
    this.#registry.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#antiEntropy) clearInterval(this.#antiEntropy);
    await this.#registry.stop(this.#opts.instanceId);
    await this.#state?.flush();
    await this.#compiler.close();
    this.#sub.disconnect();
    this.#cmd.disconnect();
  }

  heartbeat(): Omit<Heartbeat, 'protocol'> {
    const workers = this.#opts.supervisor.status().map((w) => ({
      index: w.index, appliedVersion: w.appliedVersion, listening: w.listening, restarts: w.restarts,
    }));
    return {
      id: this.#opts.instanceId, host: hostname(), port: this.#opts.port, pid: process.pid,
      startedAt: this.#startedAt, at: new Date().toISOString(), ttlMs: this.#opts.heartbeatTtlMs,
      source: this.#origin, epoch: this.#epoch, appliedVersion: this.#opts.applier.version, seenVersion: this.#seenVersion,
      connected: this.#connected, workers, rejected: this.#rejected, lastError: this.#lastError,
    };
  }

  /** The command connection and key prefix, for writers on this instance (the management API). */
  get commandConnection(): { readonly client: RedisClient; readonly prefix: string } {
    return { client: this.#cmd, prefix: this.#keys.prefix };
  }

  /** Resync from the snapshot now (POST /api/gateway/reload); resolves when it has run. */
  resyncNow(why: string): Promise<void> {
    this.#queueResync(why);
    return this.#queue;
  }

  /** Resolves when every queued configuration step has run (tests, shutdown). */
  idle(): Promise<void> {
    return this.#queue;
  }

  #wire(): void {
    const url = redactUrl(this.#opts.url);
    let reportedDown = false;
    const onError = (err: Error): void => {
      if (reportedDown) return;
      reportedDown = true;
      this.#log.warn({ code: 'REDIS_UNREACHABLE', url, err: err.message }, 'Redis is unreachable; serving the last configuration and reconnecting with backoff');
    };
    this.#cmd.on('error', onError);
    this.#sub.on('error', onError);
    this.#sub.on('close', () => {
      if (this.#connected) this.#log.warn({ url }, 'Redis subscription lost; serving the last configuration and reconnecting');
      this.#connected = false;
    });
    this.#sub.on('ready', () => {
      reportedDown = false;
      void this.#onSubscriberReady();
    });
    this.#cmd.on('ready', () => {
      // The command connection may come back after the subscriber: resync again so a change
      // written between the two reconnects is not missed.
      if (this.#everConnected) this.#queueResync('command connection reconnected');
    });
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel === this.#keys.changes) void this.#enqueue(() => this.#onChange(text));
      else if (channel === this.#keys.healthChanges) this.#health.onMessage(text);
    });
  }

  async #onSubscriberReady(): Promise<void> {
    try {
      // Our own SUBSCRIBE, awaited: once it answers, the subscription is live, so the snapshot
      // read next cannot miss a version published in between.
      await this.#sub.subscribe(this.#keys.changes, this.#keys.healthChanges);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'subscribing failed; retrying on reconnect');
      return;
    }
    const again = this.#everConnected;
    this.#connected = true;
    this.#everConnected = true;
    this.#log.info({ url: redactUrl(this.#opts.url), prefix: this.#keys.prefix }, again ? 'Redis reconnected; resyncing' : 'Redis connected');
    this.#queueResync(again ? 'reconnected' : 'connected');
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step).catch((err: unknown) => {
      this.#recordError('CONTROL_PLANE_ERROR', (err as Error).message);
      this.#log.error({ err }, 'a control-plane step failed; anti-entropy will retry');
    });
    return this.#queue;
  }

  #queueResync(why: string): void {
    if (this.#resyncQueued) return;
    this.#resyncQueued = true;
    void this.#enqueue(async () => {
      this.#resyncQueued = false;
      await this.#resync(why);
    });
  }

  async #onChange(text: string): Promise<void> {
    const decoded = decodeChangeMessage(text);
    if (!decoded.ok) {
      this.#recordError('CONTROL_MESSAGE_INVALID', decoded.reason);
      this.#log.error({ code: 'CONTROL_MESSAGE_INVALID', reason: decoded.reason }, 'malformed change message; resyncing from the snapshot');
      await this.#resync('malformed change message');
      return;
    }
    const message = decoded.value;
    if (message.epoch === this.#epoch || this.#epoch === null) this.#seenVersion = Math.max(this.#seenVersion, message.version);
    const step = nextStep({ epoch: this.#epoch, version: this.#opts.applier.version }, message);
    if (step.kind === 'ignore') return;
    if (step.kind === 'resync') {
      this.#log.info({ version: message.version, why: step.why }, 'resyncing from the snapshot');
      await this.#resync(step.why);
      return;
    }
    const checked = this.#opts.applier.model.check(message.change);
    if (!checked.ok) {
      this.#reject(message.version, `invalid change:\n${formatErrors(checked.errors)}`);
      await this.#resync(`version ${message.version} was rejected as a patch`);
      return;
    }
    const outcome = this.#opts.applier.applyChange(checked.change, 'redis', message.version);
    if (outcome.kind === 'rejected') {
      this.#reject(message.version, outcome.reason, true);
      await this.#resync(`version ${message.version} was rejected as a patch`);
      return;
    }
    this.#origin = 'redis';
    this.#rejected = null;
    this.#health.applyClusters(upserts(checked.change, 'clusters') as readonly ClusterConfig[]);
    this.#state?.appendChange(text);
  }

  async #resync(why: string): Promise<void> {
    if (this.#stopped) return;
    let epoch: string | null;
    let version: number;
    let text: string | null;
    try {
      const replies = await this.#cmd.multi().get(this.#keys.epoch).get(this.#keys.version).get(this.#keys.snapshot).exec();
      if (!replies) throw new Error('the snapshot transaction was aborted');
      for (const [err] of replies) if (err) throw err;
      epoch = replies[0][1] as string | null;
      const decoded = this.#versionKey(replies[1][1] as string | null);
      if (decoded === null) {
        // Redis answered, with a version key nobody can trust: keep what is applied, but
        // health still follows Redis, and start-up need not wait for Redis any longer.
        await this.#reloadHealth();
        this.#firstResync();
        return;
      }
      version = decoded;
      text = replies[2][1] as string | null;
    } catch (err) {
      this.#log.warn({ why, err: (err as Error).message }, 'resync postponed: Redis did not answer');
      return;
    }
    await this.#reloadHealth();
    this.#firstResync();
    if (epoch === null || text === null) {
      this.#log.warn({ why, appliedVersion: this.#opts.applier.version }, 'Redis holds no configuration; keeping what is applied (not ready if nothing is)');
      return;
    }
    this.#seenVersion = version;
    const applied = this.#opts.applier.hasConfig && this.#epoch === epoch && this.#opts.applier.version === version;
    const forceCompaction = (this.#state?.journalLines ?? 0) >= JOURNAL_COMPACT_LINES;
    if (applied && !forceCompaction) return;
    if (this.#rejectedSnapshot === `${epoch}/${version}`) return;
    const started = performance.now();
    // Measured on every resync and logged: the primary's event loop must keep turning while a
    // large snapshot compiles (docs/control-plane.md reports the figures for 100,000 routes).
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    let timing: Record<string, number> | null = null;
    try {
      timing = await this.#resyncFrom(text, epoch, version, why, started);
    } finally {
      // Read the histogram a little later: the delay caused by the synchronous table write is
      // only recorded when the loop turns again after it.
      setTimeout(() => {
        loop.disable();
        if (timing) {
          this.#log.info({
            why, version, epoch, ...timing, eventLoopDelayMaxMs: round(loop.max / 1e6), eventLoopDelayP99Ms: round(loop.percentile(99) / 1e6),
          }, 'resynced from the snapshot');
        }
      }, 20).unref();
    }
  }

  /** The compile-diff-write part of a resync; its timings, or null when nothing was applied. */
  async #resyncFrom(text: string, epoch: string, version: number, why: string, started: number): Promise<Record<string, number> | null> {
    const compiled = await this.#compiler.compile(text);
    if (!compiled.ok) {
      this.#rejectedSnapshot = `${epoch}/${version}`;
      this.#reject(version, `${compiled.reason}${compiled.errors.length ? `:\n${formatErrors(compiled.errors)}` : ''}`);
      return null;
    }
    if (compiled.epoch !== epoch || compiled.version !== version) {
      this.#log.warn({ epoch, version, snapshotEpoch: compiled.epoch, snapshotVersion: compiled.version }, 'the snapshot disagrees with the version key; using the version key');
    }
    const compiledMs = performance.now() - started;
    const diffStarted = performance.now();
    const { change, canon } = await this.#opts.applier.model.diffCanonicalAsync(compiled.lists);
    const writeStarted = performance.now();
    const outcome = await this.#opts.applier.applyChangeAsync(change, `redis:resync (${why})`, version, canon);
    const writeMs = performance.now() - writeStarted;
    const diffMs = writeStarted - diffStarted;
    if (outcome.kind === 'rejected') {
      this.#rejectedSnapshot = `${epoch}/${version}`;
      this.#reject(version, outcome.reason, true);
      return null;
    }
    this.#epoch = epoch;
    this.#origin = 'redis';
    this.#rejected = null;
    this.#rejectedSnapshot = null;
    this.#health.applyAll();
    this.#state?.saveSnapshot(text);
    return {
      items: changeSize(change), compiledMs: round(compiledMs), diffMs: round(diffMs), tableWriteMs: round(writeMs), totalMs: round(performance.now() - started),
    };
  }

  async #reloadHealth(): Promise<void> {
    try {
      this.#health.replaceAll(await this.#cmd.hgetall(this.#keys.health));
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'health reload postponed');
    }
  }

  async #checkVersions(): Promise<void> {
    if (this.#stopped || !this.#connected) return;
    let epoch: string | null;
    let version: number;
    try {
      const [e, v] = await this.#cmd.mget(this.#keys.epoch, this.#keys.version);
      const decoded = this.#versionKey(v);
      if (decoded === null) {
        await this.#reloadHealth();
        return;
      }
      epoch = e;
      version = decoded;
    } catch {
      return;
    }
    await this.#reloadHealth();
    if (epoch !== null && epoch === this.#epoch) this.#seenVersion = version;
    if (this.#rejectedSnapshot === `${epoch}/${version}`) return;
    const compaction = (this.#state?.journalLines ?? 0) >= JOURNAL_COMPACT_LINES;
    if (needsResync({ epoch: this.#epoch, version: this.#opts.applier.version }, { epoch, version }) || compaction) {
      this.#log.info({ appliedVersion: this.#opts.applier.version, redisVersion: version, compaction }, 'anti-entropy: resyncing');
      this.#queueResync('anti-entropy');
    }
  }

  /** Cold start while Redis is unreachable: the saved snapshot, then its journal in order. */
  async #loadSavedState(): Promise<void> {
    if (this.#opts.applier.hasConfig || !this.#state) return;
    const saved = await this.#state.load();
    if (!saved) {
      this.#log.warn({ dir: this.#opts.stateDir }, 'no saved state; not ready until Redis answers');
      return;
    }
    const compiled = await this.#compiler.compile(saved.snapshot);
    if (!compiled.ok) {
      this.#recordError('CONFIG_REJECTED', `saved state: ${compiled.reason}`);
      this.#log.error({ code: 'CONFIG_REJECTED', reason: compiled.reason }, 'the saved state is invalid; not ready until Redis answers');
      return;
    }
    const { change, canon } = await this.#opts.applier.model.diffCanonicalAsync(compiled.lists);
    const outcome = await this.#opts.applier.applyChangeAsync(change, `state-dir:${this.#opts.stateDir}`, compiled.version, canon);
    if (outcome.kind === 'rejected') {
      this.#recordError('CONFIG_REJECTED', `saved state: ${outcome.reason}`);
      return;
    }
    this.#epoch = compiled.epoch;
    this.#origin = 'state-dir';
    for (const line of saved.journal) {
      const decoded = decodeChangeMessage(line);
      if (!decoded.ok) break;
      const step = nextStep({ epoch: this.#epoch, version: this.#opts.applier.version }, decoded.value);
      if (step.kind === 'ignore') continue;
      if (step.kind === 'resync') break;
      const checked = this.#opts.applier.model.check(decoded.value.change);
      if (!checked.ok) break;
      if (this.#opts.applier.applyChange(checked.change, `state-dir:${this.#opts.stateDir}`, decoded.value.version).kind !== 'applied') break;
    }
    this.#health.applyAll();
    this.#log.info({ version: this.#opts.applier.version, epoch: this.#epoch, dir: this.#opts.stateDir }, 'started from the saved state; will resync when Redis answers');
  }

  /**
   * The version key's value, or null when it is malformed: then nothing is resynced or applied
   * (the last good configuration keeps serving at its version) until a writer puts a version
   * there again. Reported once per malformed value.
   */
  #versionKey(text: string | null): number | null {
    const decoded = decodeVersionKey(text);
    if (decoded.ok) {
      this.#badVersionKey = null;
      return decoded.value;
    }
    if (this.#badVersionKey !== text) {
      this.#badVersionKey = text;
      this.#recordError('CONTROL_MESSAGE_INVALID', decoded.reason);
      this.#log.error({ code: 'CONTROL_MESSAGE_INVALID', key: this.#keys.version, reason: decoded.reason }, 'malformed version key; keeping the applied configuration');
    }
    return null;
  }

  #reject(version: number, reason: string, countedByApplier = false): void {
    if (!countedByApplier) this.#opts.applier.rejectedBySource(version, reason);
    const at = new Date().toISOString();
    this.#rejected = { version, reason, at };
    this.#recordError('CONFIG_REJECTED', `version ${version}: ${reason}`);
    this.#log.error({ code: 'CONFIG_REJECTED', version, appliedVersion: this.#opts.applier.version, reason }, 'configuration version rejected; the last good configuration keeps serving');
    this.#registry.beatSoon();
  }

  #recordError(code: string, message: string): void {
    this.#lastError = { code, message, at: new Date().toISOString() };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
