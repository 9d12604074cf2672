import { describe, it, expect } from 'vitest';
import type { RouteConfig, RouteMatchConfig } from '../../src/config/types.js';
import { RouteTable, RouteTemplateError } from '../../src/routing/route-table.js';

const noHeaders = (): undefined => undefined;
const headersOf = (h: Record<string, string>) => (name: string): string | undefined => h[name];

function route(id: string, match: Partial<RouteMatchConfig> & { path: string }, extra: Partial<RouteConfig> = {}): RouteConfig {
  return { id, cluster: 'c', match, ...extra };
}

function tableOf(...routes: RouteConfig[]): RouteTable<string> {
  const table = new RouteTable<string>();
  for (const r of routes) table.upsert(r, `payload:${r.id}`);
  return table;
}

function idOf(table: RouteTable<string>, path: string, opts: { method?: string; host?: string; headers?: Record<string, string> } = {}): string | null {
  const header = opts.headers === undefined ? noHeaders : headersOf(opts.headers);
  return table.match(opts.method ?? 'GET', opts.host ?? 'example.com', path, header)?.routeId ?? null;
}

describe('RouteTable templates', () => {
  it('match_returnsPayloadAndId_forLiteralTemplate', () => {
    const table = tableOf(route('users', { path: '/api/users' }));
    const m = table.match('GET', 'example.com', '/api/users', noHeaders);
    expect(m?.routeId).toBe('users');
    expect(m?.payload).toBe('payload:users');
  });

  it('match_returnsNull_whenNoRouteMatches', () => {
    const table = tableOf(route('users', { path: '/api/users' }));
    expect(idOf(table, '/api/orders')).toBeNull();
    expect(idOf(table, '/api')).toBeNull();
    expect(idOf(table, '/api/users/1')).toBeNull();
  });

  it('match_ignoresLiteralCase_likeYarp', () => {
    const table = tableOf(route('users', { path: '/Api/USERS' }));
    expect(idOf(table, '/api/users')).toBe('users');
    expect(idOf(table, '/API/Users')).toBe('users');
  });

  it('match_ignoresOneTrailingSlash_onPathAndTemplate', () => {
    const table = tableOf(route('users', { path: '/api/users' }), route('orders', { path: '/api/orders/' }));
    expect(idOf(table, '/api/users/')).toBe('users');
    expect(idOf(table, '/api/orders')).toBe('orders');
    expect(idOf(table, '/api/users//')).toBeNull();
  });

  it('match_rootTemplate_matchesOnlyRoot', () => {
    const table = tableOf(route('root', { path: '/' }));
    expect(idOf(table, '/')).toBe('root');
    expect(idOf(table, '/a')).toBeNull();
  });

  it('match_returnsNull_whenPathDoesNotStartWithSlash', () => {
    const table = tableOf(route('all', { path: '/{**rest}' }));
    expect(idOf(table, '*')).toBeNull();
    expect(idOf(table, '')).toBeNull();
  });

  it('match_paramMatchesOneNonEmptySegment', () => {
    const table = tableOf(route('user', { path: '/users/{id}' }));
    const m = table.match('GET', 'h', '/users/42', noHeaders);
    expect(m?.params).toEqual({ id: '42' });
    expect(m?.param('id')).toBe('42');
    expect(idOf(table, '/users')).toBeNull();
    expect(idOf(table, '/users//')).toBeNull();
    expect(idOf(table, '/users/42/x')).toBeNull();
  });

  it('match_keepsPercentEscapesInParams_andDoesNotSplitOnEncodedSlash', () => {
    const table = tableOf(route('file', { path: '/files/{name}' }));
    const m = table.match('GET', 'h', '/files/a%2Fb%20c', noHeaders);
    expect(m?.routeId).toBe('file');
    expect(m?.params).toEqual({ name: 'a%2Fb%20c' });
  });

  it('match_catchAllMatchesZeroOrMoreSegments_andKeepsRemainderRaw', () => {
    const table = tableOf(route('proxy', { path: '/api/{**rest}' }));
    expect(table.match('GET', 'h', '/api', noHeaders)?.catchAll).toBe('');
    expect(table.match('GET', 'h', '/api/', noHeaders)?.catchAll).toBe('');
    expect(table.match('GET', 'h', '/api/a', noHeaders)?.catchAll).toBe('a');
    expect(table.match('GET', 'h', '/api/a/b/', noHeaders)?.catchAll).toBe('a/b/');
    expect(table.match('GET', 'h', '/api/a/b', noHeaders)?.params).toEqual({ rest: 'a/b' });
    expect(idOf(table, '/apix')).toBeNull();
  });

  it('match_returnsParamsAndCatchAllTogether', () => {
    const table = tableOf(route('r', { path: '/t/{tenant}/files/{**path}' }));
    const m = table.match('GET', 'h', '/t/acme/FILES/x/y.txt', noHeaders);
    expect(m?.params).toEqual({ tenant: 'acme', path: 'x/y.txt' });
    expect(m?.catchAll).toBe('x/y.txt');
  });

  it('param_returnsUndefined_forUnknownNameIncludingObjectPrototypeKeys', () => {
    const table = tableOf(route('r', { path: '/a/{b}' }));
    const m = table.match('GET', 'h', '/a/1', noHeaders);
    expect(m?.param('toString')).toBeUndefined();
    expect(m?.param('c')).toBeUndefined();
  });

  it('catchAll_isUndefined_whenTemplateHasNone', () => {
    const table = tableOf(route('r', { path: '/a/{b}' }));
    expect(table.match('GET', 'h', '/a/1', noHeaders)?.catchAll).toBeUndefined();
  });

  it('match_decodedUnreservedLiteral_matchesNormalisedPath', () => {
    const table = tableOf(route('tilde', { path: '/%7Euser/%2fx' }));
    expect(idOf(table, '/~user/%2Fx')).toBe('tilde');
  });

  it('upsert_throws_forInvalidTemplates', () => {
    const table = new RouteTable<string>();
    for (const path of ['api', '/a//b', '/a/{**rest}/b', '/a/{x}/{x}', '/a/b{x}', '/a/{}', '/a/{*x}', '/a/./b', '/a/%zz', '/a/{__proto__}']) {
      expect(() => table.upsert(route('bad', { path }), 'p'), path).toThrow(RouteTemplateError);
    }
    expect(table.size).toBe(0);
  });

  it('upsert_keepsPreviousRoute_whenReplacementIsInvalid', () => {
    const table = tableOf(route('r', { path: '/a' }));
    expect(() => table.upsert(route('r', { path: 'no-slash' }), 'x')).toThrow();
    expect(idOf(table, '/a')).toBe('r');
    expect(table.get('r')).toBe('payload:r');
  });
});

describe('RouteTable path precedence', () => {
  it('match_prefersLiteralOverParam_whenBothMatch', () => {
    const table = tableOf(route('param', { path: '/users/{id}' }), route('literal', { path: '/users/me' }));
    expect(idOf(table, '/users/me')).toBe('literal');
    expect(idOf(table, '/users/42')).toBe('param');
  });

  it('match_prefersParamOverCatchAll_whenBothMatch', () => {
    const table = tableOf(route('catch', { path: '/users/{**rest}' }), route('param', { path: '/users/{id}' }));
    expect(idOf(table, '/users/42')).toBe('param');
    expect(idOf(table, '/users/42/x')).toBe('catch');
  });

  it('match_prefersTemplateEndingHere_overCatchAllMatchingNothing', () => {
    const table = tableOf(route('catch', { path: '/api/{**rest}' }), route('exact', { path: '/api' }));
    expect(idOf(table, '/api')).toBe('exact');
    expect(idOf(table, '/api/')).toBe('exact');
    expect(idOf(table, '/api/x')).toBe('catch');
  });

  it('match_prefersMoreSegmentsBeforeCatchAll', () => {
    const table = tableOf(
      route('short', { path: '/{**rest}' }),
      route('mid', { path: '/api/{**rest}' }),
      route('long', { path: '/api/v1/{**rest}' }),
    );
    expect(idOf(table, '/api/v1/x')).toBe('long');
    expect(idOf(table, '/api/v1')).toBe('long');
    expect(idOf(table, '/api/v2')).toBe('mid');
    expect(idOf(table, '/other')).toBe('short');
    expect(idOf(table, '/')).toBe('short');
  });

  it('match_comparesSegmentsFromTheLeft_firstDifferenceDecides', () => {
    // Position 1: literal beats param, although the other template has more literals after it.
    const table = tableOf(route('paramFirst', { path: '/a/{x}/c/d' }), route('literalFirst', { path: '/a/b/{y}/{z}' }));
    expect(idOf(table, '/a/b/c/d')).toBe('literalFirst');
  });

  it('match_backtracksToParam_whenLiteralBranchHasNoCompleteMatch', () => {
    const table = tableOf(route('literal', { path: '/users/me/profile' }), route('param', { path: '/users/{id}/orders' }));
    expect(idOf(table, '/users/me/orders')).toBe('param');
  });

  it('match_backtracksToCatchAll_whenDeeperBranchesFailConstraints', () => {
    const table = tableOf(
      route('postOnly', { path: '/users/{id}', methods: ['POST'] }),
      route('catch', { path: '/users/{**rest}' }),
    );
    expect(idOf(table, '/users/1', { method: 'GET' })).toBe('catch');
    expect(idOf(table, '/users/1', { method: 'POST' })).toBe('postOnly');
  });
});

describe('RouteTable host precedence', () => {
  const routes = [
    route('any', { path: '/x' }),
    route('wild', { path: '/x', hosts: ['*.example.com'] }),
    route('wildLonger', { path: '/x', hosts: ['*.api.example.com'] }),
    route('exact', { path: '/x', hosts: ['v1.api.example.com'] }),
  ];

  it('match_prefersExactHost_overWildcardAndAny', () => {
    expect(idOf(tableOf(...routes), '/x', { host: 'v1.api.example.com' })).toBe('exact');
  });

  it('match_prefersLongerWildcardSuffix', () => {
    expect(idOf(tableOf(...routes), '/x', { host: 'v2.api.example.com' })).toBe('wildLonger');
    expect(idOf(tableOf(...routes), '/x', { host: 'www.example.com' })).toBe('wild');
  });

  it('match_wildcardCoversDeeperSubdomains_butNotTheSuffixItself', () => {
    const table = tableOf(route('wild', { path: '/x', hosts: ['*.example.com'] }));
    expect(idOf(table, '/x', { host: 'a.b.example.com' })).toBe('wild');
    expect(idOf(table, '/x', { host: 'example.com' })).toBeNull();
    expect(idOf(table, '/x', { host: 'badexample.com' })).toBeNull();
  });

  it('match_fallsBackToAnyHost_whenNoHostRouteMatches', () => {
    expect(idOf(tableOf(...routes), '/x', { host: 'other.org' })).toBe('any');
  });

  it('match_prefersHostSpecificity_overPathSpecificity', () => {
    const table = tableOf(route('anyLiteral', { path: '/users/me' }), route('hostCatchAll', { path: '/{**rest}', hosts: ['a.com'] }));
    expect(idOf(table, '/users/me', { host: 'a.com' })).toBe('hostCatchAll');
    expect(idOf(table, '/users/me', { host: 'b.com' })).toBe('anyLiteral');
  });

  it('match_fallsBackToLessSpecificHost_whenExactHostRoutesFailConstraints', () => {
    const table = tableOf(
      route('exactPost', { path: '/x', hosts: ['a.example.com'], methods: ['POST'] }),
      route('wild', { path: '/x', hosts: ['*.example.com'] }),
    );
    expect(idOf(table, '/x', { host: 'a.example.com', method: 'GET' })).toBe('wild');
  });

  it('match_stripsPortAndIgnoresCase_inRequestHost', () => {
    const table = tableOf(route('exact', { path: '/x', hosts: ['api.example.com'] }), route('v6', { path: '/x', hosts: ['[::1]'] }));
    expect(idOf(table, '/x', { host: 'API.Example.COM:8080' })).toBe('exact');
    expect(idOf(table, '/x', { host: 'api.example.com.' })).toBe('exact');
    expect(idOf(table, '/x', { host: '[::1]:8080' })).toBe('v6');
    expect(idOf(table, '/x', { host: '[::1]' })).toBe('v6');
  });

  it('match_routeWithSeveralHosts_matchesEach', () => {
    const table = tableOf(route('multi', { path: '/x', hosts: ['a.com', '*.b.com'] }));
    expect(idOf(table, '/x', { host: 'a.com' })).toBe('multi');
    expect(idOf(table, '/x', { host: 'z.b.com' })).toBe('multi');
    expect(idOf(table, '/x', { host: 'c.com' })).toBeNull();
  });

  it('match_treatsEmptyHostList_asAnyHost', () => {
    expect(idOf(tableOf(route('r', { path: '/x', hosts: [] })), '/x', { host: 'whatever' })).toBe('r');
  });
});

describe('RouteTable methods and headers', () => {
  it('match_requiresListedMethod', () => {
    const table = tableOf(route('get', { path: '/x', methods: ['GET', 'POST'] }));
    expect(idOf(table, '/x', { method: 'GET' })).toBe('get');
    expect(idOf(table, '/x', { method: 'POST' })).toBe('get');
    expect(idOf(table, '/x', { method: 'DELETE' })).toBeNull();
  });

  it('match_headDoesNotMatchGetOnlyRoute_unlessListed', () => {
    const table = tableOf(route('get', { path: '/x', methods: ['GET'] }), route('head', { path: '/y', methods: ['GET', 'HEAD'] }));
    expect(idOf(table, '/x', { method: 'HEAD' })).toBeNull();
    expect(idOf(table, '/y', { method: 'HEAD' })).toBe('head');
  });

  it('match_acceptsLowerCaseRequestMethod_asUwsReportsIt', () => {
    const table = tableOf(route('get', { path: '/x', methods: ['GET'] }));
    expect(idOf(table, '/x', { method: 'get' })).toBe('get');
    expect(idOf(table, '/x', { method: 'Get' })).toBeNull();
  });

  it('match_unknownMethod_matchesOnlyUnconstrainedRoutes', () => {
    const table = tableOf(route('get', { path: '/x', methods: ['GET'] }), route('any', { path: '/x' }));
    expect(idOf(table, '/x', { method: 'PROPFIND' })).toBe('any');
  });

  it('match_prefersRouteWithMethods_overRouteWithout', () => {
    const table = tableOf(route('a-any', { path: '/x' }), route('z-get', { path: '/x', methods: ['GET'] }));
    expect(idOf(table, '/x', { method: 'GET' })).toBe('z-get');
    expect(idOf(table, '/x', { method: 'POST' })).toBe('a-any');
  });

  it('match_requiresHeaderPresence_whenNoValuesGiven', () => {
    const table = tableOf(route('h', { path: '/x', headers: [{ name: 'X-Canary' }] }));
    expect(idOf(table, '/x', { headers: { 'x-canary': '' } })).toBe('h');
    expect(idOf(table, '/x')).toBeNull();
  });

  it('match_requiresHeaderValue_caseInsensitively', () => {
    const table = tableOf(route('h', { path: '/x', headers: [{ name: 'x-version', values: ['Beta', 'v2'] }] }));
    expect(idOf(table, '/x', { headers: { 'x-version': 'BETA' } })).toBe('h');
    expect(idOf(table, '/x', { headers: { 'x-version': 'V2' } })).toBe('h');
    expect(idOf(table, '/x', { headers: { 'x-version': 'v3' } })).toBeNull();
    expect(idOf(table, '/x', { headers: { 'x-version': 'beta, v2' } })).toBeNull();
  });

  it('match_requiresEveryHeaderConstraint', () => {
    const table = tableOf(route('h', { path: '/x', headers: [{ name: 'a' }, { name: 'b', values: ['1'] }] }));
    expect(idOf(table, '/x', { headers: { a: 'x', b: '1' } })).toBe('h');
    expect(idOf(table, '/x', { headers: { a: 'x' } })).toBeNull();
    expect(idOf(table, '/x', { headers: { b: '1' } })).toBeNull();
  });

  it('match_prefersMoreHeaderConstraints', () => {
    const table = tableOf(
      route('none', { path: '/x' }),
      route('one', { path: '/x', headers: [{ name: 'a' }] }),
      route('two', { path: '/x', headers: [{ name: 'a' }, { name: 'b' }] }),
    );
    expect(idOf(table, '/x', { headers: { a: '1', b: '1' } })).toBe('two');
    expect(idOf(table, '/x', { headers: { a: '1' } })).toBe('one');
    expect(idOf(table, '/x')).toBe('none');
  });

  it('match_prefersMethodConstraint_overHeaderConstraint', () => {
    const table = tableOf(route('headers', { path: '/x', headers: [{ name: 'a' }] }), route('method', { path: '/x', methods: ['GET'] }));
    expect(idOf(table, '/x', { headers: { a: '1' } })).toBe('method');
  });

  it('match_constraintsDoNotOutrankPathSpecificity', () => {
    const table = tableOf(route('literal', { path: '/users/me' }), route('paramWithConstraints', { path: '/users/{id}', methods: ['GET'], headers: [{ name: 'a' }] }));
    expect(idOf(table, '/users/me', { headers: { a: '1' } })).toBe('literal');
  });
});

describe('RouteTable order and id tie-breakers', () => {
  it('match_prefersLowerOrder_whenOtherwiseEqual', () => {
    const table = tableOf(route('a', { path: '/x' }, { order: 5 }), route('b', { path: '/x' }, { order: -1 }));
    expect(idOf(table, '/x')).toBe('b');
  });

  it('match_defaultsOrderToZero', () => {
    const table = tableOf(route('a', { path: '/x' }, { order: 1 }), route('b', { path: '/x' }));
    expect(idOf(table, '/x')).toBe('b');
  });

  it('match_breaksTiesByRouteId_independentOfInsertionOrder', () => {
    const forward = tableOf(route('a', { path: '/x' }), route('b', { path: '/x' }));
    const backward = tableOf(route('b', { path: '/x' }), route('a', { path: '/x' }));
    expect(idOf(forward, '/x')).toBe('a');
    expect(idOf(backward, '/x')).toBe('a');
  });

  it('match_constraintsOutrankOrder', () => {
    const table = tableOf(route('low', { path: '/x' }, { order: -100 }), route('get', { path: '/x', methods: ['GET'] }, { order: 100 }));
    expect(idOf(table, '/x')).toBe('get');
  });
});

describe('RouteTable changes', () => {
  it('remove_revealsNextBestRoute', () => {
    const table = tableOf(route('literal', { path: '/users/me' }), route('param', { path: '/users/{id}' }), route('catch', { path: '/{**rest}' }));
    expect(idOf(table, '/users/me')).toBe('literal');
    expect(table.remove('literal')).toBe(true);
    expect(idOf(table, '/users/me')).toBe('param');
    expect(table.remove('param')).toBe(true);
    expect(idOf(table, '/users/me')).toBe('catch');
    expect(table.remove('catch')).toBe(true);
    expect(idOf(table, '/users/me')).toBeNull();
    expect(table.size).toBe(0);
  });

  it('remove_returnsFalse_forUnknownId', () => {
    expect(tableOf().remove('nope')).toBe(false);
  });

  it('upsert_replacesRouteWithSameId', () => {
    const table = tableOf(route('r', { path: '/old' }));
    table.upsert(route('r', { path: '/new', hosts: ['a.com'] }), 'v2');
    expect(table.size).toBe(1);
    expect(idOf(table, '/old')).toBeNull();
    expect(idOf(table, '/new', { host: 'a.com' })).toBe('r');
    expect(idOf(table, '/new', { host: 'b.com' })).toBeNull();
    expect(table.get('r')).toBe('v2');
  });

  it('upsert_sameRouteAgain_changesNothing', () => {
    const routes = [
      route('a', { path: '/x/{id}', methods: ['GET'] }),
      route('b', { path: '/x/{id}' }, { order: 1 }),
      route('c', { path: '/x/{**rest}', hosts: ['h.com'] }),
    ];
    const table = tableOf(...routes);
    const probe = (): (string | null)[] =>
      ['/x/1', '/x', '/x/1/2'].flatMap((p) => ['GET', 'POST'].flatMap((m) => ['h.com', 'o.com'].map((h) => idOf(table, p, { method: m, host: h }))));
    const before = probe();
    for (const r of routes) table.upsert(r, `payload:${r.id}`);
    expect(probe()).toEqual(before);
    expect(table.size).toBe(3);
  });

  it('upsert_newPayloadForSameRoute_isReturnedByMatch', () => {
    const table = tableOf(route('r', { path: '/x' }));
    table.upsert(route('r', { path: '/x' }), 'fresh');
    expect(table.match('GET', 'h', '/x', noHeaders)?.payload).toBe('fresh');
  });

  it('remove_lastRouteOfHost_leavesOtherHostsWorking', () => {
    const table = tableOf(route('a', { path: '/x', hosts: ['a.com'] }), route('any', { path: '/x' }));
    table.remove('a');
    expect(idOf(table, '/x', { host: 'a.com' })).toBe('any');
    table.upsert(route('a', { path: '/x', hosts: ['a.com'] }), 'again');
    expect(idOf(table, '/x', { host: 'a.com' })).toBe('a');
  });
});
