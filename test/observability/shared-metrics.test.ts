import { describe, expect, it } from 'vitest';
import type { PickContext } from '../../src/balancing/index.js';
import type { ClusterConfig, RouteConfig } from '../../src/config/types.js';
import { escapeLabelValue, formatValue } from '../../src/observability/prometheus-text.js';
import { SharedMetrics } from '../../src/observability/shared-metrics.js';
import { allocateTables, kDestInFlight, kDestStride, TableViews } from '../../src/shm/layout.js';
import { allocateMetrics, DURATION_BUCKETS } from '../../src/shm/metrics-layout.js';
import { allocateRateLimits } from '../../src/shm/rate-limit-layout.js';
import { RateLimitTable } from '../../src/shm/rate-limit-table.js';
import { TableReader } from '../../src/shm/table-reader.js';
import { TableWriter, type TableChange } from '../../src/shm/table-writer.js';
import { Pipeline } from '../../src/worker/pipeline.js';
import type { WorkerState } from '../../src/worker/state.js';

const cap = { routes: 8, clusters: 4, destinations: 8, authPolicies: 2 };

function route(id: string): RouteConfig {
  return { id, cluster: 'c1', match: { path: `/${id}` } };
}
const c1: ClusterConfig = { id: 'c1', destinations: [{ id: 'a', address: 'http://127.0.0.1:9001' }, { id: 'b', address: 'http://127.0.0.1:9002' }] };
function change(partial: Partial<TableChange>): TableChange {
  return { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [], ...partial };
}

/** Tables, two worker blocks, and a real Pipeline per worker as the writer of its block. */
function fixture() {
  const tables = allocateTables(cap);
  const writer = new TableWriter(tables);
  writer.apply(change({ upsertClusters: [c1], upsertRoutes: [route('r1'), route('r2')] }), 1);
  const blocks = allocateMetrics(2, cap.routes);
  const workers = blocks.map((b) => new Pipeline({} as WorkerState, {} as PickContext, {
    upstreamBodyIdleTimeoutMs: 0, onAccess: null, onEjected: null,
    requestLimits: { maxUrlBytes: 4096, maxHeaderCount: 48, maxHeaderBytes: 4096, bodyTimeoutMs: 10_000, maxRequestsPerWorker: 0 }, metrics: new Float64Array(b), maxRoutes: cap.routes, tracer: null,
    rateLimits: new RateLimitTable(allocateRateLimits(16, 1)),
  }));
  const slotOf = (id: string): number => {
    const batch = new TableReader(tables).poll()!;
    return [...batch.routes.values()].find((r) => r !== null && r.config.id === id)!.slot;
  };
  return { tables, writer, blocks, workers, slotOf, metrics: new SharedMetrics(blocks, tables) };
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

describe('SharedMetrics.render', () => {
  it('render_sumsEveryWorkerBlock_intoExactSeries', () => {
    const { workers, slotOf, metrics } = fixture();
    const r1 = slotOf('r1');
    // worker 0: two GET 200 (2 ms and 300 ms), worker 1: one GET 200 (2 ms) and one POST 502.
    workers[0].record(r1, 'GET', 200, null, 0.002, 0.001, 10, 100, false);
    workers[0].record(r1, 'GET', 200, null, 0.3, 0.25, 0, 50, false);
    workers[1].record(r1, 'GET', 204, null, 0.002, 0.001, 0, 0, false);
    workers[1].record(r1, 'POST', 502, 'UPSTREAM_CONNECT_FAILED', 20, -1, 5, 0, false);

    const text = metrics.render();
    expect(lines(text, 'fengling_requests_total{')).toEqual([
      'fengling_requests_total{route="r1",method="GET",status_class="2xx"} 3',
      'fengling_requests_total{route="r1",method="POST",status_class="5xx"} 1',
    ]);
    const le = [...DURATION_BUCKETS.map(String), '+Inf'];
    // Cumulative: 2 ms twice (bucket 0.0025), 300 ms once (0.5), 20 s once (+Inf only).
    const expectedDuration = le.map((b) => {
      const n = Number(b === '+Inf' ? Infinity : b);
      const count = (n >= 0.0025 ? 2 : 0) + (n >= 0.5 ? 1 : 0) + (b === '+Inf' ? 1 : 0);
      return `fengling_request_duration_seconds_bucket{route="r1",le="${b}"} ${count}`;
    });
    expect(lines(text, 'fengling_request_duration_seconds_bucket{')).toEqual(expectedDuration);
    expect(lines(text, 'fengling_request_duration_seconds_count{')).toEqual(['fengling_request_duration_seconds_count{route="r1"} 4']);
    expect(lines(text, 'fengling_request_duration_seconds_sum{')).toEqual([`fengling_request_duration_seconds_sum{route="r1"} ${formatValue(0.002 + 0.3 + 0.002 + 20)}`]);
    // The failed POST never got a response head: three upstream observations.
    expect(lines(text, 'fengling_upstream_duration_seconds_count{')).toEqual(['fengling_upstream_duration_seconds_count{route="r1"} 3']);
    expect(lines(text, 'fengling_upstream_duration_seconds_bucket{route="r1",le="0.001"}')).toEqual(['fengling_upstream_duration_seconds_bucket{route="r1",le="0.001"} 2']);
    expect(lines(text, 'fengling_request_bytes_total{')).toEqual(['fengling_request_bytes_total{route="r1"} 15']);
    expect(lines(text, 'fengling_response_bytes_total{')).toEqual(['fengling_response_bytes_total{route="r1"} 150']);
    expect(lines(text, 'fengling_errors_total{')).toEqual(['fengling_errors_total{code="UPSTREAM_CONNECT_FAILED"} 1']);
  });

  it('render_emitsHeadersOnce_andNoSeriesForRoutesWithoutTraffic', () => {
    const { metrics } = fixture();
    const text = metrics.render();
    expect(text).not.toContain('route="r2"');
    for (const family of ['fengling_requests_total', 'fengling_request_duration_seconds', 'fengling_errors_total', 'fengling_destination_up']) {
      expect(lines(text, `# TYPE ${family} `)).toHaveLength(1);
    }
    expect(lines(text, 'fengling_requests_in_flight')).toEqual(['fengling_requests_in_flight 0']);
  });

  it('render_countsUnmatchedRequests_underTheUnmatchedRouteLabel', () => {
    const { workers, metrics } = fixture();
    workers[1].record(cap.routes, 'GET', 404, 'ROUTE_NOT_FOUND', 0.0001, -1, 0, 0, false);
    workers[0].record(cap.routes, 'DELETE', 404, 'ROUTE_NOT_FOUND', 0.0001, -1, 0, 0, false);
    const text = metrics.render();
    expect(lines(text, 'fengling_requests_total{')).toEqual([
      'fengling_requests_total{route="(unmatched)",method="GET",status_class="4xx"} 1',
      'fengling_requests_total{route="(unmatched)",method="DELETE",status_class="4xx"} 1',
    ]);
    expect(lines(text, 'fengling_errors_total{')).toEqual(['fengling_errors_total{code="ROUTE_NOT_FOUND"} 2']);
  });

  it('render_countsClientAborts_asStatusClassAbortedAndErrorCodeClientAborted', () => {
    const { workers, slotOf, metrics } = fixture();
    workers[0].begin();
    workers[0].record(slotOf('r2'), 'GET', 499, null, 0.01, -1, 0, 0, true);
    const text = metrics.render();
    expect(lines(text, 'fengling_requests_total{')).toEqual(['fengling_requests_total{route="r2",method="GET",status_class="aborted"} 1']);
    expect(lines(text, 'fengling_errors_total{')).toEqual(['fengling_errors_total{code="CLIENT_ABORTED"} 1']);
  });

  it('render_sumsInFlight_ofEveryWorker', () => {
    const { workers, metrics } = fixture();
    workers[0].begin();
    workers[0].begin();
    workers[1].begin();
    expect(lines(metrics.render(), 'fengling_requests_in_flight')).toEqual(['fengling_requests_in_flight 3']);
    metrics.clearInFlight(0);
    expect(lines(metrics.render(), 'fengling_requests_in_flight')).toEqual(['fengling_requests_in_flight 1']);
  });

  it('render_startsAReusedSlotAtZero_soCountersNeverGoBackwards', () => {
    const { writer, workers, slotOf, metrics } = fixture();
    const slot = slotOf('r1');
    for (let i = 0; i < 5; i++) workers[i % 2].record(slot, 'GET', 200, null, 0.001, 0.001, 0, 0, false);
    expect(lines(metrics.render(), 'fengling_requests_total{')).toEqual(['fengling_requests_total{route="r1",method="GET",status_class="2xx"} 5']);

    writer.apply(change({ deleteRoutes: ['r1'], upsertRoutes: [route('r9')] }), 2);
    metrics.refresh();
    expect(slotOf('r9')).toBe(slot); // the table reuses the freed slot
    workers[1].record(slot, 'GET', 500, null, 0.001, 0.001, 0, 0, false);
    workers[0].record(slot, 'GET', 200, null, 0.001, 0.001, 0, 0, false);
    const text = metrics.render();
    expect(text).not.toContain('route="r1"');
    expect(lines(text, 'fengling_requests_total{')).toEqual([
      'fengling_requests_total{route="r9",method="GET",status_class="2xx"} 1',
      'fengling_requests_total{route="r9",method="GET",status_class="5xx"} 1',
    ]);
    expect(lines(text, 'fengling_request_duration_seconds_count{')).toEqual(['fengling_request_duration_seconds_count{route="r9"} 2']);
  });

  it('render_keepsCountsMadeBeforeTheFirstRefresh_forTheSlotsCurrentRoute', () => {
    const { workers, slotOf, tables, blocks } = fixture();
    workers[0].record(slotOf('r2'), 'PUT', 201, null, 0.001, 0.001, 0, 0, false);
    const late = new SharedMetrics(blocks, tables);
    expect(lines(late.render(), 'fengling_requests_total{')).toEqual(['fengling_requests_total{route="r2",method="PUT",status_class="2xx"} 1']);
  });

  it('render_reportsDestinationInFlightAndHealth_fromTheSharedRows', () => {
    const { tables, writer, metrics } = fixture();
    const views = new TableViews(tables);
    const a = writer.destinationSlot('c1', 'a')!;
    Atomics.store(views.destinations, a * kDestStride + kDestInFlight, 4);
    writer.setHealth(writer.destinationSlot('c1', 'b')!, false);
    const text = metrics.render();
    expect(lines(text, 'fengling_destination_in_flight{')).toEqual([
      'fengling_destination_in_flight{cluster="c1",destination="a"} 4',
      'fengling_destination_in_flight{cluster="c1",destination="b"} 0',
    ]);
    expect(lines(text, 'fengling_destination_up{')).toEqual([
      'fengling_destination_up{cluster="c1",destination="a"} 1',
      'fengling_destination_up{cluster="c1",destination="b"} 0',
    ]);
  });
});

describe('Prometheus text helpers', () => {
  it('escapeLabelValue_escapesBackslashQuoteAndNewline', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue('plain-id.1')).toBe('plain-id.1');
  });

  it('formatValue_printsIntegersPlainAndSpecialValuesByName', () => {
    expect(formatValue(3)).toBe('3');
    expect(formatValue(0.25)).toBe('0.25');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(NaN)).toBe('NaN');
  });
});
