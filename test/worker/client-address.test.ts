import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressText } from '../../src/worker/client-address.js';

const bytes = (...b: number[]): ArrayBuffer => new Uint8Array(b).buffer;
const groups = (b: Uint8Array): string => Array.from({ length: 8 }, (_, g) => ((b[2 * g] << 8) | b[2 * g + 1]).toString(16).padStart(4, '0')).join(':');

describe('addressText', () => {
  it('writes IPv4 in dotted decimal, the same text from the cache as when first formatted', () => {
    expect(addressText(bytes(127, 0, 0, 1))).toBe('127.0.0.1');
    expect(addressText(bytes(127, 0, 0, 1))).toBe('127.0.0.1');
    expect(addressText(bytes(203, 0, 113, 255))).toBe('203.0.113.255');
    expect(addressText(bytes(0, 0, 0, 0))).toBe('0.0.0.0');
  });

  it('keeps giving right answers past the cache limit', () => {
    for (let i = 0; i < 10_000; i++) {
      const b = [10, (i >> 16) & 255, (i >> 8) & 255, i & 255];
      expect(addressText(bytes(...b))).toBe(b.join('.'));
    }
  });

  it('writes IPv6 as RFC 5952 does (examples from the RFC and common addresses)', () => {
    expect(addressText(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))).toBe('::1');
    expect(addressText(new Uint8Array(16).buffer)).toBe('::');
    // §4.2.2: one zero group is not shortened; §4.2.3: the longest run, the first of equal ones.
    expect(addressText(bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1))).toBe('2001:db8:0:1:1:1:1:1');
    expect(addressText(bytes(0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1))).toBe('2001:0:0:1::1');
    expect(addressText(bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1))).toBe('2001:db8::1:0:0:1');
    expect(addressText(bytes(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0, 0))).toBe('fe80::abcd:0:0:0');
  });

  it('writes IPv4-mapped addresses (a dual-stack listener\'s IPv4 clients) with the IPv4 part dotted', () => {
    expect(addressText(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1))).toBe('::ffff:127.0.0.1');
    expect(addressText(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 33))).toBe('::ffff:192.0.2.33');
  });

  it('gives every IPv6 address a text that the URL parser keeps as it is and that names the same address', () => {
    // Zero-heavy groups, so that runs of zeros of every length and position occur.
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
      const b = new Uint8Array(16);
      g.forEach((v, i) => { b[2 * i] = v >> 8; b[2 * i + 1] = v & 255; });
      if (g.slice(0, 5).every((v) => v === 0) && g[5] === 0xffff) return; // mapped: the test above
      const text = addressText(b.buffer);
      expect(isIP(text)).toBe(6);
      // WHATWG URL serializes IPv6 hosts by RFC 5952's compression rules; from the full form too.
      expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
      expect(new URL(`http://[${groups(b)}]/`).hostname).toBe(`[${text}]`);
    }), { numRuns: 2000 });
  });

  it('gives no text for an address of another length (uWS returns none for a closed socket)', () => {
    expect(addressText(new ArrayBuffer(0))).toBe('');
  });
});
