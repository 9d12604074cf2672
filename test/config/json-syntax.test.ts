import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { lineAndColumn, scanJson } from '../../src/config/json-syntax.js';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('scanJson', () => {
  it('scan_acceptsExactlyWhatJsonParseAccepts_onValidJson', () => {
    fc.assert(fc.property(fc.json(), (text) => {
      expect(scanJson(text)).toEqual({ duplicates: [] });
    }));
  });

  it('scan_agreesWithJsonParse_onArbitraryJsonLikeText', () => {
    const alphabet = fc.constantFrom(...'{}[],:"\\ 0123456789-+.eEtruefalsn\n\tabu'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }).map((cs) => cs.join('')), (text) => {
        expect(scanJson(text).error === undefined).toBe(parses(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('scan_reportsNestingBeyondTheLimit_insteadOfOverflowingTheStack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(scanJson(deep).error?.message).toBe('nested too deeply');
  });

  it('lineAndColumn_countsFromOne', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\r\ncd', 5)).toEqual({ line: 2, column: 2 });
  });
});
