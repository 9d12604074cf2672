/**
 * ConfigModel: the applied configuration keyed by id, so that a change costs what it touches
 * and not what is loaded (PERF-02, and the flat "one route change with 100,000 routes" bar).
 *
 * Every item keeps its canonical JSON (src/config/canonical.ts): diffing a whole next
 * configuration is then one string comparison per item, and a snapshot compiled on the piscina
 * pool arrives as (id, canonical text) pairs that are compared without re-serialising anything
 * on the primary.
 *
 * The model is generic over the configuration's lists (`routes`, `clusters`, and any list a
 * later schema adds, e.g. `authPolicies`): a list `fooBars` is changed through the change keys
 * `upsertFooBars` and `deleteFooBars`, the naming of ConfigChange and TableChange.
 *
 * Checking a change (`check`) validates only what it touches: the upserted items, in the
 * context of the items they refer to (the clusters of upserted routes, every item of the
 * small lists). Deleting a cluster is checked against an index of the routes that use each
 * cluster. A change that deletes from any other list falls back to validating the whole
 * result, which is correct for any rule and costs O(size).
 */
import { canonicalJson } from '../config/canonical.js';
import { applyAndValidate } from '../config/diff.js';
import type { ConfigChange, ConfigError, GatewayConfig, RouteConfig } from '../config/types.js';

interface Identified {
  readonly id: string;
}

interface Entry {
  readonly item: Identified;
  readonly canon: string;
}

type MutableChange = Record<string, Identified[] | string[]>;

export type CheckResult =
  | { readonly ok: true; readonly change: ConfigChange }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

/** Canonical texts of a compiled snapshot, list by list, in the snapshot's order. */
export type CanonicalLists = ReadonlyMap<string, ReadonlyArray<readonly [id: string, canon: string]>>;

const CORE_LISTS = ['routes', 'clusters'] as const;
const CHANGE_KEY = /^(upsert|delete)([A-Z][A-Za-z0-9]*)$/;

export function upsertKey(list: string): string {
  return `upsert${list[0].toUpperCase()}${list.slice(1)}`;
}

export function deleteKey(list: string): string {
  return `delete${list[0].toUpperCase()}${list.slice(1)}`;
}

/** The lists of a configuration object: its keys whose value is an array. */
export function listsOfConfig(config: object): string[] {
  return Object.entries(config).filter(([, v]) => Array.isArray(v)).map(([k]) => k);
}

/** The lists a change touches, from its `upsertX` / `deleteX` keys. */
export function listsOfChange(change: object): string[] {
  const lists = new Set<string>();
  for (const key of Object.keys(change)) {
    const m = CHANGE_KEY.exec(key);
    if (m) lists.add(m[2][0].toLowerCase() + m[2].slice(1));
  }
  return [...lists];
}

export function emptyChange(): ConfigChange {
  return { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [] };
}

/** Items compared per turn of the event loop by diffCanonicalAsync. */
const DIFF_ITEMS_PER_STEP = 2_000;

export function changeSize(change: ConfigChange): number {
  let n = 0;
  for (const list of listsOfChange(change)) n += upserts(change, list).length + deletes(change, list).length;
  return n;
}

export function upserts(change: object, list: string): readonly Identified[] {
  const v = (change as Record<string, unknown>)[upsertKey(list)];
  return Array.isArray(v) ? (v as Identified[]) : [];
}

export function deletes(change: object, list: string): readonly string[] {
  const v = (change as Record<string, unknown>)[deleteKey(list)];
  return Array.isArray(v) ? (v as string[]) : [];
}

export class ConfigModel {
  readonly #lists = new Map<string, Map<string, Entry>>();
  /** cluster id -> ids of the routes that use it. */
  readonly #routesByCluster = new Map<string, Set<string>>();
  #materialised: GatewayConfig | null = null;

  constructor() {
    for (const list of CORE_LISTS) this.#lists.set(list, new Map());
  }

  get(list: string, id: string): Identified | undefined {
    return this.#lists.get(list)?.get(id)?.item;
  }

  size(list: string): number {
    return this.#lists.get(list)?.size ?? 0;
  }

  /** The change that turns this model into `next` (a validated configuration). O(size of next). */
  diff(next: GatewayConfig): { change: ConfigChange; canon: Map<Identified, string> } {
    const canonical = new Map<string, Array<readonly [string, string]>>();
    const items = new Map<string, Identified>();
    for (const list of listsOfConfig(next)) {
      const pairs: Array<readonly [string, string]> = [];
      for (const item of (next as unknown as Record<string, Identified[]>)[list]) {
        pairs.push([item.id, canonicalJson(item)]);
        items.set(`${list}\u0000${item.id}`, item);
      }
      canonical.set(list, pairs);
    }
    return this.diffCanonical(canonical, (list, id) => items.get(`${list}\u0000${id}`)!);
  }

  /**
   * The change that turns this model into the configuration given as canonical texts.
   * `resolve` supplies the item object of a changed id (by default: parse its canonical
   * text, which is the normalised item). Unchanged items cost one string comparison.
   */
  diffCanonical(
    next: CanonicalLists,
    resolve: (list: string, id: string, canon: string) => Identified = (_l, _i, canon) => JSON.parse(canon) as Identified,
  ): { change: ConfigChange; canon: Map<Identified, string> } {
    const steps = this.#diffSteps(next, resolve);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /** diffCanonical without stalling the event loop: a turn is yielded every `itemsPerTurn` items. */
  async diffCanonicalAsync(
    next: CanonicalLists,
    resolve: (list: string, id: string, canon: string) => Identified = (_l, _i, canon) => JSON.parse(canon) as Identified,
  ): Promise<{ change: ConfigChange; canon: Map<Identified, string> }> {
    const steps = this.#diffSteps(next, resolve);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** The diff as a generator that pauses every DIFF_ITEMS_PER_STEP items. */
  *#diffSteps(
    next: CanonicalLists,
    resolve: (list: string, id: string, canon: string) => Identified,
  ): Generator<void, { change: ConfigChange; canon: Map<Identified, string> }> {
    const change: MutableChange = emptyChange() as unknown as MutableChange;
    const canon = new Map<Identified, string>();
    const lists = new Set([...this.#lists.keys(), ...next.keys()]);
    let n = 0;
    for (const list of lists) {
      const current = this.#lists.get(list) ?? new Map<string, Entry>();
      const pairs = next.get(list) ?? [];
      const seen = new Set<string>();
      const up: Identified[] = [];
      for (const [id, text] of pairs) {
        if (++n % DIFF_ITEMS_PER_STEP === 0) yield;
        seen.add(id);
        if (current.get(id)?.canon === text) continue;
        const item = resolve(list, id, text);
        canon.set(item, text);
        up.push(item);
      }
      const del: string[] = [];
      for (const id of current.keys()) if (!seen.has(id)) del.push(id);
      if (up.length > 0 || (CORE_LISTS as readonly string[]).includes(list)) change[upsertKey(list)] = up;
      if (del.length > 0 || (CORE_LISTS as readonly string[]).includes(list)) change[deleteKey(list)] = del;
    }
    return { change: change as unknown as ConfigChange, canon };
  }

  /**
   * Check a change received from a writer against this model: its shape, every upserted item,
   * and the references it could break. Returns the change with its items normalised.
   */
  check(change: unknown): CheckResult {
    if (change === null || typeof change !== 'object' || Array.isArray(change)) {
      return { ok: false, errors: [{ path: 'change', message: 'must be an object' }] };
    }
    const lists = listsOfChange(change);
    const whole = lists.some((l) => !(CORE_LISTS as readonly string[]).includes(l) && deletes(change, l).length > 0);
    const base = whole ? this.toConfig() : this.#context(change as ConfigChange);
    const result = applyAndValidate(base, change as ConfigChange);
    if (!result.ok) return result;
    if (!whole) {
      const errors = this.#checkClusterDeletes(change as ConfigChange);
      if (errors.length > 0) return { ok: false, errors };
    }
    const normalised: MutableChange = emptyChange() as unknown as MutableChange;
    for (const list of lists) {
      const wanted = upserts(change, list);
      const byId = new Map(((result.config as unknown as Record<string, Identified[]>)[list] ?? []).map((i) => [i.id, i]));
      normalised[upsertKey(list)] = wanted.map((i) => byId.get(i.id)!);
      normalised[deleteKey(list)] = [...deletes(change, list)];
    }
    return { ok: true, change: normalised as unknown as ConfigChange };
  }

  /** Apply a checked change. O(items in the change); `canon` saves re-serialising known items. */
  apply(change: ConfigChange, canon?: ReadonlyMap<Identified, string>): void {
    this.#materialised = null;
    for (const list of listsOfChange(change)) {
      let entries = this.#lists.get(list);
      if (!entries) {
        entries = new Map();
        this.#lists.set(list, entries);
      }
      for (const id of deletes(change, list)) {
        const old = entries.get(id);
        if (!old) continue;
        entries.delete(id);
        if (list === 'routes') this.#unindex(old.item as RouteConfig);
      }
      for (const item of upserts(change, list)) {
        const old = entries.get(item.id);
        if (list === 'routes') {
          if (old) this.#unindex(old.item as RouteConfig);
          this.#index(item as RouteConfig);
        }
        entries.set(item.id, { item, canon: canon?.get(item) ?? canonicalJson(item) });
      }
    }
  }

  /** The whole configuration as arrays (built on demand, kept until the next change). */
  toConfig(): GatewayConfig {
    if (this.#materialised) return this.#materialised;
    const out: Record<string, Identified[]> = {};
    for (const [list, entries] of this.#lists) out[list] = [...entries.values()].map((e) => e.item);
    this.#materialised = out as unknown as GatewayConfig;
    return this.#materialised;
  }

  /** The smallest configuration in which the change's upserts can be validated. */
  #context(change: ConfigChange): GatewayConfig {
    const out: Record<string, Identified[]> = { routes: [], clusters: [] };
    const clusters = this.#lists.get('clusters')!;
    const deleted = new Set(change.deleteClusters ?? []);
    const wanted = new Set<string>();
    for (const route of (Array.isArray(change.upsertRoutes) ? change.upsertRoutes : [])) {
      const id = (route as { cluster?: unknown } | null)?.cluster;
      if (typeof id === 'string' && !deleted.has(id) && clusters.has(id)) wanted.add(id);
    }
    out.clusters = [...wanted].map((id) => clusters.get(id)!.item);
    for (const [list, entries] of this.#lists) {
      if ((CORE_LISTS as readonly string[]).includes(list)) continue;
      out[list] = [...entries.values()].map((e) => e.item);
    }
    return out as unknown as GatewayConfig;
  }

  #checkClusterDeletes(change: ConfigChange): ConfigError[] {
    const errors: ConfigError[] = [];
    const leaving = new Set([...change.deleteRoutes, ...change.upsertRoutes.map((r) => r.id)]);
    change.deleteClusters.forEach((cluster, i) => {
      const users = [...(this.#routesByCluster.get(cluster) ?? [])].filter((id) => !leaving.has(id));
      if (users.length === 0) return;
      const more = users.length > 1 ? ` and ${users.length - 1} more` : '';
      errors.push({ path: `change.deleteClusters[${i}]`, message: `cluster "${cluster}" is still used by route "${users[0]}"${more}` });
    });
    return errors;
  }

  #index(route: RouteConfig): void {
    let set = this.#routesByCluster.get(route.cluster);
    if (!set) this.#routesByCluster.set(route.cluster, (set = new Set()));
    set.add(route.id);
  }

  #unindex(route: RouteConfig): void {
    const set = this.#routesByCluster.get(route.cluster);
    set?.delete(route.id);
    if (set?.size === 0) this.#routesByCluster.delete(route.cluster);
  }
}

/** The change from `prev` to `next` over every list of either (both validated). O(size). */
export function diffWhole(prev: GatewayConfig, next: GatewayConfig): ConfigChange {
  const model = new ConfigModel();
  model.apply(model.diff(prev).change);
  return model.diff(next).change;
}

/** `base` with a checked change applied, over every list. O(size). */
export function applyWhole(base: GatewayConfig, change: ConfigChange): GatewayConfig {
  const model = new ConfigModel();
  model.apply(model.diff(base).change);
  model.apply(change);
  return model.toConfig();
}
