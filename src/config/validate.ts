/**
 * `validateConfig`: the one gate every configuration passes, from a file or from the console.
 *
 * It collects every error (never stops at the first) so that an operator fixes a file in one
 * round: the structural errors from the schema (./shape.ts) and then the rules a schema cannot
 * express, run over whatever parts of the input are well-formed enough to check. On success
 * it returns the normalised, deep-frozen config (./normalise.ts).
 */
import { checkPathTemplate } from './path-template.js';
import { checkHostPattern } from './host-pattern.js';
import { parseDestinationAddress } from './address.js';
import { checkTransform } from './transforms-check.js';
import { checkAuthPolicy } from './auth-check.js';
import { checkShape } from './shape.js';
import { HEADER_NAME_PATTERN, ID_PATTERN, LIMITS } from './schema.js';
import { normaliseConfig } from './normalise.js';
import { describeValue, toConfigErrors, type PathSegment, type PathedError } from './field-path.js';
import { HTTP_METHODS, type ConfigError, type GatewayConfig, type ValidationResult } from './types.js';

type Fields = Record<string, unknown>;

const KNOWN_METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);
// A malformed id is reported by the schema; saying it is also unknown would be noise.
const ID = new RegExp(ID_PATTERN);
const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);

export function validateConfig(input: unknown): ValidationResult {
  const errors: PathedError[] = checkShape(input);
  if (isObject(input)) checkRules(input, errors);
  if (errors.length > 0) return { ok: false, errors: Object.freeze(toConfigErrors(errors)) };
  return { ok: true, config: normaliseConfig(input as unknown as GatewayConfig) };
}

/** One error per line, `path: message`, in the order given. */
export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('\n');
}

function checkRules(config: Fields, errors: PathedError[]): void {
  const report = (segments: readonly PathSegment[], message: string): void => {
    errors.push({ segments, message });
  };

  const clusterIds = new Map<string, number>();
  const clusters = Array.isArray(config.clusters) ? config.clusters : [];
  clusters.forEach((cluster, c) => {
    if (!isObject(cluster)) return;
    const at = ['clusters', c];
    checkUniqueId(cluster.id, at, clusterIds, 'cluster', (i) => `clusters[${i}]`, report);
    const destinationIds = new Map<string, number>();
    const destinations = Array.isArray(cluster.destinations) ? cluster.destinations : [];
    destinations.forEach((destination, d) => {
      if (!isObject(destination)) return;
      const dat = [...at, 'destinations', d];
      checkUniqueId(destination.id, dat, destinationIds, 'destination', (i) => `destinations[${i}]`, report);
      if (typeof destination.address === 'string') {
        const parsed = parseDestinationAddress(destination.address);
        if (!parsed.ok) report([...dat, 'address'], parsed.message);
      }
    });
    if (isObject(cluster.retry)) checkMethods(cluster.retry.methods, [...at, 'retry', 'methods'], report);
  });

  const policyIds = new Map<string, number>();
  const policies = Array.isArray(config.authPolicies) ? config.authPolicies : [];
  policies.forEach((policy, p) => {
    if (!isObject(policy)) return;
    const at = ['authPolicies', p];
    checkUniqueId(policy.id, at, policyIds, 'auth policy', (i) => `authPolicies[${i}]`, report);
    errors.push(...checkAuthPolicy(policy, at));
  });

  const managementIds = new Map<string, number>();
  const management = Array.isArray(config.managementAuth) ? config.managementAuth : [];
  management.forEach((entry, m) => {
    if (!isObject(entry)) return;
    const at = ['managementAuth', m];
    checkUniqueId(entry.id, at, managementIds, 'management auth entry', (i) => `managementAuth[${i}]`, report);
    if (typeof entry.authPolicy === 'string' && ID.test(entry.authPolicy) && (config.authPolicies === undefined || Array.isArray(config.authPolicies)) && !policyIds.has(entry.authPolicy)) {
      report([...at, 'authPolicy'], `unknown auth policy "${entry.authPolicy}"; ${[...policyIds.keys()].length === 0 ? 'no authPolicies are defined' : `known auth policies: ${[...policyIds.keys()].slice(0, 20).join(', ')}`}`);
    }
  });

  const routeIds = new Map<string, number>();
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((route, r) => {
    if (!isObject(route)) return;
    const at = ['routes', r];
    checkUniqueId(route.id, at, routeIds, 'route', (i) => `routes[${i}]`, report);
    // Only when the cluster list itself is readable: otherwise every route would be flagged.
    if (typeof route.cluster === 'string' && Array.isArray(config.clusters) && !clusterIds.has(route.cluster)) {
      report([...at, 'cluster'], unknownClusterMessage(route, [...clusterIds.keys()]));
    }
    // A route naming a policy that does not exist would fail closed (503) on every request.
    if (typeof route.authPolicy === 'string' && ID.test(route.authPolicy) && (config.authPolicies === undefined || Array.isArray(config.authPolicies)) && !policyIds.has(route.authPolicy)) {
      report([...at, 'authPolicy'], unknownPolicyMessage(route, [...policyIds.keys()]));
    }
    if (isObject(route.match)) {
      const match = route.match;
      if (typeof match.path === 'string') {
        for (const problem of checkPathTemplate(match.path)) report([...at, 'match', 'path'], problem);
      }
      checkMethods(match.methods, [...at, 'match', 'methods'], report);
      checkHosts(match.hosts, [...at, 'match', 'hosts'], report);
    }
    if (Array.isArray(route.transforms)) {
      route.transforms.forEach((transform, t) => errors.push(...checkTransform(transform, [...at, 'transforms', t])));
    }
    if (isObject(route.rateLimit)) checkRateLimit(route.rateLimit, [...at, 'rateLimit'], report);
  });
}

/**
 * What the schema leaves to us: `key` (a union: its ajv errors are dropped by ./shape.ts) and
 * the refill time of a full bucket, which bounds the bucket arithmetic (src/shm/rate-limit-table.ts).
 */
function checkRateLimit(
  limit: Fields,
  at: readonly PathSegment[],
  report: (segments: readonly PathSegment[], message: string) => void,
): void {
  const key = limit.key;
  if (isObject(key)) {
    for (const field of Object.keys(key)) if (field !== 'header') report([...at, 'key', field], 'unknown field (allowed: header)');
    if (!('header' in key)) report([...at, 'key', 'header'], 'is required');
    else if (typeof key.header !== 'string' || !HEADER_NAME.test(key.header)) {
      report([...at, 'key', 'header'], `must be a valid HTTP header name (got ${describeValue(key.header)})`);
    }
  } else if (key !== undefined && key !== 'client-address') {
    report([...at, 'key'], `must be "client-address" or { header: <name> } (got ${describeValue(key)})`);
  }
  const rate = limit.requestsPerSecond;
  const burst = limit.burst;
  const { minimum, maximum } = LIMITS.rateLimitRequestsPerSecond;
  if (typeof rate !== 'number' || rate < minimum || rate > maximum || typeof burst !== 'number' || !Number.isInteger(burst)) return;
  const refill = burst / rate;
  if (refill > LIMITS.rateLimitRefillSeconds.maximum) {
    report([...at, 'burst'], `a full bucket would take ${Math.round(refill)} s to refill (burst / requestsPerSecond); at most ${LIMITS.rateLimitRefillSeconds.maximum}`);
  }
}

function checkUniqueId(
  id: unknown,
  at: readonly PathSegment[],
  seen: Map<string, number>,
  kind: string,
  where: (index: number) => string,
  report: (segments: readonly PathSegment[], message: string) => void,
): void {
  if (typeof id !== 'string') return;
  const index = at[at.length - 1] as number;
  const first = seen.get(id);
  if (first === undefined) seen.set(id, index);
  else report([...at, 'id'], `duplicate ${kind} id "${id}" (first used by ${where(first)})`);
}

function unknownClusterMessage(route: Fields, known: readonly string[]): string {
  const routeName = typeof route.id === 'string' ? `route "${route.id}"` : 'this route';
  const list = known.length === 0 ? 'no clusters are defined' : `known clusters: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}`;
  return `${routeName} refers to unknown cluster "${String(route.cluster)}" (${list})`;
}

function unknownPolicyMessage(route: Fields, known: readonly string[]): string {
  const routeName = typeof route.id === 'string' ? `route "${route.id}"` : 'this route';
  const list = known.length === 0 ? 'no authPolicies are defined' : `known auth policies: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}`;
  return `${routeName} refers to unknown auth policy "${String(route.authPolicy)}" (${list})`;
}

function checkMethods(
  methods: unknown,
  at: readonly PathSegment[],
  report: (segments: readonly PathSegment[], message: string) => void,
): void {
  if (!Array.isArray(methods)) return;
  const seen = new Set<string>();
  methods.forEach((method, i) => {
    if (typeof method !== 'string') return;
    const upper = method.toUpperCase();
    if (!KNOWN_METHODS.has(upper)) {
      report([...at, i], `unknown method ${JSON.stringify(method)} (known: ${HTTP_METHODS.join(', ')})`);
    } else if (seen.has(upper)) {
      report([...at, i], `duplicate method ${upper}`);
    }
    seen.add(upper);
  });
}

function checkHosts(
  hosts: unknown,
  at: readonly PathSegment[],
  report: (segments: readonly PathSegment[], message: string) => void,
): void {
  if (!Array.isArray(hosts)) return;
  const seen = new Set<string>();
  hosts.forEach((host, i) => {
    if (typeof host !== 'string') return;
    const lower = host.toLowerCase();
    const problem = checkHostPattern(lower);
    if (problem !== undefined) report([...at, i], problem);
    else if (seen.has(lower)) report([...at, i], `duplicate host "${lower}"`);
    seen.add(lower);
  });
}

function isObject(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
