import { describe, expect, it } from 'vitest';
import { setTraceLogFields, traceLogFields } from '../../src/observability/logger.js';

describe('trace fields of log lines', () => {
  it('areCarriedUntilTheEndOfTheTurn_thenNoLaterLineInheritsThem', async () => {
    expect(traceLogFields()).toEqual({});
    setTraceLogFields('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7');
    expect(traceLogFields()).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' });
    // A second request ending in the same turn: its ids replace the first's.
    setTraceLogFields('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331');
    expect(traceLogFields()).toEqual({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(traceLogFields()).toEqual({});
    // And again in a later turn: the clearing is scheduled anew.
    setTraceLogFields('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7');
    expect(traceLogFields().trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    await new Promise((resolve) => setImmediate(resolve));
    expect(traceLogFields()).toEqual({});
  });
});
