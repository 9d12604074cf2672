/**
 * The shape of a `GatewayConfig` (see ./types.ts) as one JSON Schema, written with TypeBox.
 *
 * This schema is used twice:
 * - compiled once by ajv in ./shape.ts to check the structure of every configuration, and
 * - rendered to `schema/gateway.schema.json` (by `scripts/gen-schema.mjs`) so that editors
 *   complete and check configuration files. A test fails when that file is out of date.
 *
 * It deliberately checks only structure, types, ranges and simple patterns. Rules that need
 * more than one field, or messages that a regular expression cannot give (path templates,
 * host patterns, destination addresses, transform combinations, cross references), live in
 * ./validate.ts. Every object is closed: an unknown field is an error, because a misspelt
 * optional field would otherwise be silently ignored.
 */
import { Type, type SchemaOptions, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { HTTP_METHODS, JWT_ALGORITHMS, LOAD_BALANCING_POLICIES } from './types.js';

/** Route, cluster, destination and auth policy ids: safe in URLs, metric labels and Redis keys. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

/** An HTTP field name: RFC 7230 `token` (`tchar` = ALPHA / DIGIT / ``!#$%&'*+-.^_`|~``). */
export const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** Numeric bounds, shared with the documentation and the tests. */
export const LIMITS = {
  timeoutMs: { minimum: 1, maximum: 3_600_000 },
  maxRequestBodyBytes: { minimum: 0, maximum: 2 ** 40 },
  /** `order` is stored in an Int32 column of the shared route table. */
  order: { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 },
  weight: { minimum: 1, maximum: 10_000 },
  retryAttempts: { minimum: 1, maximum: 10 },
  outlierConsecutiveFailures: { minimum: 0, maximum: 1_000 },
  outlierEjectionSeconds: { minimum: 1, maximum: 3_600 },
  outlierMaxEjectedPercent: { minimum: 0, maximum: 100 },
  maxConcurrentPerDestination: { minimum: 1, maximum: 1_000_000 },
  maxQueuedPerWorker: { minimum: 0, maximum: 100_000 },
  queueTimeoutMs: { minimum: 1, maximum: 600_000 },
  retryAfterSeconds: { minimum: 0, maximum: 3_600 },
  clockToleranceSeconds: { minimum: 0, maximum: 600 },
  maxTokenBytes: { minimum: 256, maximum: 65_536 },
  jwksIntervalSeconds: { minimum: 1, maximum: 86_400 },
  jwksCooldownSeconds: { minimum: 0, maximum: 3_600 },
  jwksTimeoutMs: { minimum: 100, maximum: 60_000 },
  jwksMaxStaleSeconds: { minimum: 0, maximum: 604_800 },
  tokenCacheEntries: { minimum: 0, maximum: 1_000_000 },
  tokenCacheTtlSeconds: { minimum: 0, maximum: 86_400 },
  rateLimitRequestsPerSecond: { minimum: 0.001, maximum: 1_000_000 },
  rateLimitBurst: { minimum: 1, maximum: 1_000_000 },
  /** burst / requestsPerSecond: the time a full bucket takes to refill (checked in ./validate.ts). */
  rateLimitRefillSeconds: { minimum: 0, maximum: 86_400 },
} as const;

/** The draft whose keywords this schema uses; ajv's default class speaks the same draft. */
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

const closed = { additionalProperties: false } as const;

/**
 * A string restricted to a list of values. A plain `enum` (rather than TypeBox's union of
 * literals, an `anyOf`) gives one readable error that can list the allowed values.
 */
function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

function Id(description: string): TSchema {
  return Type.String({
    pattern: ID_PATTERN,
    // Not a JSON Schema keyword: VS Code's JSON and YAML language services show it, and
    // ./shape.ts uses it for ajv's `pattern` errors.
    patternErrorMessage:
      'must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit',
    description,
  });
}

const HeaderName = (description: string): TSchema =>
  Type.String({
    pattern: HEADER_NAME_PATTERN,
    patternErrorMessage: 'must be a valid HTTP header name (letters, digits and !#$%&\'*+-.^_`|~)',
    description,
  });

const MethodName = Type.String({
  description: `An HTTP method, case-insensitive: ${HTTP_METHODS.join(', ')}.`,
  examples: ['GET', 'POST'],
});

const Integer = (range: { readonly minimum: number; readonly maximum: number }, description: string): TSchema =>
  Type.Integer({ minimum: range.minimum, maximum: range.maximum, description });

export const HeaderMatchSchema = Type.Object(
  {
    name: HeaderName('The header that must be present.'),
    values: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        description: 'When given, the header must equal one of these values (case-insensitively). Omit to require presence only.',
      }),
    ),
  },
  closed,
);

export const RouteMatchSchema = Type.Object(
  {
    path: Type.String({
      description:
        'Path template: starts with "/"; `{name}` matches one segment, `{**name}` (last segment only) matches the rest.',
      examples: ['/', '/users/{id}', '/static/{**rest}'],
    }),
    methods: Type.Optional(
      Type.Array(MethodName, { minItems: 1, description: 'Methods this route accepts; omit for any method.' }),
    ),
    hosts: Type.Optional(
      Type.Array(Type.String({ examples: ['api.example.com', '*.example.com'] }), {
        minItems: 1,
        description: 'Host names (no port) or `*.suffix` wildcards; omit for any host.',
      }),
    ),
    headers: Type.Optional(
      Type.Array(HeaderMatchSchema, { minItems: 1, description: 'Headers that must all be present (and match).' }),
    ),
  },
  closed,
);

const PathValue = (description: string): TSchema => Type.String({ pattern: '^/', patternErrorMessage: 'must start with "/"', description });
const HeaderValue = Type.String({ description: 'A header value (no CR, LF or NUL).' });

/**
 * The transform union, one closed object per kind. Editors use it as is; ./validate.ts does
 * not report ajv's errors for it (an `anyOf` of nine objects yields dozens of unhelpful ones)
 * and checks transforms itself, in ./transforms-check.ts.
 */
export const TransformSchema = Type.Union([
  Type.Object({ pathRemovePrefix: PathValue('Remove this prefix from the request path, when present.') }, closed),
  Type.Object({ pathPrefix: PathValue('Prepend this prefix to the request path.') }, closed),
  Type.Object({ pathSet: PathValue('Replace the request path with this value.') }, closed),
  Type.Object({ requestHeader: HeaderName('Request header to set.'), set: HeaderValue }, closed),
  Type.Object({ requestHeader: HeaderName('Request header to append to.'), append: HeaderValue }, closed),
  Type.Object({ requestHeaderRemove: HeaderName('Request header to remove.') }, closed),
  Type.Object({ responseHeader: HeaderName('Response header to set.'), set: HeaderValue }, closed),
  Type.Object({ responseHeader: HeaderName('Response header to append to.'), append: HeaderValue }, closed),
  Type.Object({ responseHeaderRemove: HeaderName('Response header to remove.') }, closed),
]);

/**
 * `key` is `"client-address"` or `{ header }`. Like transforms, ajv's errors for this union
 * are not reported (an `anyOf` says little); ./validate.ts checks it and says what is allowed.
 */
export const RateLimitKeySchema = Type.Union([
  StringEnum(['client-address'] as const, { description: 'One bucket per client address (the connection\'s remote address).' }),
  Type.Object({ header: HeaderName('One bucket per value of this request header; a request without it is keyed by its client address.') }, closed),
], { description: 'What a bucket is per. Default client-address.' });

export const RateLimitSchema = Type.Object(
  {
    requestsPerSecond: Type.Number({
      minimum: LIMITS.rateLimitRequestsPerSecond.minimum,
      maximum: LIMITS.rateLimitRequestsPerSecond.maximum,
      description: 'Tokens added to each bucket per second (fractions allowed: 0.5 = one every 2 s).',
    }),
    burst: Type.Optional(Integer(LIMITS.rateLimitBurst, 'Bucket size: requests admitted at once after a quiet spell. Default one second\'s worth (requestsPerSecond rounded up), at least 1.')),
    key: Type.Optional(RateLimitKeySchema),
  },
  closed,
);

export const RouteSchema = Type.Object(
  {
    id: Id('Unique route id.'),
    cluster: Id('Id of the cluster that serves this route.'),
    order: Type.Optional(
      Integer(LIMITS.order, 'Tie-breaker after host, path and constraint specificity: lower wins. Default 0.'),
    ),
    match: RouteMatchSchema,
    transforms: Type.Optional(Type.Array(TransformSchema, { description: 'Applied in the order listed.' })),
    timeoutMs: Type.Optional(
      Integer(LIMITS.timeoutMs, 'Upstream response-head timeout in milliseconds (504 when exceeded). Default 30000.'),
    ),
    maxRequestBodyBytes: Type.Optional(
      Integer(LIMITS.maxRequestBodyBytes, 'Request body limit in bytes (413 when exceeded). Default 10485760 (10 MiB).'),
    ),
    upstreamHost: Type.Optional(
      StringEnum(['original', 'destination'] as const, {
        description: "Host header sent upstream: the client's (`original`, default) or the destination's authority.",
      }),
    ),
    authPolicy: Type.Optional(Id('Name of an auth policy; omit for an open route.')),
    rateLimit: Type.Optional(RateLimitSchema),
  },
  closed,
);

export const DestinationSchema = Type.Object(
  {
    id: Id('Destination id, unique within its cluster.'),
    address: Type.String({
      description: '`http://host:port` or `http://host` (port 80): an origin without path, query or credentials.',
      examples: ['http://10.0.0.12:8080'],
    }),
    weight: Type.Optional(Integer(LIMITS.weight, 'Relative weight for weighted-round-robin. Default 1.')),
    health: Type.Optional(
      StringEnum(['up', 'down'] as const, {
        description: 'Initial health; the console may change it at run time. Default up.',
      }),
    ),
  },
  closed,
);

export const RetrySchema = Type.Object(
  {
    attempts: Type.Optional(
      Integer(LIMITS.retryAttempts, 'Total attempts including the first. Default 2; 1 disables retries.'),
    ),
    methods: Type.Optional(
      Type.Array(MethodName, {
        description: 'Methods that may be retried. Default: GET, HEAD, OPTIONS, PUT, DELETE, TRACE.',
      }),
    ),
  },
  closed,
);

export const OutlierDetectionSchema = Type.Object(
  {
    consecutiveFailures: Type.Optional(
      Integer(LIMITS.outlierConsecutiveFailures, 'Consecutive upstream failures (connect errors, resets, timeouts, invalid responses) that eject a destination. Default 5; 0 turns passive ejection off.'),
    ),
    ejectionSeconds: Type.Optional(Integer(LIMITS.outlierEjectionSeconds, 'How long an ejected destination is skipped. Default 30.')),
    maxEjectedPercent: Type.Optional(
      Integer(LIMITS.outlierMaxEjectedPercent, 'At most this share of the cluster\'s destinations is ejected at once (at least one may always be). Default 50.'),
    ),
    serverErrors: Type.Optional(Type.Boolean({
      description: 'Also count the upstream\'s own 5xx answers (500-599) as failures, like Envoy\'s consecutive_5xx. Default false: only exchanges that failed (connect errors, resets, timeouts, invalid responses) count.',
    })),
  },
  closed,
);

export const ClusterLimitsSchema = Type.Object(
  {
    maxConcurrentPerDestination: Integer(LIMITS.maxConcurrentPerDestination,
      'Requests in flight to one destination at once, counted across every worker of the instance. A request that finds every usable destination at this limit waits in its worker\'s queue.'),
    maxQueuedPerWorker: Type.Optional(
      Integer(LIMITS.maxQueuedPerWorker, 'Requests that may wait for a free slot, per worker thread, first in first out. Beyond it: 503 UPSTREAM_OVERLOADED at once. Default 100; 0 = no queue.'),
    ),
    queueTimeoutMs: Type.Optional(
      Integer(LIMITS.queueTimeoutMs, 'Longest wait in the queue before 503 UPSTREAM_OVERLOADED. Default 1000.'),
    ),
    retryAfterSeconds: Type.Optional(
      Integer(LIMITS.retryAfterSeconds, 'The Retry-After header of an UPSTREAM_OVERLOADED answer. Default 1.'),
    ),
  },
  closed,
);

export const ClusterSchema = Type.Object(
  {
    id: Id('Unique cluster id.'),
    loadBalancing: Type.Optional(
      StringEnum(LOAD_BALANCING_POLICIES, { description: 'Load-balancing policy. Default round-robin.' }),
    ),
    destinations: Type.Array(DestinationSchema, { description: 'The upstream addresses of this cluster.' }),
    whenAllDown: Type.Optional(
      StringEnum(['fail-open', 'fail-closed'] as const, {
        description: 'When every destination is down: use them all anyway (fail-open) or answer 503 (fail-closed, default).',
      }),
    ),
    retry: Type.Optional(RetrySchema),
    outlierDetection: Type.Optional(OutlierDetectionSchema),
    limits: Type.Optional(ClusterLimitsSchema),
  },
  closed,
);

const JwtKeySchema = Type.Object(
  {
    kid: Type.Optional(Type.String({ minLength: 1, description: 'Matched against the token\'s `kid` header; a key without one matches any kid.' })),
    alg: Type.Optional(StringEnum(JWT_ALGORITHMS, { description: 'Restrict this key to one algorithm of the policy.' })),
    file: Type.Optional(Type.String({ minLength: 1, description: 'Path of a PEM public key or certificate, a JWK or a JWK set; `${NAME}` references are resolved.' })),
    env: Type.Optional(Type.String({ minLength: 1, description: 'Name of an environment variable holding a PEM, a JWK or a JWK set.' })),
    secret: Type.Optional(Type.String({ minLength: 1, description: 'An HMAC secret as a `${NAME}` environment variable reference; never the secret itself.', examples: ['${JWT_HS256_SECRET}'] })),
    encoding: Type.Optional(StringEnum(['utf8', 'base64', 'base64url'] as const, { description: 'Encoding of a `secret`. Default utf8.' })),
  },
  closed,
);

const JwksRefreshSchema = Type.Object(
  {
    intervalSeconds: Type.Optional(Integer(LIMITS.jwksIntervalSeconds, 'Fixed refresh interval; omit to follow Cache-Control max-age within the bounds (300 s without one).')),
    minIntervalSeconds: Type.Optional(Integer(LIMITS.jwksIntervalSeconds, 'Lower bound of a max-age driven interval. Default 60.')),
    maxIntervalSeconds: Type.Optional(Integer(LIMITS.jwksIntervalSeconds, 'Upper bound of a max-age driven interval. Default 3600.')),
    unknownKidCooldownSeconds: Type.Optional(Integer(LIMITS.jwksCooldownSeconds, 'Least time between fetches caused by an unknown kid. Default 30.')),
    timeoutMs: Type.Optional(Integer(LIMITS.jwksTimeoutMs, 'Timeout of one JWKS fetch. Default 5000.')),
    maxStaleSeconds: Type.Optional(Integer(LIMITS.jwksMaxStaleSeconds, 'How long keys stay in use after the issuer stopped answering. Default 86400.')),
  },
  closed,
);

const TokenCacheSchema = Type.Object(
  {
    maxEntries: Type.Optional(Integer(LIMITS.tokenCacheEntries, 'Verified tokens remembered per worker; 0 disables. Default 10000.')),
    maxTtlSeconds: Type.Optional(Integer(LIMITS.tokenCacheTtlSeconds, 'Longest a verdict is reused (never past the token\'s exp). Default 300.')),
    negativeTtlSeconds: Type.Optional(Integer(LIMITS.tokenCacheTtlSeconds, 'How long a rejected token is remembered; 0 = never. Default 10.')),
  },
  closed,
);

const NonEmptyStrings = (description: string): TSchema =>
  Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description });

export const JwtPolicySchema = Type.Object(
  {
    issuer: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
      description: 'Accepted `iss` value, or a list of them.',
      examples: ['https://id.example.com'],
    }),
    audiences: NonEmptyStrings('Accepted `aud` values: the token must name at least one.'),
    algorithms: Type.Array(StringEnum(JWT_ALGORITHMS), {
      minItems: 1,
      description: 'Algorithm allow-list. `none` is never accepted; HS* cannot be mixed with asymmetric algorithms.',
    }),
    jwksUri: Type.Optional(Type.String({ description: 'URL of the issuer\'s JWK set (http or https). Use either jwksUri or keys.', examples: ['https://id.example.com/.well-known/jwks.json'] })),
    keys: Type.Optional(Type.Array(JwtKeySchema, { minItems: 1, description: 'Keys from files or environment variables. Use either jwksUri or keys.' })),
    clockToleranceSeconds: Type.Optional(Integer(LIMITS.clockToleranceSeconds, 'Leeway for exp, nbf and iat, in seconds. Default 30.')),
    requiredClaims: Type.Optional(NonEmptyStrings('Claims (dotted paths) that must be present.')),
    requiredScopes: Type.Optional(NonEmptyStrings('Scopes that must all be granted (`scope` string or `scp` array); 403 otherwise.')),
    requiredRoles: Type.Optional(NonEmptyStrings('Roles that must all be granted (see rolesClaim); 403 otherwise.')),
    rolesClaim: Type.Optional(Type.String({ minLength: 1, description: 'Dotted path of the roles claim. Default roles.', examples: ['roles', 'realm_access.roles'] })),
    claimsToHeaders: Type.Optional(
      Type.Record(Type.String(), HeaderName('Upstream header that carries the claim.'), {
        description: 'Claim (dotted path for nested claims) to upstream request header; client-sent copies are always removed.',
        examples: [{ sub: 'X-User-Id', tenant: 'X-Tenant-Id', 'org.id': 'X-Org' }],
      }),
    ),
    forwardAuthorization: Type.Optional(Type.Boolean({ description: 'Send the Authorization header upstream. Default false.' })),
    realm: Type.Optional(Type.String({ minLength: 1, pattern: '^[ !#-\\[\\]-~]+$', patternErrorMessage: 'must be printable ASCII without " or \\', description: 'Realm of WWW-Authenticate challenges. Default the policy id.' })),
    maxTokenBytes: Type.Optional(Integer(LIMITS.maxTokenBytes, 'Longer bearer tokens are rejected without being parsed. Default 8192.')),
    jwksRefresh: Type.Optional(JwksRefreshSchema),
    tokenCache: Type.Optional(TokenCacheSchema),
  },
  closed,
);

export const AuthPolicySchema = Type.Object(
  {
    id: Id('Unique auth policy id, referenced by routes[].authPolicy.'),
    jwt: JwtPolicySchema,
  },
  closed,
);

export const ManagementAuthSchema = Type.Object(
  {
    id: Id('Unique id of this admin token source.'),
    authPolicy: Id('The auth policy (authPolicies[].id) that validates the admin JWT.'),
    adminRole: Type.String({ minLength: 1, maxLength: 256, description: 'Role (in the policy\'s roles claim) that may read and write through the management API.' }),
    readOnlyRole: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Role that may only read (GET endpoints and config/validate).' })),
  },
  closed,
);

export const GatewayConfigSchema = Type.Object(
  {
    // Tolerated so that JSON files can name their schema for editors; dropped by validation.
    $schema: Type.Optional(Type.String({ description: 'The JSON Schema of this file, for editors.' })),
    routes: Type.Array(RouteSchema, { description: 'Routes: match rules that send requests to a cluster.' }),
    clusters: Type.Array(ClusterSchema, { description: 'Clusters: named groups of destinations.' }),
    authPolicies: Type.Optional(Type.Array(AuthPolicySchema, { description: 'Auth policies (JWT validation) that routes name in authPolicy.' })),
    managementAuth: Type.Optional(Type.Array(ManagementAuthSchema, { description: 'Admin JWTs accepted by the management API (/api/gateway/*), besides admin keys.' })),
  },
  { ...closed, title: 'Fengling Gateway configuration' },
);

/**
 * The editor schema file's exact text: `schema/gateway.schema.json` must equal this
 * (checked by test/config/schema-file.test.ts; regenerate with `scripts/gen-schema.mjs`).
 */
export function renderEditorSchema(): string {
  const document = { $schema: JSON_SCHEMA_DIALECT, ...GatewayConfigSchema };
  return `${JSON.stringify(document, null, 2)}\n`;
}
