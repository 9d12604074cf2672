import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../src/config/types.js';
import { compileRoute } from '../../src/transforms/compile.js';
import { sanitise } from '../../src/auth/claims.js';
import { buildRequestHead } from '../../src/transforms/request-head.js';

function route(transforms: RouteConfig['transforms'] = []) {
  return compileRoute({ id: 'r', cluster: 'c', match: { path: '/{**rest}' }, transforms }, 0);
}

/** The head's header lines as [name, value] pairs (the request line dropped). */
function lines(head: string): Array<[string, string]> {
  expect(head.endsWith('\r\n')).toBe(true);
  return head.slice(0, -2).split('\r\n').slice(1).map((l) => {
    const i = l.indexOf(': ');
    return [l.slice(0, i), l.slice(i + 2)];
  });
}
const names = (head: string) => lines(head).map(([n]) => n);
const values = (head: string, name: string) => lines(head).filter(([n]) => n === name).map(([, v]) => v);

function head(headers: string[], opts: Partial<{ route: ReturnType<typeof route>; authRemove: Set<string> | null; authAdd: string[] | null; trace: boolean; client: string; host: string; length: number; chunked: boolean; target: string; method: string }> = {}) {
  return buildRequestHead(opts.method ?? 'GET', opts.target ?? '/x', headers, opts.route ?? route(), opts.authRemove ?? null, opts.authAdd ?? null,
    opts.trace ?? false, opts.client ?? '192.0.2.7', opts.host ?? 'api.example', opts.length ?? -1, opts.chunked ?? false);
}

describe('buildRequestHead', () => {
  it('starts with the request line in origin form and HTTP/1.1', () => {
    const h = buildRequestHead('POST', '/v2/items?a=1', [], route(), null, null, false, '10.0.0.1', '', 3, false);
    expect(h.split('\r\n')[0]).toBe('POST /v2/items?a=1 HTTP/1.1');
  });

  it('drops hop-by-hop headers (RFC 9110 7.6.1) and every header the Connection header lists', () => {
    const h = head([
      'connection', 'close, x-secret-hop', 'keep-alive', 'timeout=5', 'te', 'trailers', 'upgrade', 'websocket',
      'proxy-authorization', 'Basic abc', 'x-secret-hop', '1', 'accept', '*/*',
    ]);
    expect(names(h)).not.toContain('connection');
    expect(names(h)).not.toContain('keep-alive');
    expect(names(h)).not.toContain('te');
    expect(names(h)).not.toContain('upgrade');
    expect(names(h)).not.toContain('proxy-authorization');
    expect(names(h)).not.toContain('x-secret-hop');
    expect(values(h, 'accept')).toEqual(['*/*']);
  });

  it('never passes the client\'s framing or Host: the gateway states its own', () => {
    const h = head(['content-length', '999', 'transfer-encoding', 'chunked', 'host', 'evil.example', 'expect', '100-continue'], { length: 5 });
    expect(values(h, 'content-length')).toEqual(['5']);
    expect(names(h)).not.toContain('transfer-encoding');
    expect(names(h)).not.toContain('host');
    expect(names(h)).not.toContain('expect');
  });

  it('frames a chunked body as chunked, a zero-length body with Content-Length: 0, no body with neither', () => {
    expect(values(head([], { chunked: true, length: 10 }), 'transfer-encoding')).toEqual(['chunked']);
    expect(names(head([], { chunked: true }))).not.toContain('content-length');
    expect(values(head([], { length: 0 }), 'content-length')).toEqual(['0']);
    const none = head([]);
    expect(names(none)).not.toContain('content-length');
    expect(names(none)).not.toContain('transfer-encoding');
  });

  it('appends the client address to X-Forwarded-For, joining repeated client headers in order', () => {
    expect(values(head([], { client: '198.51.100.9' }), 'x-forwarded-for')).toEqual(['198.51.100.9']);
    const h = head(['x-forwarded-for', '203.0.113.1', 'x-forwarded-for', '203.0.113.2, 203.0.113.3'], { client: '198.51.100.9' });
    expect(values(h, 'x-forwarded-for')).toEqual(['203.0.113.1, 203.0.113.2, 203.0.113.3, 198.51.100.9']);
  });

  it('replaces the client\'s X-Forwarded-Proto and X-Forwarded-Host with what this hop saw', () => {
    const h = head(['x-forwarded-proto', 'https', 'x-forwarded-host', 'spoofed.example'], { host: 'api.example:8080' });
    expect(values(h, 'x-forwarded-proto')).toEqual(['http']);
    expect(values(h, 'x-forwarded-host')).toEqual(['api.example:8080']);
    expect(names(head([], { host: '' }))).not.toContain('x-forwarded-host');
  });

  it('applies the route\'s header transforms: set replaces every copy, append adds one, remove drops all', () => {
    const r = route([
      { requestHeader: 'x-env', set: 'prod' },
      { requestHeader: 'x-tag', append: 'gw' },
      { requestHeaderRemove: 'cookie' },
    ]);
    const h = head(['x-env', 'dev', 'x-env', 'test', 'x-tag', 'client', 'cookie', 'a=1', 'cookie', 'b=2'], { route: r });
    expect(values(h, 'x-env')).toEqual(['prod']);
    expect(values(h, 'x-tag')).toEqual(['client', 'gw']);
    expect(names(h)).not.toContain('cookie');
  });

  it('applies the auth verdict: strips what it names, adds its claim headers after the route\'s', () => {
    const h = head(['authorization', 'Bearer t', 'x-user', 'forged'], {
      authRemove: new Set(['authorization', 'x-user']), authAdd: ['x-user', 'alice', 'x-tenant', 't1'],
    });
    expect(names(h)).not.toContain('authorization');
    expect(values(h, 'x-user')).toEqual(['alice']);
    expect(values(h, 'x-tenant')).toEqual(['t1']);
  });

  it('keeps the caller\'s trace context unless the gateway records the request', () => {
    const ctx = ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'tracestate', 'k=v'];
    expect(values(head(ctx), 'traceparent')).toEqual([ctx[1]]);
    expect(values(head(ctx), 'tracestate')).toEqual(['k=v']);
    expect(names(head(ctx, { trace: true }))).not.toContain('traceparent');
    expect(names(head(ctx, { trace: true }))).not.toContain('tracestate');
  });

  it('keeps non-ASCII text as text, from the client, the route and a claim alike: its UTF-8 is what goes out', () => {
    // uWS gives a client's header bytes decoded as UTF-8 ('ë' alone is U+00EB, a latin1
    // character: it must still go out as C3 AB, not as EB); the route's values and the claims
    // are text. The forwarder writes the head as UTF-8, so each is encoded exactly once.
    const claim = sanitise('Zoë');
    const r = route([{ requestHeader: 'x-route', set: 'café' }, { requestHeader: 'x-route-2', set: '✓' }]);
    for (const client of ['aëb', 'aë✓b', 'plain']) {
      const h = head(['x-name', client], { route: r, authAdd: ['x-user', claim], host: 'hôte.example', target: '/ä' });
      const bytes = Buffer.from(h, 'utf8');
      for (const line of [`GET /ä HTTP/1.1\r\n`, `x-name: ${client}\r\n`, 'x-route: café\r\n', 'x-route-2: ✓\r\n', 'x-user: Zoë\r\n', 'x-forwarded-host: hôte.example\r\n']) {
        expect(bytes.includes(Buffer.from(line, 'utf8')), `${client}: ${line}`).toBe(true);
      }
    }
  });
});
