/**
 * Canonical JSON: one text per value, whatever order its keys were written in. Used to
 * compare configuration objects for equality and to hash them (equal values, equal hashes).
 */
import { createHash } from 'node:crypto';
import type { GatewayConfig } from './types.js';

/**
 * JSON with object keys sorted (by UTF-16 code unit) at every depth, no whitespace, and
 * properties whose value is `undefined` left out, as `JSON.stringify` does. Array order is
 * kept: it is meaningful (transforms, destinations for the `first` policy).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not JSON`);
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(record[key])}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The canonical text of a whole configuration. The order of the route, cluster and auth
 * policy lists carries no meaning (routes are ranked by specificity and `order`, see docs/routing.md;
 * clusters are looked up by id), so both are sorted by id first: two configurations that
 * differ only in list order have the same text, and the same hash.
 */
export function canonicalConfigJson(config: GatewayConfig): string {
  const byId = <T extends { readonly id: string }>(items: readonly T[]): T[] =>
    [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const policies = config.authPolicies ?? [];
  const management = config.managementAuth ?? [];
  // Absent optional lists leave the text as it was before they existed, so stored hashes stay valid.
  return canonicalJson({
    routes: byId(config.routes),
    clusters: byId(config.clusters),
    ...(policies.length === 0 ? {} : { authPolicies: byId(policies) }),
    ...(management.length === 0 ? {} : { managementAuth: byId(management) }),
  });
}

/** `sha256:<hex>` of the canonical text: a short, stable identity for logs and the management API. */
export function configHash(config: GatewayConfig): string {
  return `sha256:${createHash('sha256').update(canonicalConfigJson(config)).digest('hex')}`;
}
