/**
 * The authenticator factory the workers use (`createAuthenticator`), one authenticator per
 * auth policy per worker thread, built when the policy row changes and closed when replaced.
 *
 * Compiling a policy happens here, in the worker: `${NAME}` references and key files are
 * resolved now (never earlier, so secrets never travel through Redis or the shared tables).
 * Anything that keeps a policy from working makes it fail closed (503), with one log line
 * naming the variable or file, never a value. This function never throws: a throw would
 * abort the worker's whole table batch.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import type { AuthPolicyConfig } from '../config/types.js';
import type { LogLevel } from '../cli/settings.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { FailClosedAuthenticator } from './fail-closed.js';
import { JwtAuthenticator } from './jwt-authenticator.js';
import { readKeyMaterial } from './key-material.js';
import { KeySet } from './key-set.js';
import { StaticKeys, type KeySource } from './key-source.js';
import { Challenges } from './outcomes.js';
import { compilePolicy, JWT_DEFAULTS } from './policy.js';
import { RemoteJwks } from './remote-jwks.js';
import { newAuthStats, registerStats, unregisterStats } from './stats.js';
import type { AuthenticatorFactory, RouteAuthenticator } from './types.js';

export { authStats, type AuthStats } from './stats.js';
export { JWT_DEFAULTS } from './policy.js';

export interface AuthenticatorDeps {
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly random: () => number;
  readonly env: NodeJS.ProcessEnv;
}

/** A factory with injected dependencies (tests pass a fake clock, fetch and log). */
export function createAuthenticatorFactory(overrides: Partial<AuthenticatorDeps> = {}): AuthenticatorFactory {
  return (policy) => {
    const deps: AuthenticatorDeps = {
      log: overrides.log ?? defaultLog(),
      fetch: overrides.fetch ?? globalThis.fetch,
      now: overrides.now ?? Date.now,
      random: overrides.random ?? Math.random,
      env: overrides.env ?? process.env,
    };
    try {
      return build(policy, deps);
    } catch (error) {
      // A bug or a row that escaped validation: fail closed rather than abort the batch.
      deps.log.error({ policy: policy?.id, err: (error as Error)?.message }, 'auth policy cannot be compiled; its routes answer 503');
      const stats = newAuthStats();
      return new FailClosedAuthenticator(new Challenges('gateway').unavailable('auth policy is misconfigured'), stats, () => undefined);
    }
  };
}

/** The workers' factory: logs through a pino logger of this thread. */
export const createAuthenticator: AuthenticatorFactory = (policy) => createAuthenticatorFactory()(policy);

function build(policy: AuthPolicyConfig, deps: AuthenticatorDeps): RouteAuthenticator {
  const compiled = compilePolicy(policy);
  const jwt = policy.jwt;
  const stats = newAuthStats();
  registerStats(policy.id, stats);
  const challenges = new Challenges(compiled.realm);

  let keys: KeySource;
  let authenticator: JwtAuthenticator | null = null;
  if (jwt.jwksUri !== undefined) {
    const r = { ...JWT_DEFAULTS.jwksRefresh, ...jwt.jwksRefresh };
    const remote = new RemoteJwks({
      uri: jwt.jwksUri,
      algorithms: jwt.algorithms,
      intervalMs: r.intervalSeconds !== undefined ? r.intervalSeconds * 1000 : null,
      minIntervalMs: r.minIntervalSeconds * 1000,
      maxIntervalMs: r.maxIntervalSeconds * 1000,
      cooldownMs: r.unknownKidCooldownSeconds * 1000,
      timeoutMs: r.timeoutMs,
      maxStaleMs: r.maxStaleSeconds * 1000,
    }, {
      fetch: deps.fetch, now: deps.now, random: deps.random, log: deps.log, stats, policyId: policy.id,
      onKeysChanged: () => authenticator?.clearCache(),
    });
    remote.start();
    keys = remote;
  } else {
    const material = readKeyMaterial(jwt.keys ?? [], deps.env);
    if (!material.ok) {
      deps.log.error({ policy: policy.id, problem: material.problem }, 'auth policy cannot load its keys; its routes answer 503');
      return new FailClosedAuthenticator(challenges.unavailable('verification keys are unavailable'), stats, () => unregisterStats(policy.id, stats));
    }
    keys = new StaticKeys(KeySet.create(material.jwks, jwt.algorithms).then(({ set, skipped }) => {
      if (skipped.length > 0) deps.log.warn({ policy: policy.id, skipped }, 'auth policy keys skipped');
      if (set.size > 0) return set;
      deps.log.error({ policy: policy.id, algorithms: jwt.algorithms }, 'auth policy has no key usable with its algorithms; its routes answer 503');
      return null;
    }, (error: unknown) => {
      deps.log.error({ policy: policy.id, err: (error as Error).message }, 'auth policy keys cannot be imported; its routes answer 503');
      return null;
    }));
  }
  const source = keys;
  authenticator = new JwtAuthenticator(compiled, {
    current: () => source.current(),
    whenLoaded: () => source.whenLoaded(),
    refetchForUnknownKid: () => source.refetchForUnknownKid(),
    close: () => {
      source.close();
      unregisterStats(policy.id, stats);
    },
  }, challenges, stats, { now: deps.now, log: deps.log });
  return authenticator;
}

let sharedLog: Logger | null = null;
/** This thread's logger: a worker's level and index come from its workerData. */
function defaultLog(): Logger {
  if (sharedLog === null) {
    const data = (isMainThread ? null : workerData) as { settings?: { logLevel?: LogLevel }; workerIndex?: number } | null;
    sharedLog = createLogger(data?.settings?.logLevel ?? 'info', data?.workerIndex ?? 'auth');
  }
  return sharedLog;
}
