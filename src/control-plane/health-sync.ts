/**
 * Destination health as the console reports it (K8S-02), written into the shared destination
 * table. The gateway decides nothing here: it runs no probe and holds no Kubernetes client
 * (K8S-01); it copies the console's verdict into one field that the balancers read.
 *
 * The Redis hash is the truth, the channel a hint. Reports are kept by "cluster/destination"
 * whether or not that destination exists yet, so a report that arrives before the
 * configuration that creates its destination applies the moment it is created. Effective
 * health: the console's report when there is one, else the configuration's `health` (up by
 * default).
 */
import type { ClusterConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { TableWriter } from '../shm/table-writer.js';
import { decodeHealthReport, healthField, type HealthReport } from './codec.js';
import type { ConfigModel } from './config-model.js';

export class HealthSync {
  readonly #writer: TableWriter;
  readonly #model: ConfigModel;
  readonly #log: Logger;
  readonly #reports = new Map<string, HealthReport>();

  constructor(writer: TableWriter, model: ConfigModel, log: Logger) {
    this.#writer = writer;
    this.#model = model;
    this.#log = log;
    // Batches that create a destination write its reported health with it.
    writer.setHealthSource((cluster, destination) => {
      const r = this.#reports.get(healthField(cluster, destination));
      return r === undefined ? undefined : r.state === 'up';
    });
  }

  get size(): number {
    return this.#reports.size;
  }

  /** A report from the health channel. */
  onMessage(text: string): void {
    const decoded = decodeHealthReport(text);
    if (!decoded.ok) {
      this.#log.warn({ code: 'CONTROL_MESSAGE_INVALID', reason: decoded.reason }, 'ignored a malformed health report');
      return;
    }
    const r = decoded.value;
    const field = healthField(r.cluster, r.destination);
    const before = this.#reports.get(field)?.state;
    this.#reports.set(field, r);
    if (before !== r.state) this.#log.info({ cluster: r.cluster, destination: r.destination, state: r.state, reason: r.reason }, 'destination health reported');
    this.#applyOne(r.cluster, r.destination);
  }

  /** The whole health hash (after a (re)connect and on each anti-entropy tick). */
  replaceAll(hash: Readonly<Record<string, string>>): void {
    const next = new Map<string, HealthReport>();
    for (const text of Object.values(hash)) {
      const decoded = decodeHealthReport(text);
      if (decoded.ok) next.set(healthField(decoded.value.cluster, decoded.value.destination), decoded.value);
    }
    const gone = [...this.#reports.values()].filter((r) => !next.has(healthField(r.cluster, r.destination)));
    this.#reports.clear();
    for (const [field, r] of next) this.#reports.set(field, r);
    for (const r of gone) this.#applyOne(r.cluster, r.destination);
    for (const r of next.values()) this.#applyOne(r.cluster, r.destination);
  }

  /** After a change: the destinations of the clusters it upserted (new slots included). */
  applyClusters(clusters: readonly ClusterConfig[]): void {
    if (this.#reports.size === 0) return;
    for (const c of clusters) for (const d of c.destinations) this.#applyOne(c.id, d.id);
  }

  /** After a resync: every report. */
  applyAll(): void {
    for (const r of this.#reports.values()) this.#applyOne(r.cluster, r.destination);
  }

  #applyOne(clusterId: string, destinationId: string): void {
    const slot = this.#writer.destinationSlot(clusterId, destinationId);
    if (slot === undefined) return;
    const report = this.#reports.get(healthField(clusterId, destinationId));
    if (report) {
      this.#writer.setHealth(slot, report.state === 'up');
      return;
    }
    const cluster = this.#model.get('clusters', clusterId) as ClusterConfig | undefined;
    const configured = cluster?.destinations.find((d) => d.id === destinationId)?.health;
    this.#writer.setHealth(slot, configured !== 'down');
  }
}
