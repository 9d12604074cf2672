import { describe, expect, it } from 'vitest';
import { transferCodingError } from '../../src/worker/framing.js';

// Expectations from RFC 9112 §6.1 and §7 (see src/worker/framing.ts for the rule per line).
describe('transferCodingError', () => {
  it.each(['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', '\tchunked', ', chunked', 'chunked,', ' , chunked , '])(
    'acceptsExactlyChunked_%j', (value) => {
      expect(transferCodingError(value)).toBeNull();
    },
  );

  it.each(['chunked, identity', 'chunked,gzip', 'identity', 'gzip', 'xchunked', 'chunkedx', 'chunked;q=1', '', ' ', ',', 'chunked, chunked', 'chunked,CHUNKED'])(
    'is400_whenChunkedIsNotTheOneFinalCoding_%j', (value) => {
      expect(transferCodingError(value)).toBe('BAD_REQUEST');
    },
  );

  it.each(['gzip, chunked', 'identity, chunked', 'deflate,gzip,chunked'])('is501_forAnotherCodingBeforeAFinalChunked_%j', (value) => {
    expect(transferCodingError(value)).toBe('TRANSFER_CODING_UNSUPPORTED');
  });
});
