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
  /** A token bucket per client key, shared by the workers of an instance; absent = no limit. */
  readonly rateLimit?: RateLimitConfig;
}

/**
 * Per-route rate limit (429 RATE_LIMITED when a key's bucket is empty). The bucket holds
 * `burst` tokens and refills at `requestsPerSecond`; each request takes one. Counters are per
 * instance (shared by its workers), not across instances.
 */
export interface RateLimitConfig {
  /** Refill rate: 0.001 ... 1,000,000 tokens a second. */
  readonly requestsPerSecond: number;
  /** Bucket size (requests admitted at once after a quiet spell). Default: one second's worth, at least 1. */
  readonly burst?: number;
  /** What a bucket is per: the client address (default) or a request header's value. */
  readonly key?: RateLimitKeyConfig;
}

/** `client-address`, or `{ header }`: a request without that header is keyed by its client address. */
export type RateLimitKeyConfig = 'client-address' | { readonly header: string };

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

/** Passive outlier detection: request failures eject a destination for a while. */
export interface OutlierDetectionConfig {
  /** Consecutive failures that eject a destination; default 5, 0 = off. */
  readonly consecutiveFailures?: number;
  /** Default 30. */
  readonly ejectionSeconds?: number;
  /** Cap on the share of the cluster ejected at once; default 50. */
  readonly maxEjectedPercent?: number;
  /** Count the upstream's own 5xx answers as failures too; default false. */
  readonly serverErrors?: boolean;
}

/**
 * Overload protection: a per-destination concurrency limit shared by every worker of the
 * instance, with a bounded wait queue in each worker. Absent = no limit.
 */
export interface ClusterLimitsConfig {
  /** Requests in flight to one destination at once, instance-wide. */
  readonly maxConcurrentPerDestination: number;
  /** Requests waiting for a slot, per worker; default 100, 0 = none (503 at once). */
  readonly maxQueuedPerWorker?: number;
  /** Longest wait in the queue; default 1000 ms. */
  readonly queueTimeoutMs?: number;
  /** Retry-After of the 503; default 1. */
  readonly retryAfterSeconds?: number;
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
  readonly outlierDetection?: OutlierDetectionConfig;
  readonly limits?: ClusterLimitsConfig;
}

/**
 * An authentication policy that routes reference by id (`route.authPolicy`). Verified in the
 * workers by src/auth; the fields, defaults and threat model are in docs/security.md.
 */
export interface AuthPolicyConfig {
  readonly id: string;
  readonly jwt: JwtPolicyConfig;
}

/**
 * The JWS algorithms an auth policy may allow. `none` is not among them and never will be.
 * HS* (a shared secret) and the asymmetric families never share a policy: see auth-check.ts.
 */
export const JWT_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
  'HS256', 'HS384', 'HS512',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/**
 * One verification key, read when a worker compiles the policy. Exactly one of `file`,
 * `env` or `secret` is set, so that no key material lives in the configuration (SEC-01):
 * - `file`: a PEM (public key or certificate), a JWK or a JWK set; `${NAME}` references in the path are resolved;
 * - `env`: the name of an environment variable holding the same;
 * - `secret`: an HMAC secret given as a `${NAME}` reference to an environment variable.
 */
export interface JwtKeyConfig {
  /** Matched against the token header's `kid`; a key without one matches any `kid`. */
  readonly kid?: string;
  /** Restrict the key to one algorithm of the policy's list. */
  readonly alg?: JwtAlgorithm;
  readonly file?: string;
  readonly env?: string;
  readonly secret?: string;
  /** How a `secret` (or an `env` holding a raw secret) is encoded. Default `utf8`. */
  readonly encoding?: 'utf8' | 'base64' | 'base64url';
}

/** How a remote JWK set is fetched and kept fresh (per worker thread). */
export interface JwksRefreshConfig {
  /** Fixed refresh interval; absent = the response's Cache-Control max-age, within the bounds below (300 s without one). */
  readonly intervalSeconds?: number;
  /** Lower bound for a max-age driven interval. Default 60. */
  readonly minIntervalSeconds?: number;
  /** Upper bound for a max-age driven interval. Default 3600. */
  readonly maxIntervalSeconds?: number;
  /** Least time between two fetches caused by unknown `kid`s. Default 30. */
  readonly unknownKidCooldownSeconds?: number;
  /** Timeout of one fetch (connect to last byte). Default 5000. */
  readonly timeoutMs?: number;
  /** How long keys are still used after the issuer stopped answering. Default 86400 (1 day). */
  readonly maxStaleSeconds?: number;
}

/** The per-worker cache of verified tokens (and, briefly, of rejected ones). */
export interface TokenCacheConfig {
  /** Entries per worker; 0 disables the cache. Default 10000. */
  readonly maxEntries?: number;
  /** Longest a verdict is reused, whatever the token's `exp`. Default 300. */
  readonly maxTtlSeconds?: number;
  /** How long a rejected token is remembered (blunts floods of one bad token); 0 = never. Default 10. */
  readonly negativeTtlSeconds?: number;
}

/** JWT validation settings of an auth policy (SEC-02). */
export interface JwtPolicyConfig {
  /** Accepted `iss` value(s). */
  readonly issuer: string | readonly string[];
  /** Accepted `aud` values: the token must name at least one. */
  readonly audiences: readonly string[];
  /** The algorithm allow-list. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** A JWK set URL (http or https). Exactly one of `jwksUri` and `keys`. */
  readonly jwksUri?: string;
  readonly keys?: readonly JwtKeyConfig[];
  /** Leeway for exp, nbf and iat. Default 30. */
  readonly clockToleranceSeconds?: number;
  /** Claim paths (dotted) that must be present. */
  readonly requiredClaims?: readonly string[];
  /** Every listed scope must be in `scope` (space-separated) or `scp` (array); 403 otherwise. */
  readonly requiredScopes?: readonly string[];
  /** Every listed role must be in the roles claim; 403 otherwise. */
  readonly requiredRoles?: readonly string[];
  /** Dotted path of the roles claim. Default `roles`. */
  readonly rolesClaim?: string;
  /** Claim path (dotted for nested claims) to upstream header name. */
  readonly claimsToHeaders?: Readonly<Record<string, string>>;
  /** Send the client's Authorization header upstream. Default false. */
  readonly forwardAuthorization?: boolean;
  /** The realm in WWW-Authenticate challenges. Default the policy id. */
  readonly realm?: string;
  /** Longer bearer tokens are rejected unparsed. Default 8192. */
  readonly maxTokenBytes?: number;
  readonly jwksRefresh?: JwksRefreshConfig;
  readonly tokenCache?: TokenCacheConfig;
}

/**
 * Who may call the management API with a JWT (as well as with an admin key): tokens accepted
 * by `authPolicy` that carry `adminRole` may read and write; tokens with `readOnlyRole` only
 * read. Roles are read from the policy's roles claim (`rolesClaim`, default `roles`).
 */
export interface ManagementAuthConfig {
  readonly id: string;
  readonly authPolicy: string;
  readonly adminRole: string;
  readonly readOnlyRole?: string;
}

export interface GatewayConfig {
  readonly routes: readonly RouteConfig[];
  readonly clusters: readonly ClusterConfig[];
  readonly authPolicies?: readonly AuthPolicyConfig[];
  readonly managementAuth?: readonly ManagementAuthConfig[];
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
  /**
   * Auth policies, replaced whole. Optional so that changes written before auth policies
   * existed stay valid (absent = none); `diffConfigs` always sets both.
   */
  readonly upsertAuthPolicies?: readonly AuthPolicyConfig[];
  readonly deleteAuthPolicies?: readonly string[];
  /** Admin JWT sources of the management API; optional like the auth policies. */
  readonly upsertManagementAuth?: readonly ManagementAuthConfig[];
  readonly deleteManagementAuth?: readonly string[];
}
