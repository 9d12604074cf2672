import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { normalizeHost, normalizePath } from '../../src/routing/route-table.js';

describe('normalizePath', () => {
  it.each([
    ['/api/../admin', '/admin'],
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/%2E%2E/admin', '/admin'],
    ['/api/.%2e/admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a//b', '/a/b'],
    ['//a///b//', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/..', '/'],
    ['/.', '/'],
    ['/', '/'],
    ['/a/b/', '/a/b/'],
    ['/%7Euser/%41%62c', '/~user/Abc'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb/%20/%3F', '/a%2fb/%20/%3F'],
    ['/a/%2e%2e%2Fb', '/a/..%2Fb'],
    ['/...', '/...'],
    ['/a/.b/..c', '/a/.b/..c'],
  ])('normalizePath_resolves_%s_to_%s', (raw, expected) => {
    expect(normalizePath(raw)).toBe(expected);
  });

  it.each(['/..', '/a/../..', '/%2e%2e', '/a/%2E%2E/%2e%2e/b'])('normalizePath_returnsNull_whenDotDotEscapesRoot_%s', (raw) => {
    expect(normalizePath(raw)).toBeNull();
  });

  it.each(['/a%', '/a%2', '/a%zz', '/%G0', '/a/%2'])('normalizePath_returnsNull_forInvalidPercentEscape_%s', (raw) => {
    expect(normalizePath(raw)).toBeNull();
  });

  // RFC 3986 never allows these in a request-target; a server behind the gateway could read
  // them differently from the route table (a stripped fragment, a backslash separator, a path
  // ended at NUL), so they are refused rather than routed.
  it.each(['/admin#x', '/a/#', '/api\\..\\admin', '/a\\b', '/a b', '/a\tb', '/a\x00', '/a\x1fb', '/a\x7f', '/caf\u00e9', '/\u2028', '/admin%00', '/a%00b'])(
    'normalizePath_returnsNull_forAByteNoRequestTargetHolds_%j', (raw) => {
      expect(normalizePath(raw)).toBeNull();
    },
  );

  it.each(['/a{b}', '/a|b^c', '/a;x=1', "/a!$&'()*+,=:@-._~", '/%01', '/%7F'])('normalizePath_keeps_otherBytesAndEscapes_%j', (raw) => {
    expect(normalizePath(raw)).toBe(raw);
  });

  it.each(['', 'a/b', '*', 'http://x/'])('normalizePath_returnsNull_whenPathDoesNotStartWithSlash_%s', (raw) => {
    expect(normalizePath(raw)).toBeNull();
  });

  it('normalizePath_returnsSameString_whenAlreadyNormal', () => {
    const raw = '/api/users/42';
    expect(normalizePath(raw)).toBe(raw);
  });

  it('normalizePath_isIdempotent_andNeverLeavesDotOrEmptySegments', () => {
    const segment = fc.constantFrom('a', 'B', '.', '..', '', '%2e', '%2E%2e', '%41', '%2F', 'x.y');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        const once = normalizePath('/' + segments.join('/'));
        if (once === null) return;
        expect(normalizePath(once)).toBe(once);
        const inner = once.slice(1).split('/');
        for (let i = 0; i < inner.length; i++) {
          expect(inner[i] === '.' || inner[i] === '..').toBe(false);
          if (i < inner.length - 1) expect(inner[i]).not.toBe('');
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe('normalizeHost', () => {
  it.each([
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM', 'api.example.com'],
    ['api.example.com:8080', 'api.example.com'],
    ['Api.Example.com.:443', 'api.example.com'],
    ['[::1]:8080', '[::1]'],
    ['[FE80::1]', '[fe80::1]'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['', ''],
  ])('normalizeHost_maps_%s_to_%s', (raw, expected) => {
    expect(normalizeHost(raw)).toBe(expected);
  });
});
