/**
 * The management API (SEC-03), served on the gateway's port under /api/gateway/ by the
 * primary (workers relay the requests: see src/worker/management-relay.ts).
 *
 *   GET  status            instance, versions (instance and per worker), Redis state
 *   GET  routes            the applied routes
 *   GET  clusters          clusters with destination health and in-flight counts
 *   GET  config            the applied configuration and its version (ETag)
 *   POST config/validate   validate a configuration; never publishes
 *   PUT  config            validate, then publish through Redis as a new version
 *   PATCH config           apply a change (upserts/deletes) to the current version, publish
 *   POST reload            resync now (Redis) or re-read the file
 *
 * Every endpoint requires a credential: a Bearer admin key (GATEWAY_ADMIN_KEYS_FILE) or an
 * admin JWT accepted under the configuration's managementAuth entries (auth policy + role). No
 * or a bad credential: 401; a read-only credential writing, or a token without either role: 403.
 * With no credential configured the API is off (404) — there is never a default key. Writes go through Redis so that every instance
 * applies them (never this instance alone), with compare-and-set on the version (`If-Match`
 * gives 409 when it is not the current version); each write is audited.
 */
import { applyAndValidate } from '../config/diff.js';
import type { ConfigChange, ConfigError, GatewayConfig } from '../config/types.js';
import { formatErrors, validateConfig } from '../config/validate.js';
import { problemBody, type ErrorCode } from '../errors.js';
import type { ManagementReply, ManagementRequest } from '../ipc/messages.js';
import type { AdminKeys, AdminRole } from './admin-keys.js';

/** What a write looks like to the configuration store (the Redis control plane). */
export type PublishResult =
  | { readonly kind: 'committed'; readonly version: number; readonly change: ConfigChange }
  | { readonly kind: 'unchanged'; readonly version: number }
  | { readonly kind: 'conflict'; readonly version: number }
  | { readonly kind: 'invalid'; readonly errors: readonly ConfigError[] };

/** What a write computes from the current configuration: the next one, or why it is refused. */
export type Computed = { ok: true; config: GatewayConfig } | { ok: false; errors: readonly ConfigError[] };

export interface ConfigPublisher {
  /**
   * Publish `compute(current)` on top of the current version; when `expectedVersion` is given
   * and is not the current version, nothing is written (conflict).
   */
  publish(compute: (current: GatewayConfig) => Computed,
    expectedVersion: number | null, actor: string): Promise<PublishResult>;
}

export interface AuditEntry {
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly version: number;
  readonly change: ConfigChange | null;
}

export interface ManagementBackend {
  status(): unknown;
  /** The applied configuration and version, or null before the first. */
  config(): { readonly version: number; readonly config: GatewayConfig } | null;
  clusters(): unknown;
  /** Null when the configuration comes from a file: writes then answer 409. */
  readonly publisher: ConfigPublisher | null;
  reload(): Promise<unknown>;
  audit(entry: AuditEntry): Promise<void>;
  /** Whether the configuration names admin JWT sources (managementAuth). */
  jwtConfigured(): boolean;
  /**
   * The role an admin JWT grants under the configuration's managementAuth entries: a role,
   * 'forbidden' (a valid token without either role), or null (no valid token).
   */
  adminJwtRole(authorization: readonly string[]): Promise<AdminRole | 'forbidden' | null>;
}

const JSON_TYPE = ['content-type', 'application/json'];

function json(status: number, value: unknown, extra: readonly string[] = []): ManagementReply {
  return { status, headers: [...JSON_TYPE, ...extra], body: JSON.stringify(value) };
}

/**
 * 422 for a configuration or change that does not validate: every finding with its field path
 * (`routes[0].cluster`, `change.upsertRoutes[1].match.path`), under the CONFIG_INVALID code,
 * and the same findings as text.
 */
function invalid(errors: readonly ConfigError[]): ManagementReply {
  return json(422, { valid: false, code: 'CONFIG_INVALID', errors, message: formatErrors(errors) });
}

function problem(status: number, code: ErrorCode, detail: string, extra: readonly string[] = []): ManagementReply {
  const body = JSON.parse(problemBody(code, detail)) as Record<string, unknown>;
  return { status, headers: ['content-type', 'application/problem+json', ...extra], body: JSON.stringify({ ...body, status }) };
}

export class ManagementApi {
  readonly #keys: AdminKeys | null;
  readonly #backend: ManagementBackend;

  constructor(keys: AdminKeys | null, backend: ManagementBackend) {
    this.#keys = keys;
    this.#backend = backend;
  }

  /** On when any admin credential is configured: admin keys, or admin JWTs (managementAuth). */
  get enabled(): boolean {
    return (this.#keys !== null && this.#keys.size > 0) || this.#backend.jwtConfigured();
  }

  async handle(req: ManagementRequest): Promise<ManagementReply> {
    if (!this.enabled) return problem(404, 'ROUTE_NOT_FOUND', 'the management API is off: no admin credential is configured');
    const role = await this.#authenticate(req.authorization);
    if (role === 'forbidden') return problem(403, 'MANAGEMENT_FORBIDDEN', 'the token is valid but carries neither the admin nor the read-only role');
    if (role === null) {
      return problem(401, 'MANAGEMENT_UNAUTHORIZED', 'a valid admin key is required (Authorization: Bearer <key>)',
        ['www-authenticate', 'Bearer realm="fengling-management"']);
    }
    const route = `${req.method} ${req.path.replace(/\/+$/, '')}`;
    const write = !['GET status', 'GET routes', 'GET clusters', 'GET config', 'POST config/validate'].includes(route);
    if (write && role === 'read-only') return problem(403, 'MANAGEMENT_FORBIDDEN', 'this key is read-only');
    const actor = `admin-key(${role})@${req.remoteAddress}`;
    switch (route) {
      case 'GET status': return json(200, this.#backend.status());
      case 'GET routes': return json(200, { version: this.#backend.config()?.version ?? 0, routes: this.#backend.config()?.config.routes ?? [] });
      case 'GET clusters': return json(200, this.#backend.clusters());
      case 'GET config': {
        const c = this.#backend.config();
        if (c === null) return problem(503, 'NOT_READY', 'no configuration applied yet');
        return json(200, { version: c.version, config: c.config }, ['etag', `"${c.version}"`]);
      }
      case 'POST config/validate': {
        const parsed = parseBody(req);
        if (!parsed.ok) return parsed.reply;
        const result = validateConfig(parsed.value);
        return result.ok ? json(200, { valid: true }) : invalid(result.errors);
      }
      case 'PUT config': {
        const parsed = parseBody(req);
        if (!parsed.ok) return parsed.reply;
        const result = validateConfig(parsed.value);
        if (!result.ok) return invalid(result.errors);
        return this.#publish(req, actor, 'put-config', () => ({ ok: true, config: result.config }));
      }
      case 'PATCH config': {
        const parsed = parseBody(req);
        if (!parsed.ok) return parsed.reply;
        const change = normaliseChange(parsed.value);
        if (change === null) return problem(400, 'BAD_REQUEST', `PATCH takes a change: {${CHANGE_KEYS.join(', ')}}`);
        return this.#publish(req, actor, 'patch-config', (current) => {
          const next = applyAndValidate(current, change);
          return next.ok ? { ok: true, config: next.config } : { ok: false, errors: next.errors };
        });
      }
      case 'POST reload': {
        await this.#backend.reload();
        await this.#backend.audit({ at: new Date().toISOString(), actor, action: 'reload', version: this.#backend.config()?.version ?? 0, change: null });
        return json(202, { reloading: true, version: this.#backend.config()?.version ?? 0 });
      }
      default:
        return problem(404, 'ROUTE_NOT_FOUND', `no management endpoint ${route}`);
    }
  }

  /** An admin key first (constant time, no I/O); otherwise an admin JWT, when configured. */
  async #authenticate(values: readonly string[]): Promise<AdminRole | 'forbidden' | null> {
    if (values.length !== 1) return null;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(values[0]);
    if (!m) return null;
    const byKey = this.#keys?.verify(m[1]) ?? null;
    if (byKey !== null) return byKey;
    return this.#backend.jwtConfigured() ? this.#backend.adminJwtRole(values) : null;
  }

  async #publish(req: ManagementRequest, actor: string, action: string,
    compute: (current: GatewayConfig) => Computed): Promise<ManagementReply> {
    const publisher = this.#backend.publisher;
    if (publisher === null) {
      return problem(409, 'MANAGEMENT_FILE_SOURCE', 'this instance reads its configuration from a file; writes need the Redis control plane (REDIS_URL) so that every instance applies them');
    }
    let expected: number | null = null;
    if (req.ifMatch !== null) {
      const v = /^(?:W\/)?"?(\d+)"?$/.exec(req.ifMatch.trim());
      if (!v) return problem(400, 'BAD_REQUEST', 'If-Match must be a configuration version, e.g. "42"');
      expected = Number(v[1]);
    }
    const result = await publisher.publish(compute, expected, actor);
    switch (result.kind) {
      case 'invalid': return invalid(result.errors);
      case 'conflict': return problem(409, 'MANAGEMENT_CONFLICT', `the current version is ${result.version}`, ['etag', `"${result.version}"`]);
      case 'unchanged': return json(200, { version: result.version, changed: false }, ['etag', `"${result.version}"`]);
      case 'committed':
        await this.#backend.audit({ at: new Date().toISOString(), actor, action, version: result.version, change: result.change });
        return json(200, { version: result.version, changed: true }, ['etag', `"${result.version}"`]);
    }
  }
}

function parseBody(req: ManagementRequest): { ok: true; value: unknown } | { ok: false; reply: ManagementReply } {
  try {
    return { ok: true, value: JSON.parse(req.body) };
  } catch (err) {
    return { ok: false, reply: problem(400, 'BAD_REQUEST', `the body must be JSON: ${(err as Error).message}`) };
  }
}

const CHANGE_KEYS = ['upsertRoutes', 'deleteRoutes', 'upsertClusters', 'deleteClusters', 'upsertAuthPolicies', 'deleteAuthPolicies', 'upsertManagementAuth', 'deleteManagementAuth'];

function normaliseChange(value: unknown): ConfigChange | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (Object.keys(v).some((k) => !CHANGE_KEYS.includes(k))) return null;
  if (CHANGE_KEYS.some((k) => v[k] !== undefined && !Array.isArray(v[k]))) return null;
  return {
    upsertRoutes: (v.upsertRoutes ?? []) as ConfigChange['upsertRoutes'],
    deleteRoutes: (v.deleteRoutes ?? []) as ConfigChange['deleteRoutes'],
    upsertClusters: (v.upsertClusters ?? []) as ConfigChange['upsertClusters'],
    deleteClusters: (v.deleteClusters ?? []) as ConfigChange['deleteClusters'],
    upsertAuthPolicies: (v.upsertAuthPolicies ?? []) as NonNullable<ConfigChange['upsertAuthPolicies']>,
    deleteAuthPolicies: (v.deleteAuthPolicies ?? []) as NonNullable<ConfigChange['deleteAuthPolicies']>,
    upsertManagementAuth: (v.upsertManagementAuth ?? []) as NonNullable<ConfigChange['upsertManagementAuth']>,
    deleteManagementAuth: (v.deleteManagementAuth ?? []) as NonNullable<ConfigChange['deleteManagementAuth']>,
  };
}
