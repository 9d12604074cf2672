/**
 * The primary's view of the request metrics that workers count in shared memory
 * (shm/metrics-layout.ts), rendered straight to Prometheus text at scrape time.
 *
 * Reading: the primary thread only, never a worker (the scrape costs the request path
 * nothing). Each worker block has one writer, its worker; this side sums the blocks cell by
 * cell. A scrape is not a snapshot across cells (see metrics-layout.ts).
 *
 * Route labels: a route's cells are indexed by its slot in the shared route table. The
 * primary keeps its own TableReader over the tables to know which route id holds each slot;
 * `refresh()` polls it (cheap when nothing changed) and runs at every scrape and whenever a
 * worker acknowledges a new configuration version.
 *
 * Counter monotonicity when a slot changes occupant: the route table reuses freed slots, and
 * the cells of a slot are never reset (workers are their only writers). So when `refresh()`
 * sees a slot change occupant it records the slot's current cell sums as a baseline, and the
 * new route's series are the sums minus that baseline: they start at zero and only grow.
 *
 *   cells of slot s (summed over workers)  ──────────────────────────────▶ time
 *   |  route A counts  |  in-flight A requests finishing  |  route B counts ...
 *                      ^ A removed, slot later given to B; refresh() notices: baseline = sums
 *
 * The inaccuracy is small and bounded by the time between the change and `refresh()`
 * noticing it (normally the first worker acknowledgement, a few milliseconds): requests of
 * the new route counted before the baseline is taken are absorbed into it, and requests of the
 * old route that finish after it are counted as the new route's. A removed route's series
 * disappear from the scrape (Prometheus marks them stale).
 */
import {
  DURATION_BUCKETS, ERROR_CODES, kBytesIn, kBytesOut, kDurBase, kDurCells, kErrBase, kInFlight, kReqBase, kRouteCells,
  kUpBase, kUpCells, METRIC_CLASSES, METRIC_METHODS, routeBase, unmatchedSlot,
} from '../shm/metrics-layout.js';
import { HEALTH_UP, kDestHealth, kDestInFlight, kDestStride, type SharedTables } from '../shm/layout.js';
import { TableReader, type TableBatch } from '../shm/table-reader.js';
import { escapeLabelValue, familyHeader, formatValue } from './prometheus-text.js';

/** The `route` label of requests that matched no route (a route id always starts with a letter or digit). */
export const UNMATCHED_ROUTE_LABEL = '(unmatched)';
/**
 * Client aborts are not an ErrorCode (no response is sent, the pipeline records status 499
 * without a code); fengling_errors_total shows them under this code, counted from the
 * requests whose status class is `aborted`.
 */
export const CLIENT_ABORTED_CODE = 'CLIENT_ABORTED';

/** Names of the families rendered here; docs/observability.md lists each (a test checks). */
export const SHARED_FAMILIES = {
  requests: 'fengling_requests_total',
  duration: 'fengling_request_duration_seconds',
  upstream: 'fengling_upstream_duration_seconds',
  bytesIn: 'fengling_request_bytes_total',
  bytesOut: 'fengling_response_bytes_total',
  inFlight: 'fengling_requests_in_flight',
  errors: 'fengling_errors_total',
  destinationInFlight: 'fengling_destination_in_flight',
  destinationUp: 'fengling_destination_up',
} as const;

const kBuckets = DURATION_BUCKETS.length;
const LE_LABELS = [...DURATION_BUCKETS.map((b) => formatValue(b)), '+Inf'];
const CLASSES = METRIC_CLASSES.length;
const kAbortedClass = METRIC_CLASSES.indexOf('aborted');

interface DestinationLabel {
  readonly clusterSlot: number;
  /** `destination="..."`, escaped once. */
  readonly label: string;
}

export class SharedMetrics {
  readonly #blocks: readonly Float64Array[];
  readonly #reader: TableReader;
  readonly #destRows: Int32Array;
  readonly #maxRoutes: number;
  /** `route="..."` of every occupied route slot, escaped once per change. */
  readonly #routes = new Map<number, string>();
  /** Cell sums of a slot when it last changed occupant (see the file comment). */
  readonly #baselines = new Map<number, Float64Array>();
  readonly #destinations = new Map<number, DestinationLabel>();
  /** `cluster="..."` by cluster slot. */
  readonly #clusters = new Map<number, string>();
  readonly #cells = new Float64Array(kRouteCells);
  /** False until the first poll: what the slots counted before it belongs to their current routes. */
  #known = false;

  constructor(blocks: readonly SharedArrayBuffer[], tables: SharedTables) {
    this.#blocks = blocks.map((b) => new Float64Array(b));
    this.#reader = new TableReader(tables);
    this.#destRows = this.#reader.views.destinations;
    this.#maxRoutes = this.#reader.views.capacities.routes;
  }

  /** Worker blocks being summed. */
  get workers(): number {
    return this.#blocks.length;
  }

  /** Bring the slot-to-id maps up to date with the tables; cheap when nothing changed. */
  refresh(): void {
    if (!this.#reader.hasNews()) return;
    // The primary is the tables' only writer and writes synchronously, so a poll from its own
    // thread never meets a batch mid-write; a null (impossible here) keeps the old maps.
    const batch = this.#reader.poll();
    if (batch !== null) this.#apply(batch);
  }

  #apply(batch: TableBatch): void {
    if (batch.full) {
      for (const slot of this.#routes.keys()) if (!batch.routes.has(slot)) this.#setRoute(slot, null);
      for (const slot of this.#destinations.keys()) if (!batch.destinations.has(slot)) this.#destinations.delete(slot);
      for (const slot of this.#clusters.keys()) if (!batch.clusters.has(slot)) this.#clusters.delete(slot);
    }
    for (const [slot, row] of batch.routes) this.#setRoute(slot, row === null ? null : `route="${escapeLabelValue(row.config.id)}"`);
    this.#known = true;
    for (const [slot, row] of batch.clusters) {
      if (row === null) this.#clusters.delete(slot);
      else this.#clusters.set(slot, `cluster="${escapeLabelValue(row.config.id)}"`);
    }
    for (const [slot, row] of batch.destinations) {
      if (row === null) this.#destinations.delete(slot);
      else this.#destinations.set(slot, { clusterSlot: row.clusterSlot, label: `destination="${escapeLabelValue(row.id)}"` });
    }
  }

  #setRoute(slot: number, label: string | null): void {
    const old = this.#routes.get(slot) ?? null;
    if (old === label) return;
    if (this.#known) {
      // New occupant (or none): whatever the slot counted so far belongs to the old one.
      this.#sumSlot(slot, false);
      if (this.#cells.some((v) => v !== 0)) this.#baselines.set(slot, this.#cells.slice());
      else this.#baselines.delete(slot);
    }
    if (label === null) this.#routes.delete(slot);
    else this.#routes.set(slot, label);
  }

  /** Sum a slot's cells over every worker block into #cells, less its baseline when asked. */
  #sumSlot(slot: number, lessBaseline: boolean): void {
    const cells = this.#cells;
    cells.fill(0);
    const base = routeBase(slot);
    for (const block of this.#blocks) for (let i = 0; i < kRouteCells; i++) cells[i] += block[base + i];
    if (!lessBaseline) return;
    const baseline = this.#baselines.get(slot);
    if (baseline !== undefined) for (let i = 0; i < kRouteCells; i++) cells[i] -= baseline[i];
  }

  /**
   * The in-flight cell of a worker whose thread has exited: its last value is stale and the
   * replacement only overwrites it on its first request. Called by the primary between the
   * old worker's exit and the replacement's start, when the block has no writer.
   */
  clearInFlight(worker: number): void {
    const block = this.#blocks[worker];
    if (block !== undefined) block[kInFlight] = 0;
  }

  /** Every shared-memory family, in the Prometheus text format. */
  render(): string {
    this.refresh();
    const requests: string[] = [familyHeader(SHARED_FAMILIES.requests, 'counter', 'Requests answered (or aborted by the client), by route, method and status class.')];
    const duration: string[] = [familyHeader(SHARED_FAMILIES.duration, 'histogram', 'Time from the request\'s arrival to the end of its response, by route, in seconds.')];
    const upstream: string[] = [familyHeader(SHARED_FAMILIES.upstream, 'histogram', 'Time from sending the request upstream to receiving the upstream response head, by route, in seconds.')];
    const bytesIn: string[] = [familyHeader(SHARED_FAMILIES.bytesIn, 'counter', 'Request body bytes received from clients, by route.')];
    const bytesOut: string[] = [familyHeader(SHARED_FAMILIES.bytesOut, 'counter', 'Response body bytes relayed from upstreams to clients, by route.')];
    let aborted = 0;

    const renderSlot = (slot: number, label: string): void => {
      this.#sumSlot(slot, true);
      const c = this.#cells;
      for (let m = 0; m < METRIC_METHODS.length; m++) {
        for (let k = 0; k < CLASSES; k++) {
          const v = c[kReqBase + m * CLASSES + k];
          if (v === 0) continue;
          if (k === kAbortedClass) aborted += v;
          requests.push(`${SHARED_FAMILIES.requests}{${label},method="${METRIC_METHODS[m]}",status_class="${METRIC_CLASSES[k]}"} ${formatValue(v)}\n`);
        }
      }
      histogram(duration, SHARED_FAMILIES.duration, label, c, kDurBase, kDurCells);
      histogram(upstream, SHARED_FAMILIES.upstream, label, c, kUpBase, kUpCells);
      if (c[kBytesIn] !== 0) bytesIn.push(`${SHARED_FAMILIES.bytesIn}{${label}} ${formatValue(c[kBytesIn])}\n`);
      if (c[kBytesOut] !== 0) bytesOut.push(`${SHARED_FAMILIES.bytesOut}{${label}} ${formatValue(c[kBytesOut])}\n`);
    };
    // Ascending slot order keeps the output stable between scrapes.
    const slots = [...this.#routes.keys()].sort((a, b) => a - b);
    for (const slot of slots) renderSlot(slot, this.#routes.get(slot)!);
    renderSlot(unmatchedSlot(this.#maxRoutes), `route="${UNMATCHED_ROUTE_LABEL}"`);

    let inFlight = 0;
    const errors = new Float64Array(ERROR_CODES.length);
    for (const block of this.#blocks) {
      inFlight += block[kInFlight];
      for (let i = 0; i < errors.length; i++) errors[i] += block[kErrBase + i];
    }
    const out = [...requests, ...duration, ...upstream, ...bytesIn, ...bytesOut];
    out.push(familyHeader(SHARED_FAMILIES.inFlight, 'gauge', 'Requests received and not yet finished, all workers.'));
    out.push(`${SHARED_FAMILIES.inFlight} ${formatValue(inFlight)}\n`);
    out.push(familyHeader(SHARED_FAMILIES.errors, 'counter', 'Requests that ended in an error, by error code (docs/errors.md); CLIENT_ABORTED: the client went away before the response ended.'));
    for (let i = 0; i < errors.length; i++) {
      if (errors[i] !== 0) out.push(`${SHARED_FAMILIES.errors}{code="${ERROR_CODES[i]}"} ${formatValue(errors[i])}\n`);
    }
    if (aborted !== 0) out.push(`${SHARED_FAMILIES.errors}{code="${CLIENT_ABORTED_CODE}"} ${formatValue(aborted)}\n`);
    this.#renderDestinations(out);
    return out.join('');
  }

  #renderDestinations(out: string[]): void {
    const inFlight = [familyHeader(SHARED_FAMILIES.destinationInFlight, 'gauge', 'Requests in flight to a destination, all workers.')];
    const up = [familyHeader(SHARED_FAMILIES.destinationUp, 'gauge', 'Health of a destination as delivered by the console: 1 up, 0 down.')];
    const rows = this.#destRows;
    const slots = [...this.#destinations.keys()].sort((a, b) => a - b);
    for (const slot of slots) {
      const d = this.#destinations.get(slot)!;
      const cluster = this.#clusters.get(d.clusterSlot);
      if (cluster === undefined) continue;
      const labels = `{${cluster},${d.label}}`;
      const base = slot * kDestStride;
      inFlight.push(`${SHARED_FAMILIES.destinationInFlight}${labels} ${Atomics.load(rows, base + kDestInFlight)}\n`);
      up.push(`${SHARED_FAMILIES.destinationUp}${labels} ${Atomics.load(rows, base + kDestHealth) === HEALTH_UP ? 1 : 0}\n`);
    }
    out.push(...inFlight, ...up);
  }
}

/** Cumulative buckets, sum and count of one histogram; nothing when its count is zero. */
function histogram(out: string[], name: string, label: string, cells: Float64Array, base: number, width: number): void {
  let count = 0;
  for (let i = 0; i <= kBuckets; i++) count += cells[base + i];
  if (count === 0) return;
  let cumulative = 0;
  for (let i = 0; i <= kBuckets; i++) {
    cumulative += cells[base + i];
    out.push(`${name}_bucket{${label},le="${LE_LABELS[i]}"} ${formatValue(cumulative)}\n`);
  }
  out.push(`${name}_sum{${label}} ${formatValue(cells[base + width - 1])}\n`);
  out.push(`${name}_count{${label}} ${formatValue(count)}\n`);
}
