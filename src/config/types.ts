/**
 * The configuration vocabulary (YARP's): Route, Cluster, Destination.
 *
 * `*Config` types are validated, immutable data that came from a configuration
 * source (a file, or the console through Redis). Nothing here is live state:
 * live state (health, in-flight counts, cursors) is `*State` over shared memory.
 */

export const LOAD_BALANCING_POLICIES = [
  'round-robin',
  'weighted-round-robin',
  'least-requests',
  'power-of-two-choices',
  'random',
  'first',
] as const;
export type LoadBalancingPolicyName = (typeof LOAD_BALANCING_POLICIES)[number];

export const HTTP_METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT',
] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** One header constraint of a route: the header must be present and, when `values` is given, equal one of them (case-insensitively). */
export interface HeaderMatchConfig {
  readonly name: string;
  readonly values?: readonly string[];
}

export interface RouteMatchConfig {
  /** `/literal/{param}/{**catchAll}`; always starts with `/`. */
  readonly path: string;
  /** Upper-case methods; absent = any method. */
  readonly methods?: readonly HttpMethod[];
  /** Exact host names or `*.suffix` wildcards, lower-case, no port; absent = any host. */
  readonly hosts?: readonly string[];
  readonly headers?: readonly HeaderMatchConfig[];
}

/**
 * A request or response transform. Exactly one discriminating key is set.
 * Applied in the order listed.
 */
export type TransformConfig =
  | { readonly pathRemovePrefix: string }
  | { readonly pathPrefix: string }
  | { readonly pathSet: string }
  | { readonly requestHeader: string; readonly set: string }
  | { readonly requestHeader: string; readonly append: string }
  | { readonly requestHeaderRemove: string }
  | { readonly responseHeader: string; readonly set: string }
  | { readonly responseHeader: string; readonly append: string }
  | { readonly responseHeaderRemove: string };

export interface RouteConfig {
  readonly id: string;
  readonly cluster: string;
  /** Tie-breaker after host, path and constraint specificity: lower wins. Default 0. */
  readonly order?: number;
  readonly match: RouteMatchConfig;
  readonly transforms?: readonly TransformConfig[];
  /** Upstream response-head timeout in ms (504 when exceeded). Default 30000. */
  readonly timeoutMs?: number;
  /** Request body limit in bytes (413 when exceeded). Default 10 MiB. */
  readonly maxRequestBodyBytes?: number;
  /** Host header sent upstream: the client's (`original`, default) or the destination's authority. */
  readonly upstreamHost?: 'original' | 'destination';
  /** Name of an auth policy (see authPolicies); absent = open route. */
  readonly authPolicy?: string;
}

export interface DestinationConfig {
  /** Unique within its cluster. */
  readonly id: string;
  /** `http://host:port` (an origin: no path, query or credentials). */
  readonly address: string;
  /** Positive integer, default 1. Used by weighted-round-robin. */
  readonly weight?: number;
  /** Initial health as configured; the console may override it at run time. Default `up`. */
  readonly health?: 'up' | 'down';
}

export interface ClusterConfig {
  readonly id: string;
  readonly loadBalancing?: LoadBalancingPolicyName;
  readonly destinations: readonly DestinationConfig[];
  /** When every destination is down: `fail-open` uses them all anyway, `fail-closed` answers 503. Default fail-closed. */
  readonly whenAllDown?: 'fail-open' | 'fail-closed';
  /** Retry policy for failures before any response byte arrived. */
  readonly retry?: {
    /** Total attempts including the first; default 2 (one retry on another destination). 1 disables. */
    readonly attempts?: number;
    /** Methods that may be retried; default the idempotent ones (GET HEAD OPTIONS PUT DELETE TRACE). */
    readonly methods?: readonly HttpMethod[];
  };
}

/**
 * An authentication policy that routes reference by id (`route.authPolicy`). The JWT settings
 * are defined with the auth code (src/auth) and documented in docs/security.md.
 */
export interface AuthPolicyConfig {
  readonly id: string;
  readonly jwt: JwtPolicyConfig;
}

/** JWT validation settings of an auth policy (SEC-02). */
export interface JwtPolicyConfig {
  readonly issuer?: string | readonly string[];
  readonly audiences?: readonly string[];
  readonly algorithms: readonly string[];
  readonly jwksUri?: string;
  readonly keys?: readonly unknown[];
  readonly clockToleranceSeconds?: number;
  readonly requiredClaims?: readonly string[];
  readonly requiredScopes?: readonly string[];
  readonly requiredRoles?: readonly string[];
  readonly claimsToHeaders?: Readonly<Record<string, string>>;
  readonly forwardAuthorization?: boolean;
}

export interface GatewayConfig {
  readonly routes: readonly RouteConfig[];
  readonly clusters: readonly ClusterConfig[];
  readonly authPolicies?: readonly AuthPolicyConfig[];
}

/** A configuration together with the version its source assigned. */
export interface VersionedConfig {
  readonly version: number;
  readonly config: GatewayConfig;
}

/** One validation finding: `path` is a field path like `routes[3].match.path`. */
export interface ConfigError {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly config: GatewayConfig }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

/**
 * The difference between two configurations, as hot reload and the console's control plane
 * apply it (src/config/diff.ts). An upserted cluster carries all of its destinations.
 * Deleting an id that does not exist is a no-op, so a change can be re-delivered safely.
 */
export interface ConfigChange {
  readonly upsertRoutes: readonly RouteConfig[];
  readonly deleteRoutes: readonly string[];
  readonly upsertClusters: readonly ClusterConfig[];
  readonly deleteClusters: readonly string[];
}
