/**
 * The management API's view of one instance: read models over the applier, the supervisor and
 * the shared tables, and writes through the Redis control plane's compare-and-set commit (the
 * same code path as gatewayctl), so a write reaches every instance and loses no other write.
 */
import { createAuthenticatorFactory } from '../auth/index.js';
import type { RouteAuthenticator } from '../auth/types.js';
import { canonicalJson, isEmptyChange } from '../config/diff.js';
import type { AuthPolicyConfig, ConfigError, GatewayConfig } from '../config/types.js';
import { formatErrors } from '../config/validate.js';
import { diffWhole } from '../control-plane/config-model.js';
import type { RedisClient } from '../control-plane/redis-connect.js';
import { ControlPlaneStore } from '../control-plane/store.js';
import type { Logger } from '../observability/logger.js';
import type { ConfigApplier } from '../primary/config-applier.js';
import type { Supervisor } from '../primary/supervisor.js';
import { HEALTH_UP, kDestEjectedUntil, kDestHealth, kDestInFlight, kDestPicks, kDestStride, type SharedTables } from '../shm/layout.js';
import type { TableWriter } from '../shm/table-writer.js';
import type { AdminRole } from './admin-keys.js';
import type { AuditEntry, ConfigPublisher, ManagementBackend, PublishResult } from './api.js';

/** Audit entries kept in Redis (newest first). */
export const AUDIT_CAP = 1000;

export interface BackendParts {
  readonly instanceId: string;
  readonly applier: ConfigApplier;
  readonly supervisor: Supervisor;
  readonly writer: TableWriter;
  readonly tables: SharedTables;
  readonly log: Logger;
  /** Extra status fields (the configuration source, Redis connection state). */
  readonly sourceStatus: () => Record<string, unknown>;
  readonly reload: () => Promise<unknown>;
  /** The command connection and prefix of the Redis control plane; null for a file source. */
  readonly redis: { readonly client: RedisClient; readonly prefix: string } | null;
}

export function createBackend(parts: BackendParts): ManagementBackend {
  const destinations = new Int32Array(parts.tables.destinations);
  const startedAt = new Date().toISOString();
  const adminJwt = new AdminJwt(parts);
  return {
    jwtConfigured: () => (parts.applier.config?.managementAuth?.length ?? 0) > 0,
    adminJwtRole: (authorization) => adminJwt.role(authorization),
    status: () => ({
      instance: parts.instanceId,
      pid: process.pid,
      startedAt,
      version: parts.applier.version,
      converged: parts.supervisor.converged(),
      workers: parts.supervisor.status(),
      ...parts.sourceStatus(),
    }),
    config: () => (parts.applier.config === null ? null : { version: parts.applier.version, config: parts.applier.config }),
    clusters: () => {
      const config = parts.applier.config;
      const now = Math.floor(Date.now() / 1000);
      return {
        version: parts.applier.version,
        clusters: (config?.clusters ?? []).map((c) => ({
          id: c.id,
          loadBalancing: c.loadBalancing ?? 'round-robin',
          whenAllDown: c.whenAllDown ?? 'fail-closed',
          destinations: c.destinations.map((d) => {
            const slot = parts.writer.destinationSlot(c.id, d.id);
            if (slot === undefined) return { id: d.id, address: d.address, health: 'unknown' };
            const base = slot * kDestStride;
            const ejectedUntil = Atomics.load(destinations, base + kDestEjectedUntil);
            return {
              id: d.id,
              address: d.address,
              weight: d.weight ?? 1,
              health: Atomics.load(destinations, base + kDestHealth) === HEALTH_UP ? 'up' : 'down',
              ejected: ejectedUntil > now,
              inFlight: Atomics.load(destinations, base + kDestInFlight),
              picks: Atomics.load(destinations, base + kDestPicks) >>> 0,
            };
          }),
        })),
      };
    },
    publisher: parts.redis === null ? null : redisPublisher(parts.redis),
    reload: parts.reload,
    audit: async (entry: AuditEntry) => {
      parts.log.info({ audit: entry }, 'management write');
      if (parts.redis === null) return;
      const key = `${parts.redis.prefix}audit`;
      try {
        await parts.redis.client.multi().lpush(key, JSON.stringify(entry)).ltrim(key, 0, AUDIT_CAP - 1).exec();
      } catch (err) {
        parts.log.error({ err, code: 'CONTROL_PLANE_ERROR' }, 'audit entry not written to Redis (kept in the log)');
      }
    },
  };
}

function redisPublisher(redis: { readonly client: RedisClient; readonly prefix: string }): ConfigPublisher {
  return {
    async publish(compute, expectedVersion, actor): Promise<PublishResult> {
      const store = new ControlPlaneStore(redis.client, { prefix: redis.prefix, writer: actor });
      if (expectedVersion === null) {
        // No version given: compare-and-set with retries, recomputing on the newest snapshot.
        let invalid: readonly ConfigError[] | null = null;
        const result = await store.update((current) => {
          const next = compute(current.config);
          if (!next.ok) {
            invalid = next.errors;
            return { abort: formatErrors(next.errors) };
          }
          return next.config;
        }, { kind: 'apply' });
        if (invalid !== null) return { kind: 'invalid', errors: invalid };
        if (result.kind === 'committed') return { kind: 'committed', version: result.version, change: result.change };
        if (result.kind === 'unchanged') return { kind: 'unchanged', version: result.version };
        if (result.kind === 'aborted') return { kind: 'invalid', errors: [{ path: '$', message: result.reason }] };
        return { kind: 'conflict', version: result.version };
      }
      const current = await store.read();
      if (current.version !== expectedVersion) return { kind: 'conflict', version: current.version };
      const next = compute(current.config);
      if (!next.ok) return { kind: 'invalid', errors: next.errors };
      const change = diffWhole(current.config, next.config as GatewayConfig);
      if (isEmptyChange(change) && current.epoch !== null) return { kind: 'unchanged', version: current.version };
      const committed = await store.commit(current, next.config, { change });
      if (!committed.ok) return { kind: 'conflict', version: committed.conflict.version };
      return { kind: 'committed', version: committed.version, change };
    },
  };
}

/**
 * Admin JWTs (managementAuth): each entry's auth policy, with the entry's role added to its
 * required roles, judged by the same authenticators the workers use for routes (JWKS caching,
 * key rotation, verdict cache). Authenticators are cached by their policy's canonical text, so
 * a configuration change that alters a policy builds a new one.
 */
class AdminJwt {
  readonly #parts: BackendParts;
  readonly #factory: ReturnType<typeof createAuthenticatorFactory>;
  readonly #cache = new Map<string, RouteAuthenticator>();

  constructor(parts: BackendParts) {
    this.#parts = parts;
    this.#factory = createAuthenticatorFactory({ log: parts.log });
  }

  async role(authorization: readonly string[]): Promise<AdminRole | 'forbidden' | null> {
    const config = this.#parts.applier.config;
    let forbidden = false;
    for (const entry of config?.managementAuth ?? []) {
      const policy = config?.authPolicies?.find((p) => p.id === entry.authPolicy);
      if (!policy) continue;
      const admin = await this.#authenticator(policy, entry.adminRole).check(authorization);
      if (admin.ok) return 'admin';
      if (entry.readOnlyRole !== undefined) {
        const reader = await this.#authenticator(policy, entry.readOnlyRole).check(authorization);
        if (reader.ok) return 'read-only';
      }
      if (admin.code === 'AUTH_FORBIDDEN') forbidden = true;
    }
    return forbidden ? 'forbidden' : null;
  }

  #authenticator(policy: AuthPolicyConfig, role: string): RouteAuthenticator {
    const derived: AuthPolicyConfig = { ...policy, jwt: { ...policy.jwt, requiredRoles: [...(policy.jwt.requiredRoles ?? []), role] } };
    const key = canonicalJson(derived);
    let auth = this.#cache.get(key);
    if (auth === undefined) {
      // Old entries belong to policies that changed: close them rather than let them grow.
      if (this.#cache.size >= 64) {
        for (const a of this.#cache.values()) a.close();
        this.#cache.clear();
      }
      auth = this.#factory(derived);
      this.#cache.set(key, auth);
    }
    return auth;
  }
}
