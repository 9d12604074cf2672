import { describe, it, expect } from 'vitest';
import { validateConfig, formatErrors } from '../../src/config/validate.js';
import { LOAD_BALANCING_POLICIES } from '../../src/config/types.js';
import { errorsOf, expectError, expectValid, validInput } from './helpers.js';

describe('validateConfig: shape', () => {
  it('validate_acceptsMinimalConfig', () => {
    expectValid(validInput());
    expectValid({ routes: [], clusters: [] });
  });

  it('validate_rejectsNonObjectDocument_atRoot', () => {
    expectError(42, '$', 'must be an object');
    expectError([], '$', 'must be an object');
  });

  it('validate_reportsMissingRequiredFields_withFieldPaths', () => {
    const input = validInput();
    delete input.routes[1].cluster;
    delete input.clusters[0].destinations[0].address;
    delete input.clusters;
    expectError(input, 'clusters', 'is required');
    expectError(input, 'routes[1].cluster', 'is required');
  });

  it('validate_rejectsUnknownField_withSuggestion', () => {
    const input = validInput();
    input.routes[0].matchh = { path: '/' };
    input.clusters[0].destinations[1].wieght = 2;
    input.extra = true;
    expectError(input, 'routes[0].matchh', 'unknown field (did you mean "match"?)');
    expectError(input, 'clusters[0].destinations[1].wieght', 'did you mean "weight"?');
    expectError(input, 'extra', 'unknown field');
  });

  it('validate_quotesOddKeysInPaths', () => {
    const input = validInput();
    input.routes[0].match['x y'] = 1;
    expectError(input, 'routes[0].match["x y"]', 'unknown field');
  });

  it('validate_rejectsWrongTypes_sayingWhatWasFound', () => {
    const input = validInput();
    input.routes[0].id = 7;
    input.routes[1].match = '/x';
    expectError(input, 'routes[0].id', 'must be a string (got 7)');
    expectError(input, 'routes[1].match', 'must be an object (got "/x")');
  });

  it('validate_rejectsBadIds', () => {
    const input = validInput();
    input.routes[0].id = '-starts-with-dash';
    input.clusters[0].id = 'a'.repeat(129);
    input.clusters[0].destinations[0].id = 'has space';
    input.routes[1].authPolicy = 'no/slash';
    for (const path of ['routes[0].id', 'clusters[0].id', 'clusters[0].destinations[0].id', 'routes[1].authPolicy']) {
      expectError(input, path, 'must be 1 to 128 letters, digits');
    }
  });

  it('validate_acceptsIdsAtTheLimits', () => {
    const input = validInput();
    input.routes[0].id = `A${'b._-'.repeat(31)}xyz`;
    expect(input.routes[0].id).toHaveLength(128);
    expectValid(input);
  });

  it('validate_listsValidPolicies_forUnknownLoadBalancingPolicy', () => {
    const input = validInput();
    input.clusters[0].loadBalancing = 'roundrobin';
    expectError(input, 'clusters[0].loadBalancing', `must be one of: ${LOAD_BALANCING_POLICIES.join(', ')} (got "roundrobin")`);
  });

  it('validate_rejectsBadEnums_forUpstreamHostHealthWhenAllDown', () => {
    const input = validInput();
    input.routes[0].upstreamHost = 'upstream';
    input.clusters[0].destinations[0].health = 'sick';
    input.clusters[0].whenAllDown = 'open';
    expectError(input, 'routes[0].upstreamHost', 'must be one of: original, destination');
    expectError(input, 'clusters[0].destinations[0].health', 'must be one of: up, down');
    expectError(input, 'clusters[0].whenAllDown', 'must be one of: fail-open, fail-closed');
  });
});

describe('validateConfig: numbers', () => {
  const cases: Array<[string, (input: any, v: unknown) => void, unknown[], unknown[], string]> = [
    ['routes[0].timeoutMs', (i, v) => (i.routes[0].timeoutMs = v), [1, 3_600_000], [0, 3_600_001, 1.5, '10'], '1 to 3600000'],
    ['routes[0].maxRequestBodyBytes', (i, v) => (i.routes[0].maxRequestBodyBytes = v), [0, 2 ** 40], [-1, 2 ** 40 + 1, 0.5], '0 to 1099511627776'],
    ['routes[0].order', (i, v) => (i.routes[0].order = v), [-5, 0, 2 ** 31 - 1], [1.5, 2 ** 31], 'integer'],
    ['clusters[0].destinations[0].weight', (i, v) => (i.clusters[0].destinations[0].weight = v), [1, 10_000], [0, 10_001, 2.5], '1 to 10000'],
    ['clusters[0].retry.attempts', (i, v) => (i.clusters[0].retry = { attempts: v }), [1, 10], [0, 11, 1.5], '1 to 10'],
  ];
  for (const [path, set, good, bad, fragment] of cases) {
    it(`validate_enforcesRange_for_${path}`, () => {
      for (const value of good) {
        const input = validInput();
        set(input, value);
        expectValid(input);
      }
      for (const value of bad) {
        const input = validInput();
        set(input, value);
        const errors = errorsOf(input).filter((e) => e.path === path);
        expect(errors, `value ${String(value)}`).toHaveLength(1);
        if (typeof value === 'number' && Number.isInteger(value)) expect(errors[0].message).toContain(fragment);
        else expect(errors[0].message).toMatch(/must be an integer/);
      }
    });
  }

  it('validate_rejectsNonFiniteNumbers', () => {
    const input = validInput();
    input.routes[0].timeoutMs = Number.POSITIVE_INFINITY;
    input.routes[1].order = Number.NaN;
    expectError(input, 'routes[0].timeoutMs', 'must be an integer');
    expectError(input, 'routes[1].order', 'must be an integer');
  });
});

describe('validateConfig: cross references and uniqueness', () => {
  it('validate_rejectsDuplicateRouteIds_namingTheFirst', () => {
    const input = validInput();
    input.routes[1].id = 'users';
    expectError(input, 'routes[1].id', 'duplicate route id "users" (first used by routes[0])');
  });

  it('validate_rejectsDuplicateClusterIds', () => {
    const input = validInput();
    input.clusters.push({ id: 'users', destinations: [] });
    expectError(input, 'clusters[1].id', 'duplicate cluster id "users" (first used by clusters[0])');
  });

  it('validate_rejectsDuplicateDestinationIds_withinOneClusterOnly', () => {
    const input = validInput();
    input.clusters[0].destinations[1].id = 'u1';
    input.clusters.push({ id: 'other', destinations: [{ id: 'u1', address: 'http://o:1' }] });
    const errors = errorsOf(input);
    expect(errors).toEqual([
      { path: 'clusters[0].destinations[1].id', message: 'duplicate destination id "u1" (first used by destinations[0])' },
    ]);
  });

  it('validate_rejectsUnknownClusterReference_listingKnownClusters', () => {
    const input = validInput();
    input.routes[1].cluster = 'orders';
    expectError(input, 'routes[1].cluster', 'route "fallback" refers to unknown cluster "orders" (known clusters: users)');
  });

  it('validate_allowsClusterWithoutDestinations', () => {
    const input = validInput();
    input.clusters.push({ id: 'empty', destinations: [] });
    expectValid(input);
  });
});

describe('validateConfig: destination addresses', () => {
  const accepted = ['http://10.0.0.1:8080', 'http://svc.internal', 'http://svc.internal/', 'http://[::1]:9000', 'HTTP://Host:1'];
  for (const address of accepted) {
    it(`validate_acceptsAddress_${address}`, () => {
      const input = validInput();
      input.clusters[0].destinations[0].address = address;
      expectValid(input);
    });
  }

  const rejected: Array<[string, string]> = [
    ['https://10.0.0.1:8443', 'TLS to upstreams is not implemented'],
    ['10.0.0.1:8080', 'must be an origin like "http://host:port"'],
    ['ftp://x:21', 'scheme "ftp" is not supported'],
    ['http://x:8080/api', 'must not contain a path (got "/api")'],
    ['http://x:8080/?a=1', 'must not contain a query'],
    ['http://x:8080#top', 'must not contain a fragment'],
    ['http://user:secret@x:8080', 'must not contain credentials'],
    ['http://x:0', 'port must be from 1 to 65535'],
    ['http://x:70000', 'invalid host or port'],
    ['http://x:', 'empty port'],
    ['http://', 'must name a host'],
    [' http://x:1', 'leading or trailing spaces'],
  ];
  for (const [address, fragment] of rejected) {
    it(`validate_rejectsAddress_${address.trim()}`, () => {
      const input = validInput();
      input.clusters[0].destinations[1].address = address;
      expectError(input, 'clusters[0].destinations[1].address', fragment);
    });
  }
});

describe('validateConfig: path templates', () => {
  const accepted = ['/', '/users', '/users/', '/users/{id}', '/users/{id}/orders/{orderId}', '/{**rest}', '/a/{b}/{**c}', '/a-b_c.d~e/%20/:x@y'];
  for (const path of accepted) {
    it(`validate_acceptsPath_${path}`, () => {
      const input = validInput();
      input.routes[0].match.path = path;
      expectValid(input);
    });
  }

  const rejected: Array<[string, string]> = [
    ['users', 'must start with "/"'],
    ['', 'must start with "/"'],
    ['/a//b', 'segment 2 is empty'],
    ['//', 'segment 1 is empty'],
    ['/{**rest}/more', '{**rest} must be the last segment'],
    ['/{**rest}/', '{**rest} must be the last segment'],
    ['/{1id}', 'parameter name "1id" is invalid'],
    ['/{}', 'parameter name "" is invalid'],
    ['/{id?}', 'parameter name "id?" is invalid'],
    ['/{*rest}', 'a catch-all is written "{**name}"'],
    ['/{id}/x/{id}', 'duplicate parameter name "id"'],
    ['/files/{name}.json', 'a parameter must be a whole segment'],
    ['/a/./b', 'segment 2 is a dot segment (".")'],
    ['/a/..', 'segment 2 is a dot segment ("..")'],
    ['/a b', 'characters not allowed in a URL path'],
    ['/a?b=1', 'characters not allowed in a URL path'],
    ['/a#b', 'characters not allowed in a URL path'],
    ['/100%', 'characters not allowed in a URL path'],
  ];
  for (const [path, fragment] of rejected) {
    it(`validate_rejectsPath_${JSON.stringify(path)}`, () => {
      const input = validInput();
      input.routes[1].match.path = path;
      expectError(input, 'routes[1].match.path', fragment);
    });
  }

  it('validate_reportsEveryProblemOfOneTemplate', () => {
    const input = validInput();
    input.routes[0].match.path = '/{**a}//{1}';
    const messages = errorsOf(input).filter((e) => e.path === 'routes[0].match.path').map((e) => e.message);
    expect(messages).toHaveLength(3);
  });
});

describe('validateConfig: hosts, methods, headers', () => {
  it('validate_acceptsHostPatterns', () => {
    const input = validInput();
    input.routes[0].match.hosts = ['api.example.com', '*.example.com', 'localhost', '10.0.0.1', '[::1]', 'svc_internal'];
    expectValid(input);
  });

  const rejectedHosts: Array<[string, string]> = [
    ['a.*.example.com', 'only allowed as the whole first label'],
    ['*example.com', 'only allowed as the whole first label'],
    ['*', 'needs a suffix'],
    ['api.example.com:8080', 'must not include a port'],
    ['api..example.com', 'empty label'],
    ['example.com.', 'must not end with "."'],
    ['-bad.example.com', 'label "-bad" is not valid'],
    ['[zz]', 'not a valid IPv6 literal'],
    ['http://x', 'must be a bare host name, not a URL'],
    ['x.com/path', 'must be a bare host name, not a URL'],
  ];
  for (const [host, fragment] of rejectedHosts) {
    it(`validate_rejectsHost_${host}`, () => {
      const input = validInput();
      input.routes[0].match.hosts = ['ok.example.com', host];
      expectError(input, 'routes[0].match.hosts[1]', fragment);
    });
  }

  it('validate_rejectsDuplicateHosts_afterLowerCasing', () => {
    const input = validInput();
    input.routes[0].match.hosts = ['API.example.com', 'api.example.com'];
    expectError(input, 'routes[0].match.hosts[1]', 'duplicate host "api.example.com"');
  });

  it('validate_rejectsEmptyLists_sayingToOmitThem', () => {
    const input = validInput();
    input.routes[0].match.hosts = [];
    input.routes[0].match.methods = [];
    expectError(input, 'routes[0].match.hosts', 'must not be empty (omit the field instead)');
    expectError(input, 'routes[0].match.methods', 'must not be empty');
  });

  it('validate_rejectsUnknownMethods_listingKnownOnes', () => {
    const input = validInput();
    input.routes[0].match.methods = ['get', 'FETCH'];
    input.clusters[0].retry = { methods: ['GET', 'PURGE'] };
    expectError(input, 'routes[0].match.methods[1]', 'unknown method "FETCH" (known: GET, HEAD, POST');
    expectError(input, 'clusters[0].retry.methods[1]', 'unknown method "PURGE"');
  });

  it('validate_rejectsDuplicateMethods_afterUpperCasing', () => {
    const input = validInput();
    input.routes[0].match.methods = ['GET', 'get'];
    expectError(input, 'routes[0].match.methods[1]', 'duplicate method GET');
  });

  it('validate_checksHeaderMatchNames', () => {
    const input = validInput();
    input.routes[0].match.headers = [{ name: 'X-Canary', values: ['1'] }, { name: 'bad header' }, { name: 'X-Empty', values: [] }];
    expectError(input, 'routes[0].match.headers[1].name', 'must be a valid HTTP header name');
    expectError(input, 'routes[0].match.headers[2].values', 'must not be empty');
  });
});

describe('validateConfig: transforms', () => {
  function withTransforms(...transforms: unknown[]): any {
    const input = validInput();
    input.routes[0].transforms = transforms;
    return input;
  }

  it('validate_acceptsEveryTransformKind', () => {
    expectValid(
      withTransforms(
        { pathRemovePrefix: '/users' },
        { pathPrefix: '/v2' },
        { pathSet: '/fixed' },
        { requestHeader: 'X-A', set: '1' },
        { requestHeader: 'X-B', append: '2' },
        { requestHeaderRemove: 'Cookie' },
        { responseHeader: 'Cache-Control', set: 'no-store' },
        { responseHeader: 'Vary', append: 'Accept' },
        { responseHeaderRemove: 'Server' },
        { requestHeader: 'X-Empty', set: '' },
      ),
    );
  });

  it('validate_rejectsTransformWithNoKind_listingKinds', () => {
    expectError(withTransforms({}), 'routes[0].transforms[0]', 'must have one of: pathRemovePrefix, pathPrefix, pathSet');
  });

  it('validate_rejectsPathTransformsThatWouldBreakTheRequestLine', () => {
    for (const bad of ['/a b', '/a?x=1', '/a#b', '/a\\b', '/caf\u00e9', '/a\u0001b', '/a\u007fb']) {
      expectError(withTransforms({ pathPrefix: bad }), 'routes[0].transforms[0].pathPrefix', 'only visible ASCII');
    }
    expectValid(withTransforms({ pathPrefix: '/v2/caf%C3%A9' }, { pathSet: "/a-b_c.d~!$&'()*+,;=:@" }));
  });

  it('validate_rejectsTransformWithSeveralKinds', () => {
    expectError(withTransforms({ pathPrefix: '/a', pathSet: '/b' }), 'routes[0].transforms[0]', 'several transform kinds (pathPrefix, pathSet)');
  });

  it('validate_rejectsSetAndAppendTogether_andNeither', () => {
    const input = withTransforms({ requestHeader: 'X-A', set: '1', append: '2' }, { responseHeader: 'X-B' });
    expectError(input, 'routes[0].transforms[0]', '"set" and "append" are mutually exclusive');
    expectError(input, 'routes[0].transforms[1]', 'a responseHeader transform needs "set" or "append"');
  });

  it('validate_rejectsUnknownFieldsInTransforms', () => {
    const input = withTransforms({ pathPrefix: '/a', set: 'x' }, { requestHeaderRemove: 'X-A', value: 1 });
    expectError(input, 'routes[0].transforms[0].set', 'unknown field for a pathPrefix transform');
    expectError(input, 'routes[0].transforms[1].value', 'unknown field for a requestHeaderRemove transform');
  });

  it('validate_rejectsPathValuesNotStartingWithSlash', () => {
    const input = withTransforms({ pathPrefix: 'v2' }, { pathRemovePrefix: 'users' }, { pathSet: 'x' }, { pathSet: '/a?b' });
    expectError(input, 'routes[0].transforms[0].pathPrefix', 'must start with "/"');
    expectError(input, 'routes[0].transforms[1].pathRemovePrefix', 'must start with "/"');
    expectError(input, 'routes[0].transforms[2].pathSet', 'must start with "/"');
    expectError(input, 'routes[0].transforms[3].pathSet', 'only visible ASCII other than "?"');
  });

  it('validate_rejectsInvalidHeaderNamesAndValues', () => {
    const input = withTransforms({ requestHeader: 'X A', set: '1' }, { responseHeader: 'X-B', set: 'a\r\nInjected: 1' }, { requestHeaderRemove: 5 });
    expectError(input, 'routes[0].transforms[0].requestHeader', '"X A" is not a valid HTTP header name');
    expectError(input, 'routes[0].transforms[1].set', 'must not contain CR, LF or NUL');
    expectError(input, 'routes[0].transforms[2].requestHeaderRemove', 'must be a string (got 5)');
  });

  for (const header of ['Content-Length', 'transfer-encoding', 'Connection', 'Keep-Alive', 'TE', 'Trailer', 'Upgrade', 'Proxy-Connection', 'Proxy-Authorization']) {
    it(`validate_refusesTransformOfProtectedHeader_${header}`, () => {
      const input = withTransforms({ requestHeader: header, set: '1' }, { responseHeaderRemove: header });
      expectError(input, 'routes[0].transforms[0].requestHeader', 'hop-by-hop or framing header');
      expectError(input, 'routes[0].transforms[1].responseHeaderRemove', 'hop-by-hop or framing header');
    });
  }

  it('validate_refusesHostTransform_pointingToUpstreamHost', () => {
    expectError(withTransforms({ requestHeader: 'Host', set: 'x' }), 'routes[0].transforms[0].requestHeader', 'use the route\'s upstreamHost');
  });

  it('validate_rejectsNonObjectTransform', () => {
    expectError(withTransforms('pathPrefix=/a'), 'routes[0].transforms[0]', 'must be an object');
  });
});

describe('validateConfig: rate limits', () => {
  const limited = (rateLimit: unknown) => {
    const input = validInput();
    input.routes[0].rateLimit = rateLimit;
    return input;
  };

  it('validate_acceptsRateLimits_withEitherKindOfKey', () => {
    expectValid(limited({ requestsPerSecond: 10 }));
    expectValid(limited({ requestsPerSecond: 0.5, burst: 20, key: 'client-address' }));
    expectValid(limited({ requestsPerSecond: 1_000_000, burst: 1_000_000, key: { header: 'X-Api-Key' } }));
  });

  it('validate_rejectsRatesAndBurstsOutOfRange_namingTheField', () => {
    expectError(limited({ requestsPerSecond: 0 }), 'routes[0].rateLimit.requestsPerSecond', 'must be a number from 0.001 to 1000000 (got 0)');
    expectError(limited({ requestsPerSecond: 5, burst: 0 }), 'routes[0].rateLimit.burst', 'must be an integer from 1 to 1000000 (got 0)');
    expectError(limited({ requestsPerSecond: 5, burst: 2.5 }), 'routes[0].rateLimit.burst', 'must be an integer');
    expectError(limited({ burst: 5 }), 'routes[0].rateLimit.requestsPerSecond', 'is required');
    expectError(limited({ requestsPerSecond: 5, bursts: 5 }), 'routes[0].rateLimit.bursts', 'did you mean "burst"?');
  });

  it('validate_rejectsABucketThatTakesMoreThanADayToRefill', () => {
    expectError(limited({ requestsPerSecond: 0.001, burst: 100 }), 'routes[0].rateLimit.burst', 'a full bucket would take 100000 s to refill (burst / requestsPerSecond); at most 86400');
    expectValid(limited({ requestsPerSecond: 0.001, burst: 86 }));
  });

  it('validate_rejectsBadKeys_withOneClearErrorEach', () => {
    expectError(limited({ requestsPerSecond: 5, key: 'ip' }), 'routes[0].rateLimit.key', 'must be "client-address" or { header: <name> } (got "ip")');
    expectError(limited({ requestsPerSecond: 5, key: 7 }), 'routes[0].rateLimit.key', 'must be "client-address" or { header: <name> } (got 7)');
    expectError(limited({ requestsPerSecond: 5, key: { header: 'bad header' } }), 'routes[0].rateLimit.key.header', 'must be a valid HTTP header name (got "bad header")');
    expectError(limited({ requestsPerSecond: 5, key: {} }), 'routes[0].rateLimit.key.header', 'is required');
    expectError(limited({ requestsPerSecond: 5, key: { header: 'x-a', query: 'k' } }), 'routes[0].rateLimit.key.query', 'unknown field (allowed: header)');
  });
});

describe('validateConfig: collecting and formatting', () => {
  it('validate_reportsEveryError_withFieldPaths', () => {
    const input = {
      routes: [
        { id: 'a', cluster: 'missing', matchh: {}, timeoutMs: 0 },
        { id: 'a', cluster: 'c', match: { path: 'x', methods: ['FETCH'], hosts: ['a.*.b'] }, transforms: [{ pathSet: 'y' }] },
      ],
      clusters: [
        { id: 'c', loadBalancing: 'fastest', destinations: [{ id: 'd', address: 'https://x' }, { id: 'd', address: 'http://x', weight: 0 }] },
      ],
    };
    const errors = errorsOf(input);
    expect(errors.map((e) => e.path)).toEqual([
      'clusters[0].destinations[0].address',
      'clusters[0].destinations[1].id',
      'clusters[0].destinations[1].weight',
      'clusters[0].loadBalancing',
      'routes[0].cluster',
      'routes[0].match',
      'routes[0].matchh',
      'routes[0].timeoutMs',
      'routes[1].id',
      'routes[1].match.hosts[0]',
      'routes[1].match.methods[0]',
      'routes[1].match.path',
      'routes[1].transforms[0].pathSet',
    ]);
  });

  it('validate_sortsArrayIndicesNumerically', () => {
    const input = validInput();
    for (let i = 0; i < 12; i++) input.routes.push({ id: `r${i}`, cluster: 'users', match: { path: `/r${i}` } });
    input.routes[2].timeoutMs = 0;
    input.routes[11].timeoutMs = 0;
    expect(errorsOf(input).map((e) => e.path)).toEqual(['routes[2].timeoutMs', 'routes[11].timeoutMs']);
  });

  it('formatErrors_writesOneLinePerError', () => {
    const text = formatErrors([
      { path: 'routes[0].match.path', message: 'must start with "/"' },
      { path: '$', message: 'line 1, column 2: oops' },
    ]);
    expect(text).toBe('routes[0].match.path: must start with "/"\n$: line 1, column 2: oops');
  });

  it('validate_returnsFrozenErrors', () => {
    const result = validateConfig(1);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(Object.isFrozen(result.errors)).toBe(true);
  });
});

describe('validateConfig: normalisation', () => {
  it('validate_lowerCasesHosts_andUpperCasesMethods', () => {
    const input = validInput();
    input.routes[0].match.hosts = ['API.Example.COM', '*.Example.com'];
    input.routes[0].match.methods = ['get', 'Post'];
    input.clusters[0].retry = { methods: ['put'] };
    const result = validateConfig(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.routes[0].match.hosts).toEqual(['api.example.com', '*.example.com']);
    expect(result.config.routes[0].match.methods).toEqual(['GET', 'POST']);
    expect(result.config.clusters[0].retry?.methods).toEqual(['PUT']);
  });

  it('validate_keepsUsersShape_withoutFillingDefaults', () => {
    const input = validInput();
    const result = validateConfig(input);
    expect(result.ok && result.config).toEqual(input);
    if (!result.ok) return;
    expect(result.config.routes[1]).not.toHaveProperty('timeoutMs');
    expect(result.config.clusters[0].destinations[0]).not.toHaveProperty('weight');
  });

  it('validate_returnsDeepFrozenCopy_leavingInputAlone', () => {
    const input = validInput();
    input.routes[0].match.hosts = ['A.COM'];
    const result = validateConfig(input);
    if (!result.ok) throw new Error('expected valid');
    const config = result.config;
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.routes)).toBe(true);
    expect(Object.isFrozen(config.routes[0].match.hosts)).toBe(true);
    expect(Object.isFrozen(config.clusters[0].destinations[1])).toBe(true);
    expect(Object.isFrozen(input)).toBe(false);
    expect(input.routes[0].match.hosts).toEqual(['A.COM']);
  });

  it('validate_dropsSchemaKey_usedByEditors', () => {
    const input = { $schema: '../schema/gateway.schema.json', ...validInput() };
    const result = validateConfig(input);
    expect(result.ok && Object.keys(result.config)).toEqual(['routes', 'clusters']);
  });
});
