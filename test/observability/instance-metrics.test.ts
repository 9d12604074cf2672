import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/types.js';
import { InstanceMetrics } from '../../src/observability/instance-metrics.js';
import { ConfigApplier } from '../../src/primary/config-applier.js';
import type { Supervisor, WorkerStatus } from '../../src/primary/supervisor.js';
import { allocateTables } from '../../src/shm/layout.js';
import { allocateMetrics } from '../../src/shm/metrics-layout.js';
import { TableWriter } from '../../src/shm/table-writer.js';

const cap = { routes: 4, clusters: 2, destinations: 4, authPolicies: 1 };
const silent = pino({ level: 'silent' });

function config(routes: string[]): GatewayConfig {
  return {
    routes: routes.map((id) => ({ id, cluster: 'c', match: { path: `/${id}` } })),
    clusters: [{ id: 'c', destinations: [{ id: 'd', address: 'http://127.0.0.1:9001' }] }],
  } as GatewayConfig;
}

/** A supervisor stand-in: the status() and events InstanceMetrics reads. */
class FakeSupervisor extends EventEmitter {
  workers: WorkerStatus[] = [0, 1].map((index) => ({ index, threadId: index + 1, appliedVersion: 1, listening: true, restarts: 0 }));
  status(): WorkerStatus[] {
    return this.workers;
  }
}

function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let open: InstanceMetrics | null = null;
afterEach(() => { open?.close(); open = null; });

function fixture() {
  const tables = allocateTables(cap);
  const supervisor = new FakeSupervisor();
  const applier = new ConfigApplier(new TableWriter(tables), silent, () => undefined);
  applier.apply(config(['a']), 'test');
  let now = 1_000;
  const metrics = new InstanceMetrics({ metrics: allocateMetrics(2, cap.routes), tables, supervisor: supervisor as unknown as Supervisor, applier }, null, () => now);
  open = metrics;
  return { supervisor, applier, metrics, advance: (ms: number) => { now += ms; } };
}

describe('InstanceMetrics', () => {
  it('configChanges_countEachOutcomeOnce_includingTheInitialConfiguration', async () => {
    const { applier, metrics } = fixture();
    applier.apply(config(['a']), 'test');          // unchanged
    applier.apply(config(['a', 'b']), 'test');     // applied
    applier.apply(config(['a', 'b', 'c', 'd', 'e']), 'test'); // 5 routes > capacity 4: rejected
    const body = await metrics.render();
    expect(sample(body, 'fengling_config_changes_total{result="applied"}')).toBe(2);
    expect(sample(body, 'fengling_config_changes_total{result="unchanged"}')).toBe(1);
    expect(sample(body, 'fengling_config_changes_total{result="rejected"}')).toBe(1);
    expect(sample(body, 'fengling_config_version')).toBe(2);
  });

  it('propagation_observesOncePerWorkerAndVersion_fromThePublishTime', async () => {
    const { supervisor, applier, metrics, advance } = fixture();
    applier.apply(config(['a', 'b']), 'test');
    advance(3);
    supervisor.emit('applied', 0, 2);
    advance(4);
    supervisor.emit('applied', 1, 2);
    supervisor.emit('applied', 1, 2); // a repeated acknowledgement is not a propagation
    const body = await metrics.render();
    expect(sample(body, 'fengling_config_propagation_seconds_count')).toBe(2);
    expect(sample(body, 'fengling_config_propagation_seconds_sum')).toBeCloseTo(0.003 + 0.007, 9);
    expect(sample(body, 'fengling_config_propagation_seconds_bucket{le="0.005"}')).toBe(1);
  });

  it('propagation_skipsAReplacementWorkersFirstSync', async () => {
    const { supervisor, applier, metrics } = fixture();
    supervisor.emit('worker-exit', 1, 1);
    applier.apply(config(['a', 'b']), 'test');
    supervisor.emit('applied', 1, 2);
    expect(sample(await metrics.render(), 'fengling_config_propagation_seconds_count')).toBe(0);
  });

  it('workerRestarts_followTheSupervisorsCounts', async () => {
    const { supervisor, metrics } = fixture();
    supervisor.workers = supervisor.workers.map((w) => (w.index === 1 ? { ...w, restarts: 2, listening: false } : w));
    const body = await metrics.render();
    expect(sample(body, 'fengling_worker_restarts_total{worker="0"}')).toBe(0);
    expect(sample(body, 'fengling_worker_restarts_total{worker="1"}')).toBe(2);
    expect(sample(body, 'fengling_worker_up{worker="1"}')).toBe(0);
    expect(sample(await metrics.render(), 'fengling_worker_restarts_total{worker="1"}')).toBe(2);
  });

  it('redisConnected_appearsOnlyWithARedisSource', async () => {
    const { metrics } = fixture();
    expect(await metrics.render()).not.toContain('fengling_redis_connected');
    const tables = allocateTables(cap);
    const applier = new ConfigApplier(new TableWriter(tables), silent, () => undefined);
    let up = true;
    const withRedis = new InstanceMetrics({ metrics: allocateMetrics(2, cap.routes), tables, supervisor: new FakeSupervisor() as unknown as Supervisor, applier }, () => up);
    try {
      expect(sample(await withRedis.render(), 'fengling_redis_connected')).toBe(1);
      up = false;
      expect(sample(await withRedis.render(), 'fengling_redis_connected')).toBe(0);
    } finally {
      withRedis.close();
    }
  });

  it('close_restoresTheAppliersOwnMethods', () => {
    const { applier, metrics } = fixture();
    metrics.close();
    open = null;
    expect(Object.hasOwn(applier, 'apply')).toBe(false);
    expect(applier.apply).toBe(ConfigApplier.prototype.apply);
    expect(applier.applyChange).toBe(ConfigApplier.prototype.applyChange);
  });
});
