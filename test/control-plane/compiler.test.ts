/**
 * The snapshot compiler's piscina thread: it compiles large snapshots off the primary's event
 * loop, and ends once it has been idle (an idle thread keeps the heap of its last snapshot:
 * ~135 MiB for 100,000 routes). Runs the built task file (piscina loads dist/).
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const BUILT = new URL('../../dist/control-plane/compiler.js', import.meta.url);
const CODEC = new URL('../../dist/control-plane/codec.js', import.meta.url);

const threadCount = (): number => readdirSync('/proc/self/task').length;

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

describe('SnapshotCompiler', () => {
  it('compileThread_endsAfterItsIdleTime_andStartsAgainForTheNextSnapshot', async () => {
    if (!existsSync(BUILT)) throw new Error('dist/ is missing: run `npm run build` (npm test does it) first');
    const { SnapshotCompiler, INLINE_BYTES } = await import(BUILT.href) as typeof import('../../src/control-plane/compiler.js');
    const { encodeSnapshot } = await import(CODEC.href) as typeof import('../../src/control-plane/codec.js');
    const routes = Array.from({ length: 2_000 }, (_, i) => ({ id: `r${i}`, cluster: 'c1', match: { path: `/r${i}/{**rest}` } }));
    const clusters = [{ id: 'c1', destinations: [{ id: 'd', address: 'http://127.0.0.1:1' }] }];
    const text = encodeSnapshot({ epoch: 'e', version: 7, at: 'now', writer: 'test', config: { routes, clusters } });
    // Large enough to go to the pool rather than compile inline.
    expect(text.length).toBeGreaterThan(INLINE_BYTES);

    const before = threadCount();
    const compiler = new SnapshotCompiler(300);
    try {
      const first = await compiler.compile(text);
      expect(first.ok && first.lists.get('routes')?.length).toBe(routes.length);
      expect(threadCount()).toBeGreaterThan(before);
      expect(await waitFor(() => threadCount() === before, 30_000)).toBe(true);

      const again = await compiler.compile(text);
      expect(again.ok && again.version).toBe(7);
    } finally {
      await compiler.close();
    }
  }, 60_000);
});
