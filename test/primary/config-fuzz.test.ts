/**
 * Configuration fuzzing against ONE running gateway (two worker threads, the file source):
 * fast-check generates valid configurations and near-valid ones (one field broken, a wrong
 * type, a huge value, unicode, a duplicate id, a dangling reference, not even JSON), and each
 * is written over the watched file in turn. After each write the gateway must either
 *   - reject it (a CONFIG_REJECTED log line): the applied version stays and the sentinel
 *     route still answers from its upstream; or
 *   - apply it whole: every worker reports the new version, every route of the new
 *     configuration answers from an upstream of its cluster (503 NO_DESTINATION when the
 *     cluster has no destination), every route it removed answers 404;
 * never a crash (the process and its workers stay up, no worker restarts), never a hang (each
 * outcome within a deadline).
 * Default 400 writes (a bit under half applied); FUZZ_RUNS=3000 for a longer run. Prints the counts.
 */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminKeyFile, checkSentinel, checkServes, configText, gatewayStatus, MUTATIONS, startFuzzUpstreams, validConfigArb, waitWorkersAt,
  type FuzzUpstreams, type RawConfig,
} from '../support/config-fuzz.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

describe('configuration fuzzing against a running gateway', () => {
  let upstreams: FuzzUpstreams;
  let ports: Record<string, number> = {};
  let gw: GatewayProcess;
  let adminKey = '';
  let dir = '';

  beforeAll(async () => {
    upstreams = await startFuzzUpstreams();
    ports = upstreams.ports;
    const keys = adminKeyFile('ro');
    adminKey = keys.key;
    dir = mkdtempSync(join(tmpdir(), 'fengling-fuzz-'));
    const initial = fc.sample(validConfigArb(ports), { seed: 1, numRuns: 1 })[0];
    gw = await startGateway({ workers: 2, config: initial, env: { GATEWAY_ADMIN_KEYS_FILE: keys.file } });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    await upstreams?.close();
  });

  /** Replace the watched file in one step (write aside, rename), as editors and ConfigMaps do. */
  function writeConfig(content: string): void {
    const aside = join(dir, `next-${Date.now()}.json`);
    writeFileSync(aside, content);
    renameSync(aside, gw.configPath);
  }

  async function waitOutcome(fromLog: number): Promise<{ kind: 'applied' | 'unchanged' | 'rejected'; version: number }> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      for (let i = fromLog; i < gw.logs.length; i++) {
        const l = gw.logs[i];
        if (l.msg === 'configuration applied') return { kind: 'applied', version: l.version as number };
        if (l.msg === 'configuration unchanged') return { kind: 'unchanged', version: l.version as number };
        if (l.code === 'CONFIG_REJECTED') return { kind: 'rejected', version: l.appliedVersion as number ?? -1 };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no outcome for a configuration write within 15 s (a hang)');
  }

  const workers = async () => (await gatewayStatus(gw.url, adminKey)).workers;

  it(`applies or rejects ${RUNS} generated writes whole, never crashing or hanging`, async () => {
    const counts = { applied: 0, unchanged: 0, rejected: 0 };
    const kinds: Record<string, number> = {};
    let current: RawConfig | null = null;
    let version = (await workers())[0].appliedVersion;
    const step = fc.tuple(validConfigArb(ports), fc.option(fc.constantFrom(...MUTATIONS), { freq: 2, nil: null }));
    const samples = fc.sample(step, { seed: Number(process.env.FUZZ_SEED ?? 20240601), numRuns: RUNS });
    for (const [config, mutation] of samples) {
      const mutated = mutation === null ? config : mutation.apply(structuredClone(config));
      const text = configText(mutated);
      const fromLog = gw.logs.length;
      writeConfig(text);
      const outcome = await waitOutcome(fromLog);
      counts[outcome.kind]++;
      const label = mutation?.name ?? 'valid';
      kinds[`${label}:${outcome.kind}`] = (kinds[`${label}:${outcome.kind}`] ?? 0) + 1;
      if (mutation === null) expect(outcome.kind, label).not.toBe('rejected');
      if (mutation?.mustReject) expect(outcome.kind, label).toBe('rejected');
      if (outcome.kind === 'applied') {
        expect(outcome.version, label).toBe(version + 1);
        version = outcome.version;
        await waitWorkersAt(gw.url, adminKey, version);
        const applied = mutated as RawConfig;
        await checkServes(gw.url, ports, applied, current);
        current = applied;
      } else {
        // Rejected or unchanged: the last good configuration keeps serving, at the same version.
        expect((await workers()).every((w) => w.appliedVersion === version), label).toBe(true);
        await checkSentinel(gw.url, label);
      }
    }
    const ws = await workers();
    expect(ws.every((w) => w.restarts === 0), 'no worker restarted').toBe(true);
    expect(gw.child.exitCode).toBeNull();
    console.log(`config fuzz: ${RUNS} writes, ${counts.applied} applied, ${counts.unchanged} unchanged, ${counts.rejected} rejected`, kinds);
    expect(counts.applied).toBeGreaterThan(RUNS / 4);
    expect(counts.rejected).toBeGreaterThan(RUNS / 4);
  }, Math.max(240_000, RUNS * 2_000));
});
