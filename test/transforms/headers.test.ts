import { describe, expect, it } from 'vitest';
import { HeaderNameSet, skipRequestHeader } from '../../src/transforms/headers.js';

describe('skipRequestHeader', () => {
  it('skipsHopByHopFramingAndForwardingNames_andPassesEveryOtherName_includingOnesOfTheSameLength', () => {
    // RFC 9110 7.6.1's hop-by-hop fields, the framing the gateway sets itself, Host (sent per
    // attempt), Expect (answered by the gateway), and the X-Forwarded-* it rebuilds.
    const skipped = [
      'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection',
      'proxy-authenticate', 'proxy-authorization', 'proxy-anything', 'content-length', 'host', 'expect',
      'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
    ];
    // Names a client sends, several of the same length as a skipped one (accept/expect,
    // user-agent/connection, content-type ... ) or one character off.
    const kept = [
      'accept', 'user-agent', 'content-type', 'content-lengths', 'hosts', 'ho', 'tE', 'tf', 'x-forwarded-port',
      'x-forwarded-prefix', 'authorization', 'cookie', 'x-request-id', 'upgrades', 'trailers', 'proxy', 'keep-alivE', '',
      'accept-encoding', 'cache-control', 'x-real-ip', 'forwarded', 'a'.repeat(300),
    ];
    // Fresh strings, as uWS hands names over (not the literals above).
    const fresh = (s: string): string => [...s].join('');
    expect(skipped.filter((n) => !skipRequestHeader(fresh(n)))).toEqual([]);
    expect(kept.filter((n) => skipRequestHeader(fresh(n)))).toEqual([]);
  });
});

describe('HeaderNameSet', () => {
  it('answersHasLikeASet_throughAddsDeletesAndClear_forFreshStringsAndNamesOfTheSameLength', () => {
    const fresh = (n: string): string => [...n].join('');
    const names = new HeaderNameSet(['x-user-id', 'authorization']);
    expect(['x-user-id', 'authorization', 'x-user-ix', 'authorizatio', 'x-org', ''].map((n) => names.has(fresh(n))))
      .toEqual([true, true, false, false, false, false]);
    names.add('x-org');
    expect(names.has(fresh('x-org'))).toBe(true);
    names.delete('x-user-id');
    expect(names.has(fresh('x-user-id'))).toBe(false);
    expect([...names].sort()).toEqual(['authorization', 'x-org']);
    names.clear();
    expect(names.has(fresh('authorization'))).toBe(false);
    expect(names.size).toBe(0);
  });
});
