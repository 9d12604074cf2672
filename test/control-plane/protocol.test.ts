/** The pure parts of the control plane: keys, wire format, version order, the keyed model, drift. */
import { describe, expect, it } from 'vitest';
import type { ConfigChange, GatewayConfig } from '../../src/config/types.js';
import { assessInstances } from '../../src/control-plane/change-view.js';
import {
  MAX_INLINE_CHANGE_BYTES, decodeChangeMessage, decodeHealthReport, decodeSnapshot, decodeVersionKey, encodeChangeMessage, encodeSnapshot, type Heartbeat,
} from '../../src/control-plane/codec.js';
import { ConfigModel, changeSize, diffWhole, applyWhole } from '../../src/control-plane/config-model.js';
import { controlPlaneKeys, hashTaggedPrefix } from '../../src/control-plane/keys.js';
import { parseRedisUrl, redactUrl } from '../../src/control-plane/redis-url.js';
import { needsResync, nextStep } from '../../src/control-plane/sequencer.js';
import { validateConfig } from '../../src/config/validate.js';

const none: ConfigChange = { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [] };
const base: GatewayConfig = {
  routes: [{ id: 'a', cluster: 'c1', match: { path: '/a' } }],
  clusters: [
    { id: 'c1', destinations: [{ id: 'd', address: 'http://127.0.0.1:1' }] },
    { id: 'c2', destinations: [{ id: 'd', address: 'http://127.0.0.1:2' }] },
  ],
};

function modelOf(config: GatewayConfig): ConfigModel {
  const m = new ConfigModel();
  m.apply(m.diff(config).change);
  return m;
}

describe('keys', () => {
  it('prefix_getsOneHashTag_soEveryKeyLandsInOneClusterSlot', () => {
    expect(hashTaggedPrefix('fengling:')).toBe('{fengling}:');
    expect(hashTaggedPrefix('{tenant}:gw:')).toBe('{tenant}:gw:');
    const k = controlPlaneKeys('fengling:');
    for (const key of [k.epoch, k.version, k.snapshot, k.history, k.health, k.instances, k.instance('x')]) expect(key.startsWith('{fengling}:')).toBe(true);
  });
});

describe('redis urls', () => {
  it('parse_acceptsStandaloneSentinelAndCluster_andRedactsPasswords', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toMatchObject({ kind: 'standalone', db: 2, hosts: [{ host: '127.0.0.1', port: 6379 }] });
    expect(parseRedisUrl('rediss+sentinel://:pw@s1:26379,s2/mymaster')).toMatchObject({ kind: 'sentinel', tls: true, master: 'mymaster', password: 'pw', hosts: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }] });
    expect(parseRedisUrl('redis+cluster://n1:7000,n2:7001')).toMatchObject({ kind: 'cluster', hosts: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }] });
    expect(parseRedisUrl('http://x')).toHaveProperty('error');
    expect(parseRedisUrl('redis+sentinel://s1:26379')).toHaveProperty('error');
    expect(redactUrl('redis://user:secret@host:6379')).toBe('redis://user:***@host:6379');
  });
});

describe('codec', () => {
  it('changeMessage_roundTrips', () => {
    const text = encodeChangeMessage({ epoch: 'e', version: 3, base: 2, at: 't', writer: 'w', change: none });
    expect(decodeChangeMessage(text)).toEqual({ ok: true, value: { protocol: 1, epoch: 'e', version: 3, base: 2, at: 't', writer: 'w', change: none } });
  });

  it('changeMessage_travelsWithoutItsChange_whenTooLarge', () => {
    const routes = Array.from({ length: 5000 }, (_, i) => ({ id: `r${i}`, cluster: 'c', match: { path: `/${'x'.repeat(40)}/${i}` } }));
    const text = encodeChangeMessage({ epoch: 'e', version: 2, base: 1, at: 't', writer: 'w', change: { ...none, upsertRoutes: routes } });
    expect(text.length).toBeLessThan(MAX_INLINE_CHANGE_BYTES);
    const decoded = decodeChangeMessage(text);
    expect(decoded.ok && decoded.value.change).toBeNull();
  });

  it('decode_rejectsMalformedRecords_withAReason', () => {
    expect(decodeChangeMessage('nope')).toMatchObject({ ok: false });
    expect(decodeChangeMessage(JSON.stringify({ protocol: 2, epoch: 'e', version: 1, base: 0, at: '', writer: '', change: null }))).toMatchObject({ ok: false, reason: expect.stringContaining('protocol') });
    expect(decodeChangeMessage(JSON.stringify({ protocol: 1, epoch: 'e', version: 1, base: 1, at: '', writer: '', change: null }))).toMatchObject({ ok: false });
    expect(decodeSnapshot(encodeSnapshot({ epoch: 'e', version: 1, at: '', writer: '', config: base }))).toMatchObject({ ok: true });
    expect(decodeHealthReport(JSON.stringify({ protocol: 1, cluster: 'c', destination: 'd', state: 'sideways' }))).toMatchObject({ ok: false });
  });

  it('versionKey_isDecimalDigits_anythingElseIsMalformed', () => {
    expect(decodeVersionKey(null)).toEqual({ ok: true, value: 0 });
    expect(decodeVersionKey('0')).toEqual({ ok: true, value: 0 });
    expect(decodeVersionKey('42')).toEqual({ ok: true, value: 42 });
    expect(decodeVersionKey(String(Number.MAX_SAFE_INTEGER))).toEqual({ ok: true, value: Number.MAX_SAFE_INTEGER });
    // Each of these once became the instances' applied version (found by the control-plane fuzz).
    for (const bad of ['-3', '1.5', 'abc', '1e30', '99999999999999999999', '', ' 7', 'Infinity', '0x10']) {
      const d = decodeVersionKey(bad);
      expect(d.ok, bad).toBe(false);
      expect((d as { reason: string }).reason).toContain('not a whole number');
    }
  });
});

describe('sequencer', () => {
  const msg = (version: number, base: number, epoch = 'e', change: ConfigChange | null = none) => ({ epoch, version, base, change });

  it('nextStep_appliesThePatchOnTopOfTheAppliedVersion', () => {
    expect(nextStep({ epoch: 'e', version: 4 }, msg(5, 4)).kind).toBe('apply');
  });

  it('nextStep_ignoresDuplicatesAndOldVersions', () => {
    expect(nextStep({ epoch: 'e', version: 4 }, msg(4, 3)).kind).toBe('ignore');
    expect(nextStep({ epoch: 'e', version: 4 }, msg(2, 1)).kind).toBe('ignore');
  });

  it('nextStep_resyncs_onAGapAnEpochChangeAnInlineLessChangeOrNothingApplied', () => {
    expect(nextStep({ epoch: 'e', version: 4 }, msg(6, 5))).toMatchObject({ kind: 'resync', why: expect.stringContaining('gap') });
    expect(nextStep({ epoch: 'e', version: 4 }, msg(1, 0, 'f')).kind).toBe('resync');
    expect(nextStep({ epoch: 'e', version: 4 }, msg(5, 4, 'e', null)).kind).toBe('resync');
    expect(nextStep({ epoch: null, version: 0 }, msg(1, 0)).kind).toBe('resync');
  });

  it('needsResync_onlyWhenRedisHoldsAnotherPosition', () => {
    expect(needsResync({ epoch: 'e', version: 3 }, { epoch: 'e', version: 3 })).toBe(false);
    expect(needsResync({ epoch: 'e', version: 3 }, { epoch: 'e', version: 4 })).toBe(true);
    expect(needsResync({ epoch: 'e', version: 3 }, { epoch: 'f', version: 3 })).toBe(true);
    expect(needsResync({ epoch: 'e', version: 3 }, { epoch: null, version: 0 })).toBe(false);
  });
});

describe('ConfigModel', () => {
  it('diff_isEmpty_forTheAppliedConfiguration', () => {
    expect(changeSize(modelOf(base).diff(base).change)).toBe(0);
  });

  it('check_acceptsAValidPatch_andNormalisesIt', () => {
    const r = modelOf(base).check({ ...none, upsertRoutes: [{ id: 'b', cluster: 'c2', match: { path: '/b', methods: ['get'] } }] });
    expect(r.ok && r.change.upsertRoutes[0].match.methods).toEqual(['GET']);
  });

  it('check_rejects_aRouteToAnUnknownCluster_withTheFieldPathOfTheChange', () => {
    const r = modelOf(base).check({ ...none, upsertRoutes: [{ id: 'b', cluster: 'nope', match: { path: '/b' } }] });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0].path).toBe('change.upsertRoutes[0].cluster');
  });

  it('check_rejects_deletingAClusterThatRoutesStillUse', () => {
    const m = modelOf(base);
    const r = m.check({ ...none, deleteClusters: ['c1'] });
    expect(!r.ok && r.errors[0]).toEqual({ path: 'change.deleteClusters[0]', message: 'cluster "c1" is still used by route "a"' });
    expect(m.check({ ...none, deleteClusters: ['c1'], deleteRoutes: ['a'] }).ok).toBe(true);
    expect(m.check({ ...none, deleteClusters: ['c2'] }).ok).toBe(true);
  });

  it('apply_thenDiff_matchesTheWholeConfigurationLaw', () => {
    const next: GatewayConfig = { ...base, routes: [{ id: 'b', cluster: 'c2', match: { path: '/b' } }] };
    const change = diffWhole(base, next);
    expect(change.deleteRoutes).toEqual(['a']);
    expect(changeSize(diffWhole(applyWhole(base, change), next))).toBe(0);
    const undo = diffWhole(next, base);
    expect(changeSize(diffWhole(applyWhole(next, undo), base))).toBe(0);
  });

  it('applyingOneRoute_costsTheSameWith100And100000RoutesLoaded', () => {
    const timeOne = (n: number): number => {
      const big = validateConfig({ clusters: base.clusters, routes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, cluster: 'c1', match: { path: `/r/${i}` } })) });
      if (!big.ok) throw new Error('invalid');
      const m = modelOf(big.config);
      const started = performance.now();
      for (let i = 0; i < 200; i++) {
        const checked = m.check({ ...none, upsertRoutes: [{ id: `x${i}`, cluster: 'c1', match: { path: `/x/${i}` } }] });
        if (!checked.ok) throw new Error('rejected');
        m.apply(checked.change);
      }
      return performance.now() - started;
    };
    timeOne(100);
    const small = timeOne(100);
    const large = timeOne(100_000);
    // Flat, not a benchmark: an O(size) step would make the large case hundreds of times slower.
    expect(large).toBeLessThan(small * 10 + 50);
  }, 60_000);
});

describe('drift', () => {
  const beat = (over: Partial<Heartbeat>): Heartbeat => ({
    protocol: 1, id: 'i', host: 'h', port: 1, pid: 1, startedAt: '', at: '', ttlMs: 1, source: 'redis', epoch: 'e',
    appliedVersion: 5, seenVersion: 5, connected: true, rejected: null, lastError: null,
    workers: [{ index: 0, appliedVersion: 5, listening: true, restarts: 0 }], ...over,
  });

  it('assess_marksBehindWorkersRejectionsAndDisconnection', () => {
    const redis = { epoch: 'e', version: 5 };
    expect(assessInstances([beat({})], redis)[0].drift).toEqual([]);
    expect(assessInstances([beat({ appliedVersion: 4, workers: [{ index: 0, appliedVersion: 4, listening: true, restarts: 0 }] })], redis)[0]).toMatchObject({ lag: 1, drift: ['behind by 1'] });
    expect(assessInstances([beat({ workers: [{ index: 0, appliedVersion: 3, listening: true, restarts: 0 }] })], redis)[0].drift).toEqual(['worker 0 at v3']);
    expect(assessInstances([beat({ connected: false })], redis)[0].drift).toEqual(['disconnected from Redis']);
    expect(assessInstances([beat({ epoch: 'old' })], redis)[0].drift).toEqual(['epoch old (Redis: e)']);
  });
});
