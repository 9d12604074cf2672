/**
 * ControlPlaneStore: the writer's side of the protocol (gatewayctl, a console, the tests and
 * the propagation benchmark all use it).
 *
 * A write is one Lua script (COMMIT_SCRIPT) that checks the epoch and version it was based on
 * (compare-and-set), then sets version, snapshot and history and publishes the change
 * message, all at once: a reader never sees a snapshot without its history entry, and a
 * version is never published that is not in the snapshot. A writer that lost the race gets a
 * conflict with the current version; `update` then reads the new snapshot, runs the caller's
 * function again on it and retries, so every committed version was computed from the
 * version it replaced: no write is lost, and each one is in the history.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { validateConfig } from '../config/validate.js';
import type { ConfigChange, ConfigError, GatewayConfig } from '../config/types.js';
import {
  decodeHealthReport, decodeHeartbeat, decodeHistoryEntry, decodeSnapshot, decodeVersionKey,
  encodeChangeMessage, encodeHealthReport, encodeHistoryEntry, encodeSnapshot, healthField,
  type HealthReport, type HealthState, type Heartbeat, type HistoryEntry, type ListSummary,
} from './codec.js';
import { applyWhole, changeSize, deletes, diffWhole, listsOfChange, upserts } from './config-model.js';
import { controlPlaneKeys, type ControlPlaneKeys } from './keys.js';
import type { RedisClient } from './redis-connect.js';

/**
 * KEYS: epoch, version, snapshot, history. ARGV: expected epoch ('' = none yet), expected
 * version, epoch to create when there is none, snapshot text, history entry, history cap,
 * change channel, change message. Returns {1, epoch, version} or {0, epoch, version} (conflict).
 */
export const COMMIT_SCRIPT = `
local epoch = redis.call('GET', KEYS[1])
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
if (epoch or '') ~= ARGV[1] or version ~= tonumber(ARGV[2]) then
  return {0, epoch or '', version}
end
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[1], epoch)
end
local next = version + 1
redis.call('SET', KEYS[2], tostring(next))
redis.call('SET', KEYS[3], ARGV[4])
redis.call('LPUSH', KEYS[4], ARGV[5])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {1, epoch, next}
`;

export const DEFAULT_HISTORY_CAP = 100;

export interface Snapshot {
  /** null: Redis holds no configuration yet. */
  readonly epoch: string | null;
  readonly version: number;
  /** Validated and normalised; the empty configuration when there is none. */
  readonly config: GatewayConfig;
  /** Errors when the snapshot in Redis does not validate (config is then the raw content). */
  readonly errors: readonly ConfigError[];
}

export type CommitResult =
  | { readonly ok: true; readonly epoch: string; readonly version: number }
  | { readonly ok: false; readonly conflict: { readonly epoch: string | null; readonly version: number } };

export type UpdateResult =
  | { readonly kind: 'committed'; readonly version: number; readonly base: number; readonly change: ConfigChange; readonly attempts: number; readonly previous: GatewayConfig }
  | { readonly kind: 'unchanged'; readonly version: number; readonly attempts: number }
  | { readonly kind: 'aborted'; readonly version: number; readonly reason: string }
  | { readonly kind: 'conflict'; readonly version: number; readonly attempts: number };

export interface WriteOptions {
  readonly kind?: HistoryEntry['kind'];
  readonly restores?: number;
  /** Retries after a conflict before giving up (default 10). */
  readonly retries?: number;
  /** Called before each commit attempt (gatewayctl prints the diff). */
  readonly onAttempt?: (current: Snapshot, change: ConfigChange, attempt: number) => void;
}

export class HistoryUnavailableError extends Error {
  readonly code = 'HISTORY_UNAVAILABLE';
}

/**
 * A record the writer must build on is malformed (the version key holds `-3` or `abc`): writing
 * on top of it would publish a version no instance accepts, so nothing is written until it is
 * repaired by hand.
 */
export class MalformedRecordError extends Error {
  readonly code = 'CONTROL_MESSAGE_INVALID';
}

function versionOf(text: string | null): number {
  const decoded = decodeVersionKey(text);
  if (!decoded.ok) throw new MalformedRecordError(`${decoded.reason}; repair it (SET it to the version in the snapshot) before writing`);
  return decoded.value;
}

/** What an update computes: the next whole configuration, or why it gives up. */
export type Computed = GatewayConfig | { readonly abort: string };

export const EMPTY_CONFIG: GatewayConfig = { routes: [], clusters: [] };

export class ControlPlaneStore {
  readonly #redis: RedisClient;
  readonly #keys: ControlPlaneKeys;
  readonly #writer: string;
  readonly #historyCap: number;

  constructor(redis: RedisClient, opts: { prefix?: string; writer?: string; historyCap?: number } = {}) {
    this.#redis = redis;
    this.#keys = controlPlaneKeys(opts.prefix);
    this.#writer = opts.writer ?? `gatewayctl@${hostname()}:${process.pid}`;
    this.#historyCap = opts.historyCap ?? DEFAULT_HISTORY_CAP;
  }

  get keys(): ControlPlaneKeys {
    return this.#keys;
  }

  async version(): Promise<{ epoch: string | null; version: number }> {
    const [epoch, version] = await this.#redis.mget(this.#keys.epoch, this.#keys.version);
    return { epoch, version: versionOf(version) };
  }

  /** Epoch, version and snapshot, read in one transaction. */
  async read(): Promise<Snapshot> {
    const replies = await this.#redis.multi().get(this.#keys.epoch).get(this.#keys.version).get(this.#keys.snapshot).exec();
    if (!replies) throw new Error('the snapshot transaction was aborted');
    for (const [err] of replies) if (err) throw err;
    const epoch = replies[0][1] as string | null;
    const version = versionOf(replies[1][1] as string | null);
    const text = replies[2][1] as string | null;
    if (epoch === null || text === null) return { epoch, version, config: EMPTY_CONFIG, errors: [] };
    const decoded = decodeSnapshot(text);
    if (!decoded.ok) return { epoch, version, config: EMPTY_CONFIG, errors: [{ path: '$', message: `snapshot is malformed: ${decoded.reason}` }] };
    const valid = validateConfig(decoded.value.config);
    if (!valid.ok) return { epoch, version, config: decoded.value.config as GatewayConfig, errors: valid.errors };
    return { epoch, version, config: valid.config, errors: [] };
  }

  /**
   * One compare-and-set write of `next` on top of `base` (its epoch and version).
   * `next` must be validated; `change` and `undo` are computed when not given (O(size): a
   * writer that knows them, e.g. a console patching one route, passes them).
   */
  async commit(base: Snapshot, next: GatewayConfig, opts: { change?: ConfigChange; undo?: ConfigChange; kind?: HistoryEntry['kind']; restores?: number } = {}): Promise<CommitResult> {
    const change = opts.change ?? diffWhole(base.config, next);
    const undo = opts.undo ?? diffWhole(next, base.config);
    const epoch = base.epoch ?? randomBytes(8).toString('hex');
    const version = base.version + 1;
    const at = new Date().toISOString();
    const summary: Record<string, ListSummary> = {};
    for (const list of listsOfChange(change)) summary[list] = { upserted: upserts(change, list).length, deleted: deletes(change, list).length };
    const reply = await this.#redis.eval(
      COMMIT_SCRIPT, 4, this.#keys.epoch, this.#keys.version, this.#keys.snapshot, this.#keys.history,
      base.epoch ?? '', String(base.version), epoch,
      encodeSnapshot({ epoch, version, at, writer: this.#writer, config: next }),
      encodeHistoryEntry({ epoch, version, base: base.version, at, writer: this.#writer, kind: opts.kind ?? 'apply', restores: opts.restores, summary, change, undo }),
      String(this.#historyCap), this.#keys.changes,
      encodeChangeMessage({ epoch, version, base: base.version, at, writer: this.#writer, change }),
    ) as [number, string, number];
    if (reply[0] === 1) return { ok: true, epoch: reply[1], version: Number(reply[2]) };
    return { ok: false, conflict: { epoch: reply[1] || null, version: Number(reply[2]) } };
  }

  /**
   * Read, compute, compare-and-set, and on a conflict do it all again on the new snapshot.
   * `compute` returns the next whole configuration (validated) or an error message to abort.
   */
  async update(compute: (current: Snapshot) => Computed | Promise<Computed>, opts: WriteOptions = {}): Promise<UpdateResult> {
    const retries = opts.retries ?? 10;
    let current = await this.read();
    for (let attempt = 1; ; attempt++) {
      const next = await compute(current);
      if ('abort' in next) return { kind: 'aborted', version: current.version, reason: next.abort };
      const change = diffWhole(current.config, next);
      if (changeSize(change) === 0 && current.epoch !== null) return { kind: 'unchanged', version: current.version, attempts: attempt };
      opts.onAttempt?.(current, change, attempt);
      const result = await this.commit(current, next, { change, kind: opts.kind, restores: opts.restores });
      if (result.ok) return { kind: 'committed', version: result.version, base: current.version, change, attempts: attempt, previous: current.config };
      if (attempt > retries) return { kind: 'conflict', version: result.conflict.version, attempts: attempt };
      // Back off a little, randomly, so that writers racing in a loop do not collide forever.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      current = await this.read();
    }
  }

  /** Newest first. */
  async history(limit = this.#historyCap): Promise<HistoryEntry[]> {
    const texts = await this.#redis.lrange(this.#keys.history, 0, limit - 1);
    return texts.map(decodeHistoryEntry).filter((d) => d.ok).map((d) => (d as { value: HistoryEntry }).value);
  }

  /**
   * The configuration as it was at `version`: the current snapshot with the undo of every
   * later version applied, newest first. Every version in between must still be in the
   * history (same epoch).
   */
  async configAt(version: number, current?: Snapshot): Promise<GatewayConfig> {
    const snap = current ?? await this.read();
    if (snap.epoch === null) throw new HistoryUnavailableError('Redis holds no configuration');
    if (version > snap.version || version < 0) throw new HistoryUnavailableError(`version ${version} does not exist (current: ${snap.version})`);
    const entries = new Map((await this.history()).filter((h) => h.epoch === snap.epoch).map((h) => [h.version, h]));
    let config = snap.config;
    for (let v = snap.version; v > version; v--) {
      const entry = entries.get(v);
      if (!entry) {
        const oldest = Math.min(...entries.keys());
        throw new HistoryUnavailableError(`version ${version} is older than the history kept in Redis (oldest restorable: ${Number.isFinite(oldest) ? oldest - 1 : snap.version})`);
      }
      config = applyWhole(config, entry.undo);
    }
    return config;
  }

  /**
   * Publish the content of `version` as a new version (history kind `rollback`). Throws
   * HistoryUnavailableError when `version` can no longer be rebuilt from the history.
   */
  rollback(version: number, opts: Omit<WriteOptions, 'kind' | 'restores'> = {}): Promise<UpdateResult> {
    return this.update(async (current) => {
      const old = validateConfig(await this.configAt(version, current));
      return old.ok ? old.config : { abort: `version ${version} does not validate with this version of the schema:\n${old.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}` };
    }, { ...opts, kind: 'rollback', restores: version });
  }

  async setHealth(cluster: string, destination: string, state: HealthState, reason = '', by = this.#writer): Promise<HealthReport> {
    const report = { cluster, destination, state, reason, at: new Date().toISOString(), by };
    const text = encodeHealthReport(report);
    await this.#redis.multi().hset(this.#keys.health, healthField(cluster, destination), text).publish(this.#keys.healthChanges, text).exec();
    return { protocol: 1, ...report };
  }

  async health(): Promise<HealthReport[]> {
    const hash = await this.#redis.hgetall(this.#keys.health);
    return Object.values(hash).map(decodeHealthReport).filter((d) => d.ok).map((d) => (d as { value: HealthReport }).value);
  }

  /** Heartbeats of the live instances (expired ones are gone). */
  async instances(): Promise<Heartbeat[]> {
    const ids = await this.#redis.zrange(this.#keys.instances, '0', '-1');
    if (ids.length === 0) return [];
    const texts = await this.#redis.mget(...ids.map((id) => this.#keys.instance(id)));
    const out: Heartbeat[] = [];
    for (const text of texts) {
      if (text === null) continue;
      const decoded = decodeHeartbeat(text);
      if (decoded.ok) out.push(decoded.value);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
