import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { applyAndValidate, applyChange, diffConfigs, isEmptyChange, EMPTY_CHANGE } from '../../src/config/diff.js';
import { canonicalConfigJson, canonicalJson, configHash } from '../../src/config/canonical.js';
import { validateConfig } from '../../src/config/validate.js';
import type { ConfigChange, GatewayConfig } from '../../src/config/types.js';
import { configArb } from './arbitraries.js';
import { validInput } from './helpers.js';

function valid(input: unknown): GatewayConfig {
  const result = validateConfig(input);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

function change(partial: Partial<ConfigChange>): ConfigChange {
  return { ...EMPTY_CHANGE, ...partial };
}

describe('canonicalJson', () => {
  it('canonicalJson_sortsKeysAtEveryDepth_keepsArrayOrder', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}');
  });

  it('canonicalJson_omitsUndefinedProperties_likeJson', () => {
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });

  it('canonicalJson_rejectsValuesThatAreNotJson', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
  });

  it('canonicalJson_isIndependentOfKeyOrder_property', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(record));
        expect(JSON.parse(canonicalJson(record))).toEqual(JSON.parse(JSON.stringify(record)));
      }),
    );
  });

  it('configHash_ignoresListOrder_andChangesWithContent', () => {
    const a = valid(validInput());
    const reordered = valid({ ...validInput(), routes: [...validInput().routes].reverse() });
    expect(configHash(reordered)).toBe(configHash(a));
    expect(configHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
    const other = validInput();
    other.routes[0].timeoutMs = 5;
    expect(configHash(valid(other))).not.toBe(configHash(a));
  });
});

describe('diffConfigs', () => {
  it('diff_identicalConfigs_isEmpty', () => {
    const a = valid(validInput());
    expect(isEmptyChange(diffConfigs(a, a))).toBe(true);
  });

  it('diff_sameContentWrittenDifferently_isEmpty', () => {
    const a = valid(validInput());
    const input = validInput();
    input.routes[0].match.methods = ['get'];
    input.routes.reverse();
    input.clusters[0] = Object.fromEntries(Object.entries(input.clusters[0]).reverse());
    expect(diffConfigs(a, valid(input))).toEqual(EMPTY_CHANGE);
  });

  it('diff_addedRoute_isUpserted', () => {
    const a = valid(validInput());
    const input = validInput();
    input.routes.push({ id: 'new', cluster: 'users', match: { path: '/new' } });
    const next = valid(input);
    expect(diffConfigs(a, next)).toEqual(change({ upsertRoutes: [next.routes[2]] }));
  });

  it('diff_changedRoute_isUpsertedWhole', () => {
    const a = valid(validInput());
    const input = validInput();
    input.routes[1].timeoutMs = 1000;
    const next = valid(input);
    expect(diffConfigs(a, next)).toEqual(change({ upsertRoutes: [next.routes[1]] }));
  });

  it('diff_removedRoute_isDeletedById', () => {
    const a = valid(validInput());
    const input = validInput();
    input.routes.splice(0, 1);
    expect(diffConfigs(a, valid(input))).toEqual(change({ deleteRoutes: ['users'] }));
  });

  it('diff_changedDestination_upsertsWholeCluster', () => {
    const a = valid(validInput());
    const input = validInput();
    input.clusters[0].destinations[1].health = 'down';
    const next = valid(input);
    const diff = diffConfigs(a, next);
    expect(diff).toEqual(change({ upsertClusters: [next.clusters[0]] }));
    expect(diff.upsertClusters[0].destinations).toHaveLength(2);
  });

  it('diff_addedAndRemovedClusters', () => {
    const a = valid({ ...validInput(), clusters: [...validInput().clusters, { id: 'old', destinations: [] }] });
    const input = validInput();
    input.clusters.push({ id: 'fresh', destinations: [{ id: 'f', address: 'http://f:1' }] });
    const next = valid(input);
    expect(diffConfigs(a, next)).toEqual(change({ upsertClusters: [next.clusters[1]], deleteClusters: ['old'] }));
  });
});

describe('applyChange and applyAndValidate', () => {
  it('apply_isPure', () => {
    const a = valid(validInput());
    const before = canonicalJson(a);
    applyChange(a, change({ deleteRoutes: ['users'], upsertClusters: [{ id: 'x', destinations: [] }] }));
    expect(canonicalJson(a)).toBe(before);
  });

  it('apply_replacesInPlace_appendsNew_ignoresAbsentDeletes', () => {
    const a = valid(validInput());
    const replaced = { id: 'users', cluster: 'users', match: { path: '/people/{id}' } };
    const added = { id: 'zz', cluster: 'users', match: { path: '/zz' } };
    const result = applyChange(a, change({ upsertRoutes: [added, replaced], deleteRoutes: ['no-such-route'] }));
    expect(result.routes.map((r) => r.id)).toEqual(['users', 'fallback', 'zz']);
    expect(result.routes[0]).toBe(replaced);
  });

  it('applyAndValidate_rejectsRoutePointingToDeletedCluster', () => {
    const a = valid(validInput());
    const result = applyAndValidate(a, change({ deleteClusters: ['users'] }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { path: 'routes[0].cluster', message: 'route "users" refers to unknown cluster "users" (no clusters are defined)' },
      { path: 'routes[1].cluster', message: 'route "fallback" refers to unknown cluster "users" (no clusters are defined)' },
    ]);
  });

  it('applyAndValidate_reportsErrorsOfUpsertedItems_atTheirPlaceInTheChange', () => {
    const a = valid(validInput());
    const result = applyAndValidate(
      a,
      change({
        upsertRoutes: [{ id: 'ok', cluster: 'users', match: { path: '/ok' } }, { id: 'bad', cluster: 'nope', match: { path: 'x' } } as never],
        upsertClusters: [{ id: 'users', destinations: [{ id: 'd', address: 'https://x' }] }],
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path)).toEqual([
      'change.upsertClusters[0].destinations[0].address',
      'change.upsertRoutes[1].cluster',
      'change.upsertRoutes[1].match.path',
    ]);
  });

  it('applyAndValidate_rejectsAmbiguousChanges', () => {
    const a = valid(validInput());
    const route = { id: 'users', cluster: 'users', match: { path: '/u' } };
    const result = applyAndValidate(a, change({ upsertRoutes: [route, route], deleteRoutes: ['users'] }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'change.upsertRoutes[0].id: route "users" is both upserted and deleted by this change',
      'change.upsertRoutes[1].id: route "users" is both upserted and deleted by this change',
      'change.upsertRoutes[1].id: route "users" is upserted more than once by this change',
    ]);
  });

  it('applyAndValidate_rejectsMalformedChange', () => {
    const a = valid(validInput());
    const result = applyAndValidate(a, { upsertRoutes: {}, deleteRoutes: [1], upsertClusters: [], deleteClusters: [] } as never);
    expect(result.ok ? [] : result.errors.map((e) => e.path)).toEqual(['change.upsertRoutes', 'change.deleteRoutes[0]']);
    const nulls = applyAndValidate(a, change({ upsertClusters: [null as never] }));
    expect(nulls.ok ? [] : nulls.errors).toEqual([{ path: 'change.upsertClusters[0]', message: 'must be a cluster object' }]);
  });

  it('applyAndValidate_reportsUpsertWithoutId_atTheChange', () => {
    const a = valid(validInput());
    const result = applyAndValidate(a, change({ upsertRoutes: [{ cluster: 'users', match: { path: '/x' } } as never] }));
    expect(result.ok ? [] : result.errors).toEqual([{ path: 'change.upsertRoutes[0].id', message: 'is required' }]);
  });

  it('applyAndValidate_returnsNormalisedFrozenConfig', () => {
    const a = valid(validInput());
    const result = applyAndValidate(a, change({ upsertRoutes: [{ id: 'h', cluster: 'users', match: { path: '/h', hosts: ['H.COM'] } }] }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.routes[2].match.hosts).toEqual(['h.com']);
    expect(Object.isFrozen(result.config.routes[2])).toBe(true);
  });
});

describe('diff laws (property-based)', () => {
  it('diff_ofConfigWithItself_isEmpty', () => {
    fc.assert(fc.property(configArb, (a) => isEmptyChange(diffConfigs(a, a))));
  });

  it('diff_thenApply_roundTripsToTarget', () => {
    fc.assert(
      fc.property(configArb, configArb, (a, b) => {
        const d = diffConfigs(a, b);
        expect(canonicalConfigJson(applyChange(a, d))).toBe(canonicalConfigJson(b));
        const validated = applyAndValidate(a, d);
        expect(validated.ok).toBe(true);
        if (validated.ok) expect(isEmptyChange(diffConfigs(validated.config, b))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('diff_isMinimal_upsertsOnlyWhatDiffers', () => {
    fc.assert(
      fc.property(configArb, configArb, (a, b) => {
        const d = diffConfigs(a, b);
        const prevRoutes = new Map(a.routes.map((r) => [r.id, canonicalJson(r)]));
        for (const route of d.upsertRoutes) expect(prevRoutes.get(route.id)).not.toBe(canonicalJson(route));
        for (const id of d.deleteRoutes) expect(b.routes.some((r) => r.id === id)).toBe(false);
      }),
    );
  });
});
