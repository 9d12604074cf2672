/**
 * How gatewayctl shows a change and the instances: plain text, one line per item, stable
 * order, so an operator (or a test) can read and compare it.
 */
import type { ConfigChange, GatewayConfig } from '../config/types.js';
import type { Heartbeat, HistoryEntry } from './codec.js';
import { deletes, listsOfChange, upserts } from './config-model.js';

const SINGULAR: Readonly<Record<string, string>> = { routes: 'route', clusters: 'cluster', authPolicies: 'auth policy' };

/** `+ route a` (added), `~ route b` (changed), `- cluster c` (removed), then a count line. */
export function describeChange(current: GatewayConfig, change: ConfigChange): string[] {
  const lines: string[] = [];
  let added = 0;
  let changed = 0;
  let removed = 0;
  const existing = current as unknown as Record<string, ReadonlyArray<{ readonly id: string }> | undefined>;
  for (const list of listsOfChange(change)) {
    const name = SINGULAR[list] ?? list;
    const ids = new Set((existing[list] ?? []).map((i) => i.id));
    for (const item of upserts(change, list)) {
      if (ids.has(item.id)) {
        changed++;
        lines.push(`  ~ ${name} ${item.id}`);
      } else {
        added++;
        lines.push(`  + ${name} ${item.id}`);
      }
    }
    for (const id of deletes(change, list)) {
      removed++;
      lines.push(`  - ${name} ${id}`);
    }
  }
  lines.push(`${added + changed + removed} change(s): ${added} added, ${changed} changed, ${removed} removed`);
  return lines;
}

export function describeHistory(entries: readonly HistoryEntry[]): string[] {
  const rows = entries.map((h) => {
    const parts = Object.entries(h.summary)
      .filter(([, s]) => s.upserted + s.deleted > 0)
      .map(([list, s]) => `${list} +${s.upserted}/-${s.deleted}`);
    const what = h.kind === 'rollback' ? `rollback to ${h.restores}` : 'apply';
    return [String(h.version), h.at, h.writer, what, parts.join(', ') || 'no change'];
  });
  return table(['VERSION', 'AT', 'WRITER', 'KIND', 'CHANGE'], rows);
}

export interface InstanceView {
  readonly beat: Heartbeat;
  readonly lag: number;
  /** Empty when the instance is in step with Redis and its workers with it. */
  readonly drift: readonly string[];
}

/** Drift: behind Redis, another epoch, a worker behind its instance, a rejected version, a lost connection. */
export function assessInstances(beats: readonly Heartbeat[], redis: { readonly epoch: string | null; readonly version: number }): InstanceView[] {
  return beats.map((beat) => {
    const drift: string[] = [];
    const sameEpoch = beat.epoch === redis.epoch;
    const lag = sameEpoch ? redis.version - beat.appliedVersion : redis.version;
    if (!sameEpoch && redis.epoch !== null) drift.push(beat.epoch === null ? 'no configuration' : `epoch ${beat.epoch} (Redis: ${redis.epoch})`);
    else if (lag !== 0) drift.push(`${lag > 0 ? 'behind' : 'ahead'} by ${Math.abs(lag)}`);
    for (const w of beat.workers) {
      if (w.appliedVersion !== beat.appliedVersion) drift.push(`worker ${w.index} at v${w.appliedVersion}`);
    }
    if (beat.rejected) drift.push(`rejected v${beat.rejected.version}`);
    if (!beat.connected) drift.push('disconnected from Redis');
    return { beat, lag, drift };
  });
}

export function describeInstances(views: readonly InstanceView[], redis: { readonly epoch: string | null; readonly version: number }): string[] {
  const header = `Redis configuration: version ${redis.version}${redis.epoch ? ` (epoch ${redis.epoch})` : ' (none)'}; ${views.length} live instance(s)`;
  const rows = views.map(({ beat, lag, drift }) => [
    beat.id, `${beat.host}:${beat.port}`, String(beat.pid), String(beat.appliedVersion), String(lag),
    beat.workers.map((w) => w.appliedVersion).join(','), beat.source,
    drift.length === 0 ? 'in sync' : `DRIFT: ${drift.join('; ')}`,
  ]);
  const lines = [header, ...table(['INSTANCE', 'ADDRESS', 'PID', 'APPLIED', 'LAG', 'WORKERS', 'SOURCE', 'STATE'], rows)];
  for (const { beat } of views) {
    if (beat.rejected) lines.push(`  ${beat.id}: version ${beat.rejected.version} rejected at ${beat.rejected.at}: ${beat.rejected.reason.split('\n').join(' | ')}`);
  }
  return lines;
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)];
}
