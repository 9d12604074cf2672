/**
 * The normal form of a valid configuration: the user's own shape (defaults are NOT filled in,
 * so that what the console wrote is what diffs, hashes and the management API show), with
 * the case-insensitive values in one case: hosts lower-case, methods upper-case. Two configs
 * that differ only in those cases therefore compare equal and re-applying one is a no-op.
 *
 * The result is a deep copy, deeply frozen: `*Config` values are immutable and shared.
 */
import type { GatewayConfig } from './types.js';

type Mutable = Record<string, unknown>;

/** `input` must already be valid; the copy is taken before anything is changed. */
export function normaliseConfig(input: GatewayConfig): GatewayConfig {
  const copy = structuredClone(input) as unknown as Mutable;
  delete copy.$schema;
  for (const route of copy.routes as Mutable[]) {
    const match = route.match as Mutable;
    if (Array.isArray(match.hosts)) match.hosts = match.hosts.map((h: string) => h.toLowerCase());
    if (Array.isArray(match.methods)) match.methods = match.methods.map((m: string) => m.toUpperCase());
  }
  for (const cluster of copy.clusters as Mutable[]) {
    const retry = cluster.retry as Mutable | undefined;
    if (retry !== undefined && Array.isArray(retry.methods)) {
      retry.methods = retry.methods.map((m: string) => m.toUpperCase());
    }
  }
  return deepFreeze(copy) as unknown as GatewayConfig;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
