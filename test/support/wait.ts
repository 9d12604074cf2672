/**
 * Resolves once `read()` has given the same value (`===`) for `quietMs`, polled every
 * `everyMs`, or after `capMs` whatever it gives: for a reading that moves while something
 * drains (bytes filling socket buffers, a forwarded request still in flight). What a reading
 * that never stood still means is the caller's assertions' business.
 */
export async function untilStill(read: () => unknown, quietMs: number, capMs: number, everyMs = 50): Promise<void> {
  const started = Date.now();
  let last = read();
  let since = started;
  while (Date.now() - since < quietMs && Date.now() - started < capMs) {
    await new Promise((r) => setTimeout(r, everyMs));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}
