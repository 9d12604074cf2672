/**
 * The control plane's wire format (protocol 1): what the keys and channels of keys.ts hold.
 * Writers (gatewayctl, a console) and the gateway's primary both go through this file, so the
 * two sides cannot disagree on a field. Decoding never throws: a malformed record is a value
 * with a reason, logged by the caller.
 */
import type { ConfigChange } from '../config/types.js';

export const PROTOCOL = 1;

/**
 * A change message larger than this travels without its change (`change: null`): receivers
 * resync from the snapshot instead, on their piscina pool, so that a 100,000-route first load
 * never has to be parsed on the primary's event loop in one piece.
 */
export const MAX_INLINE_CHANGE_BYTES = 256 * 1024;

/** One version, as published on the change channel. `base` is the version it applies on top of. */
export interface ChangeMessage {
  readonly protocol: number;
  readonly epoch: string;
  readonly version: number;
  readonly base: number;
  readonly at: string;
  readonly writer: string;
  /** null: too large to travel inline; read the snapshot. */
  readonly change: ConfigChange | null;
}

/** The authoritative configuration at `version` (the `config` is validated by each reader). */
export interface SnapshotRecord {
  readonly protocol: number;
  readonly epoch: string;
  readonly version: number;
  readonly at: string;
  readonly writer: string;
  readonly config: unknown;
}

export interface ListSummary {
  readonly upserted: number;
  readonly deleted: number;
}

/** One entry of the capped history list: enough to show it and to undo it. */
export interface HistoryEntry {
  readonly protocol: number;
  readonly epoch: string;
  readonly version: number;
  readonly base: number;
  readonly at: string;
  readonly writer: string;
  readonly kind: 'apply' | 'rollback';
  /** For a rollback: the version whose content it restored. */
  readonly restores?: number;
  readonly summary: Readonly<Record<string, ListSummary>>;
  readonly change: ConfigChange;
  /** The change that turns `version` back into `base`. */
  readonly undo: ConfigChange;
}

export type HealthState = 'up' | 'down';

export interface HealthReport {
  readonly protocol: number;
  readonly cluster: string;
  readonly destination: string;
  readonly state: HealthState;
  readonly reason: string;
  readonly at: string;
  readonly by: string;
}

export interface WorkerHeartbeat {
  readonly index: number;
  readonly appliedVersion: number;
  readonly listening: boolean;
  readonly restarts: number;
}

export interface RejectedVersion {
  readonly version: number;
  readonly reason: string;
  readonly at: string;
}

export interface Heartbeat {
  readonly protocol: number;
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly startedAt: string;
  readonly at: string;
  readonly ttlMs: number;
  /** Where the applied configuration came from: redis, state-dir (cold start), none. */
  readonly source: string;
  readonly epoch: string | null;
  readonly appliedVersion: number;
  /** The latest version this instance saw in Redis. */
  readonly seenVersion: number;
  readonly connected: boolean;
  readonly workers: readonly WorkerHeartbeat[];
  /** Set while the latest version is rejected and the instance serves an older one. */
  readonly rejected: RejectedVersion | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: string } | null;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export function encodeChangeMessage(message: Omit<ChangeMessage, 'protocol'>): string {
  const full = JSON.stringify({ protocol: PROTOCOL, ...message });
  if (message.change === null || Buffer.byteLength(full) <= MAX_INLINE_CHANGE_BYTES) return full;
  return JSON.stringify({ protocol: PROTOCOL, ...message, change: null });
}

export function decodeChangeMessage(text: string): Decoded<ChangeMessage> {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  const problem = checkProtocol(m) ?? checkString(m, 'epoch') ?? checkVersion(m, 'version') ?? checkVersion(m, 'base')
    ?? checkString(m, 'at') ?? checkString(m, 'writer');
  if (problem) return { ok: false, reason: problem };
  if ((m.base as number) >= (m.version as number)) return { ok: false, reason: `base ${m.base} is not below version ${m.version}` };
  if (m.change !== null && (typeof m.change !== 'object' || Array.isArray(m.change))) return { ok: false, reason: 'change must be an object or null' };
  return { ok: true, value: m as unknown as ChangeMessage };
}

export function encodeSnapshot(record: Omit<SnapshotRecord, 'protocol'>): string {
  return JSON.stringify({ protocol: PROTOCOL, ...record });
}

export function decodeSnapshot(text: string): Decoded<SnapshotRecord> {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const s = parsed.value;
  const problem = checkProtocol(s) ?? checkString(s, 'epoch') ?? checkVersion(s, 'version');
  if (problem) return { ok: false, reason: problem };
  if (s.config === null || typeof s.config !== 'object') return { ok: false, reason: 'config must be an object' };
  return { ok: true, value: s as unknown as SnapshotRecord };
}

export function encodeHistoryEntry(entry: Omit<HistoryEntry, 'protocol'>): string {
  return JSON.stringify({ protocol: PROTOCOL, ...entry });
}

export function decodeHistoryEntry(text: string): Decoded<HistoryEntry> {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  const problem = checkProtocol(h) ?? checkVersion(h, 'version') ?? checkVersion(h, 'base') ?? checkString(h, 'epoch');
  if (problem) return { ok: false, reason: problem };
  if (typeof h.change !== 'object' || typeof h.undo !== 'object' || h.change === null || h.undo === null) {
    return { ok: false, reason: 'change and undo must be objects' };
  }
  return { ok: true, value: h as unknown as HistoryEntry };
}

/**
 * The version key's value, as the commit script writes it: decimal digits, a safe integer. An
 * absent key is version 0 (no configuration yet). Anything else (a hand-edited or corrupted
 * key: `-3`, `1.5`, `abc`, `1e30`) is malformed, and a reader must not take it as a version.
 */
export function decodeVersionKey(text: string | null): Decoded<number> {
  if (text === null) return { ok: true, value: 0 };
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    return { ok: false, reason: `the version key holds ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}, not a whole number >= 0` };
  }
  return { ok: true, value };
}

/** The health hash's field for a destination. */
export function healthField(cluster: string, destination: string): string {
  return `${cluster}/${destination}`;
}

export function encodeHealthReport(report: Omit<HealthReport, 'protocol'>): string {
  return JSON.stringify({ protocol: PROTOCOL, ...report });
}

export function decodeHealthReport(text: string): Decoded<HealthReport> {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  const problem = checkProtocol(h) ?? checkString(h, 'cluster') ?? checkString(h, 'destination');
  if (problem) return { ok: false, reason: problem };
  if (h.state !== 'up' && h.state !== 'down') return { ok: false, reason: 'state must be "up" or "down"' };
  return { ok: true, value: { reason: '', at: '', by: '', ...h } as unknown as HealthReport };
}

export function encodeHeartbeat(beat: Omit<Heartbeat, 'protocol'>): string {
  return JSON.stringify({ protocol: PROTOCOL, ...beat });
}

export function decodeHeartbeat(text: string): Decoded<Heartbeat> {
  const parsed = parseObject(text);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  const problem = checkProtocol(h) ?? checkString(h, 'id') ?? checkVersion(h, 'appliedVersion');
  if (problem) return { ok: false, reason: problem };
  if (!Array.isArray(h.workers)) return { ok: false, reason: 'workers must be an array' };
  return { ok: true, value: h as unknown as Heartbeat };
}

function parseObject(text: string): Decoded<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  return { ok: true, value: value as Record<string, unknown> };
}

function checkProtocol(o: Record<string, unknown>): string | undefined {
  return o.protocol === PROTOCOL ? undefined : `protocol ${JSON.stringify(o.protocol)} is not ${PROTOCOL}`;
}

function checkString(o: Record<string, unknown>, key: string): string | undefined {
  return typeof o[key] === 'string' ? undefined : `${key} must be a string`;
}

function checkVersion(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : `${key} must be a whole number >= 0`;
}
