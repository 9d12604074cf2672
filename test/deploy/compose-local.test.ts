/**
 * The compose stack (docker/compose.yaml) run as local processes by scripts/compose-local.mjs:
 * Redis, two gateway instances started with the image's CMD and ENV, two demo upstreams, the
 * console's one-shot `gatewayctl apply` and its `gatewayctl health watch`, and Prometheus when
 * it is installed. All traffic goes to 127.0.0.1; the whole run is bounded.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkStack, formatReport, loadCompose, reportPasses, startStack } from '../../scripts/compose-local.mjs';

interface GatewayReport {
  name: string;
  requests: number;
  ok: number;
  byService: Record<string, number>;
  failures: string[];
  configVersion: number | undefined;
  workerVersions: number[];
}
interface Report {
  gateways: GatewayReport[];
  status: { redis: { version: number }; instances: Array<{ id: string; appliedVersion: number; drift: string[] }> } | null;
  health: Record<string, string>;
  destinations: string[];
  prometheus: { targets: Array<{ instance: string; health: string }>; groups: Array<{ name: string; rules: number; unhealthy: string[] }>; error?: string } | null;
}
interface Stack {
  plans: Array<{ name: string; gateway: boolean; argv: string[] }>;
  skipped: Array<{ name: string; why: string }>;
  stop(opts?: { keepFiles?: boolean }): Promise<void>;
}

function requireRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version']);
  if (probe.error || probe.status !== 0) throw new Error('redis-server is not on PATH: the compose stack needs a real Redis (apt-get install redis-server)');
}

describe('compose stack as local processes', () => {
  let stack: Stack | undefined;
  let report: Report;

  beforeAll(async () => {
    requireRedisServer();
    await startStack({ readyTimeoutMs: 40_000, onStack: (s: Stack) => { stack = s; } });
    report = await checkStack(stack) as Report;
    process.stdout.write(formatReport(stack, report) + '\n');
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('startsEveryServiceOfTheComposeFile_exceptPrometheusWhenItIsMissing', () => {
    const services = Object.keys((loadCompose() as { services: Record<string, unknown> }).services);
    const started = stack!.plans.map((p) => p.name);
    const skipped = stack!.skipped.map((s) => s.name);
    expect([...started, ...skipped].sort()).toEqual([...services].sort());
    expect(skipped.filter((s) => s !== 'prometheus')).toEqual([]);
    expect(stack!.plans.filter((p) => p.gateway).map((p) => p.name)).toEqual(['gateway-1', 'gateway-2']);
  });

  it('requestsPassThroughBothInstances_toBothUpstreams', () => {
    expect(report.gateways).toHaveLength(2);
    for (const g of report.gateways) {
      expect(g.failures, g.name).toEqual([]);
      expect(g.ok).toBe(g.requests);
      expect(Object.keys(g.byService).sort(), g.name).toEqual(['orders', 'users']);
    }
  });

  it('bothInstancesAndAllTheirWorkers_reportTheVersionInRedis', () => {
    const [a, b] = report.gateways;
    expect(a.configVersion).toBeGreaterThanOrEqual(1);
    expect(b.configVersion).toBe(a.configVersion);
    for (const g of report.gateways) expect(g.workerVersions.every((v) => v === g.configVersion), `${g.name} workers ${g.workerVersions}`).toBe(true);
    expect(report.status?.redis.version).toBe(a.configVersion);
    const instances = report.status!.instances.map((i) => ({ id: i.id, version: i.appliedVersion, drift: i.drift })).sort((x, y) => x.id.localeCompare(y.id));
    expect(instances).toEqual([
      { id: 'gateway-1', version: a.configVersion, drift: [] },
      { id: 'gateway-2', version: a.configVersion, drift: [] },
    ]);
    expect(reportPasses(report)).toBe(true);
  });

  it('consoleHealthWatch_reportsEveryDestinationUp', () => {
    expect(report.destinations.length).toBeGreaterThanOrEqual(2);
    expect(Object.fromEntries(report.destinations.map((d) => [d, report.health[d]]))).toEqual(Object.fromEntries(report.destinations.map((d) => [d, 'up'])));
  });

  it('prometheus_scrapesBothInstances_andLoadsTheRules', () => {
    if (report.prometheus === null) throw new Error('prometheus is missing: `apt-get install prometheus` (.ci/run installs it)');
    expect(report.prometheus!.error).toBeUndefined();
    expect(report.prometheus!.targets.map((t) => t.health)).toEqual(['up', 'up']);
    expect(report.prometheus!.groups.map((g) => g.name).sort()).toEqual(['fengling-alerts', 'fengling-recording']);
    expect(report.prometheus!.groups.flatMap((g) => g.unhealthy)).toEqual([]);
  });
});
