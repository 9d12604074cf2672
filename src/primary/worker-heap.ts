/**
 * The size of each worker thread's young generation (V8's "semi-space", the nursery where a
 * request's short-lived objects are born and die).
 *
 * Why: a request allocates a few kilobytes that are garbage by its end, so the workers'
 * collector is almost all scavenges, and a scavenge's cost is mostly fixed (visiting the
 * roots: the isolate's startup object cache, handles, the stack), not the dead objects. With
 * V8's default sizing a worker scavenged every ~2,000 requests; a bigger nursery makes
 * scavenges proportionally rarer at the price of its memory.
 *
 * How: V8 reads the semi-space flags when an isolate is made, and flags are process-wide, so
 * setting them in the primary before the first worker starts sizes every worker (and any
 * later replacement). Node does not accept these flags in a Worker's `execArgv`, nor in
 * NODE_OPTIONS; an operator who passes them on node's command line keeps theirs.
 */
import v8 from 'node:v8';

/** V8's default largest semi-space on 64-bit platforms, in MiB. */
export const V8_DEFAULT_MAX_SEMI_SPACE_MB = 16;

const SEMI_SPACE_FLAG = /^--(?:min|max)[-_]semi[-_]space[-_]size(?:=|$)/;

export type NurserySizing =
  | { readonly kind: 'set'; readonly flags: readonly string[] }
  | { readonly kind: 'v8-default' }
  | { readonly kind: 'command-line'; readonly flags: readonly string[] };

/** The V8 flags that give each worker a semi-space of `mb` MiB (0: V8's own sizing). */
export function nurseryFlags(mb: number): string[] {
  if (mb === 0) return [];
  return [`--min-semi-space-size=${mb}`, `--max-semi-space-size=${Math.max(mb, V8_DEFAULT_MAX_SEMI_SPACE_MB)}`];
}

/** Apply the nursery size before any worker starts; says what was done, for the start log. */
export function sizeWorkerNursery(mb: number, execArgv: readonly string[] = process.execArgv,
  setFlags: (flags: string) => void = v8.setFlagsFromString): NurserySizing {
  const given = execArgv.filter((a) => SEMI_SPACE_FLAG.test(a));
  if (given.length > 0) return { kind: 'command-line', flags: given };
  const flags = nurseryFlags(mb);
  if (flags.length === 0) return { kind: 'v8-default' };
  for (const f of flags) setFlags(f);
  return { kind: 'set', flags };
}
