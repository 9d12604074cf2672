import { describe, it, expect } from 'vitest';
import { parseDestinationAddress } from '../../src/config/address.js';

describe('parseDestinationAddress', () => {
  const cases: Array<[string, string, number]> = [
    ['http://10.0.0.1:8080', '10.0.0.1', 8080],
    ['http://svc.internal', 'svc.internal', 80],
    ['http://svc.internal/', 'svc.internal', 80],
    ['http://Svc.Internal:80', 'svc.internal', 80],
    ['http://[::1]:9000', '::1', 9000],
    ['http://[::1]', '::1', 80],
  ];
  for (const [address, host, port] of cases) {
    it(`address_parsesHostAndPort_${address}`, () => {
      expect(parseDestinationAddress(address)).toEqual({ ok: true, host, port });
    });
  }

  it('address_refusesHttps_explainingTlsIsNotSupported', () => {
    const parsed = parseDestinationAddress('https://a:443');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(/^https:\/\/ is not supported yet: TLS to upstreams is not implemented/);
  });
});
