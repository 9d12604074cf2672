/**
 * The change model of hot reload and of the Redis control plane: what to upsert and delete,
 * by id, to turn one configuration into another.
 *
 * Granularity: a route is replaced whole; a cluster is replaced whole with its destinations
 * (a destination cannot be meaningfully applied without its cluster's policy and weights);
 * an auth policy is replaced whole (each worker then rebuilds its authenticator).
 * Objects are compared by canonical JSON of their normalised form, so applying a config
 * identical to the running one (keys in another order, hosts in another case) is an empty
 * change and touches nothing.
 *
 * Laws (tested with random configurations):
 * - `isEmptyChange(diffConfigs(a, a))`;
 * - `canonicalConfigJson(applyChange(a, diffConfigs(a, b))) === canonicalConfigJson(b)`.
 */
import { canonicalJson } from './canonical.js';
import { validateConfig } from './validate.js';
import { formatFieldPath } from './field-path.js';
import type { AuthPolicyConfig, ConfigChange, ConfigError, GatewayConfig, ManagementAuthConfig, ValidationResult } from './types.js';

export { canonicalJson } from './canonical.js';

export const EMPTY_CHANGE: ConfigChange = Object.freeze({
  upsertRoutes: Object.freeze([]),
  deleteRoutes: Object.freeze([]),
  upsertClusters: Object.freeze([]),
  deleteClusters: Object.freeze([]),
  upsertAuthPolicies: Object.freeze([]),
  deleteAuthPolicies: Object.freeze([]),
  upsertManagementAuth: Object.freeze([]),
  deleteManagementAuth: Object.freeze([]),
});

/** Both configs should be normalised (validated); upserts list `next`'s objects in `next`'s order. */
export function diffConfigs(prev: GatewayConfig, next: GatewayConfig): ConfigChange {
  const routes = diffById(prev.routes, next.routes);
  const clusters = diffById(prev.clusters, next.clusters);
  const policies = diffById(prev.authPolicies ?? [], next.authPolicies ?? []);
  const management = diffById(prev.managementAuth ?? [], next.managementAuth ?? []);
  return {
    upsertRoutes: routes.upserts,
    deleteRoutes: routes.deletes,
    upsertClusters: clusters.upserts,
    deleteClusters: clusters.deletes,
    upsertAuthPolicies: policies.upserts,
    deleteAuthPolicies: policies.deletes,
    upsertManagementAuth: management.upserts,
    deleteManagementAuth: management.deletes,
  };
}

export function isEmptyChange(change: ConfigChange): boolean {
  return (
    change.upsertRoutes.length === 0 &&
    change.deleteRoutes.length === 0 &&
    change.upsertClusters.length === 0 &&
    change.deleteClusters.length === 0 &&
    (change.upsertAuthPolicies?.length ?? 0) === 0 &&
    (change.deleteAuthPolicies?.length ?? 0) === 0 &&
    (change.upsertManagementAuth?.length ?? 0) === 0 &&
    (change.deleteManagementAuth?.length ?? 0) === 0
  );
}

/**
 * `base` with `change` applied. Pure, and it does not validate: the result may, for
 * instance, have a route whose cluster was deleted; use `applyAndValidate` for anything that
 * will be served. Deletions are applied before upserts; an upsert replaces the item with the
 * same id in place or is appended; deleting an absent id does nothing.
 */
export function applyChange(base: GatewayConfig, change: ConfigChange): GatewayConfig {
  return withOptionalLists(
    {
      routes: applyById(base.routes, change.deleteRoutes, change.upsertRoutes).items,
      clusters: applyById(base.clusters, change.deleteClusters, change.upsertClusters).items,
    },
    applyById(base.authPolicies ?? [], change.deleteAuthPolicies ?? [], change.upsertAuthPolicies ?? []).items,
    applyById(base.managementAuth ?? [], change.deleteManagementAuth ?? [], change.upsertManagementAuth ?? []).items,
  );
}

/** An absent optional list and an empty one mean the same; the field is left out when empty. */
function withOptionalLists<T extends { routes: unknown; clusters: unknown }>(config: T, policies: readonly AuthPolicyConfig[], management: readonly ManagementAuthConfig[]):
  T & { authPolicies?: readonly AuthPolicyConfig[]; managementAuth?: readonly ManagementAuthConfig[] } {
  return {
    ...config,
    ...(policies.length === 0 ? {} : { authPolicies: policies }),
    ...(management.length === 0 ? {} : { managementAuth: management }),
  };
}

/**
 * Applies `change` to `base` and validates the result. A change that cannot be applied
 * unambiguously (an id both upserted and deleted, or upserted twice) is rejected, and errors
 * in upserted routes and clusters are reported at their place in the change
 * (`change.upsertRoutes[0].match.path`), since that is what the sender wrote.
 */
export function applyAndValidate(base: GatewayConfig, change: ConfigChange): ValidationResult {
  const problems = checkChangeShape(change);
  if (problems.length > 0) return { ok: false, errors: problems };
  const routes = applyById(base.routes, change.deleteRoutes, change.upsertRoutes);
  const clusters = applyById(base.clusters, change.deleteClusters, change.upsertClusters);
  const policies = applyById(base.authPolicies ?? [], change.deleteAuthPolicies ?? [], change.upsertAuthPolicies ?? []);
  const management = applyById(base.managementAuth ?? [], change.deleteManagementAuth ?? [], change.upsertManagementAuth ?? []);
  const result = validateConfig(withOptionalLists({ routes: routes.items, clusters: clusters.items }, policies.items, management.items));
  if (result.ok) return result;
  const errors = result.errors.map((error) =>
    relocate(
      relocate(
        relocate(relocate(error, 'routes', 'upsertRoutes', routes.origins), 'clusters', 'upsertClusters', clusters.origins),
        'authPolicies', 'upsertAuthPolicies', policies.origins,
      ),
      'managementAuth', 'upsertManagementAuth', management.origins,
    ),
  );
  return { ok: false, errors };
}

interface Identified {
  readonly id: string;
}

function diffById<T extends Identified>(prev: readonly T[], next: readonly T[]): { upserts: T[]; deletes: string[] } {
  const before = new Map(prev.map((item) => [item.id, canonicalJson(item)]));
  const nextIds = new Set(next.map((item) => item.id));
  return {
    upserts: next.filter((item) => before.get(item.id) !== canonicalJson(item)),
    deletes: prev.filter((item) => !nextIds.has(item.id)).map((item) => item.id),
  };
}

/** `origins[i]` is the index in the change's upsert list that produced item i, or -1 (kept from base). */
function applyById<T extends Identified>(
  base: readonly T[],
  deletes: readonly string[],
  upserts: readonly T[],
): { items: T[]; origins: number[] } {
  const deleted = new Set(deletes);
  const items = base.filter((item) => !deleted.has(item.id));
  const origins = items.map(() => -1);
  const position = new Map(items.map((item, i) => [item.id, i]));
  upserts.forEach((item, u) => {
    const at = position.get(item.id);
    if (at === undefined) {
      position.set(item.id, items.length);
      items.push(item);
      origins.push(u);
    } else {
      items[at] = item;
      origins[at] = u;
    }
  });
  return { items, origins };
}

function checkChangeShape(change: ConfigChange): ConfigError[] {
  const errors: ConfigError[] = [];
  const raw = change as unknown as Record<string, unknown>;
  if (raw === null || typeof raw !== 'object') return [{ path: 'change', message: 'must be an object' }];
  const lists = [
    ['upsertRoutes', 'deleteRoutes', 'route', true],
    ['upsertClusters', 'deleteClusters', 'cluster', true],
    ['upsertAuthPolicies', 'deleteAuthPolicies', 'auth policy', false],
    ['upsertManagementAuth', 'deleteManagementAuth', 'management auth entry', false],
  ] as const;
  for (const [upsertKey, deleteKey, kind, required] of lists) {
    // The auth policy lists may be absent (changes from before auth policies existed).
    const upserts = required ? raw[upsertKey] : (raw[upsertKey] ?? []);
    const deletes = required ? raw[deleteKey] : (raw[deleteKey] ?? []);
    if (!Array.isArray(upserts)) errors.push({ path: `change.${upsertKey}`, message: 'must be an array' });
    if (!Array.isArray(deletes)) errors.push({ path: `change.${deleteKey}`, message: 'must be an array' });
    const deleted = new Set<string>();
    if (Array.isArray(deletes)) {
      deletes.forEach((id: unknown, i) => {
        if (typeof id !== 'string') errors.push({ path: `change.${deleteKey}[${i}]`, message: `must be a ${kind} id (a string)` });
        else deleted.add(id);
      });
    }
    if (!Array.isArray(upserts)) continue;
    const upserted = new Set<string>();
    upserts.forEach((item: unknown, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        errors.push({ path: `change.${upsertKey}[${i}]`, message: `must be a ${kind} object` });
        return;
      }
      const id = (item as Record<string, unknown>).id;
      // An upsert without a string id is reported by validating the result, at this item.
      if (typeof id !== 'string') return;
      const path = `change.${upsertKey}[${i}].id`;
      if (deleted.has(id)) errors.push({ path, message: `${kind} "${id}" is both upserted and deleted by this change` });
      if (upserted.has(id)) errors.push({ path, message: `${kind} "${id}" is upserted more than once by this change` });
      upserted.add(id);
    });
  }
  return errors;
}

/** Re-roots an error at `routes[i]...` to `change.upsertRoutes[u]...` when item i came from the change. */
function relocate(error: ConfigError, list: string, upsertKey: string, origins: readonly number[]): ConfigError {
  const match = new RegExp(`^${list}\\[(\\d+)\\]`).exec(error.path);
  if (match === null) return error;
  const origin = origins[Number(match[1])];
  if (origin === undefined || origin === -1) return error;
  return { path: `${formatFieldPath(['change', upsertKey, origin])}${error.path.slice(match[0].length)}`, message: error.message };
}
