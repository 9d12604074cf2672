/**
 * A bounded LRU of verdicts for raw token texts.
 *
 * Keyed by a 30-bit number mixed from the token's last characters (the signature's: high
 * entropy in every JWS), and a hit compares the whole token with the one the entry was made
 * for, so two tokens can never share a verdict. Keying by the token text itself made V8 hash
 * the whole token on every request (each arrives as a fresh string): ~3,000 instructions for
 * a 250-character token, most of a cached JWT request's extra cost (docs/performance.md,
 * change 18). Two tokens whose keys collide take turns: the later one's entry replaces the
 * earlier's, which then costs a verification again. The mix is seeded per process
 * (KEY_SEED), so a collision cannot be aimed from outside.
 *
 * Invariants: a verdict is never returned at or after its `expiresAt` (the caller sets it no
 * later than the token's `exp`), nor for any token but the one it was set for; the cache holds
 * at most `maxEntries` entries and at most `maxChars` characters of tokens, evicting the least
 * recently used first, so a flood of large distinct tokens cannot grow a worker's memory.
 *
 * Recency is a Map's insertion order: a hit re-inserts its entry at the back, eviction takes
 * from the front.
 */
import { randomBytes } from 'node:crypto';

interface Entry<V> {
  readonly token: string;
  readonly value: V;
  readonly expiresAt: number;
}

/** Characters from the token's end that make its key. */
const KEY_CHARS = 16;
/** Drawn per process, so that nobody outside can compute which tokens share a key. */
const KEY_SEED = randomBytes(4).readInt32LE(0);

/** The token's key: its last KEY_CHARS characters and its length, mixed with KEY_SEED into a non-negative 30-bit integer (a Smi). */
export function tokenKey(token: string): number {
  let h = (0x811c9dc5 ^ KEY_SEED) | 0;
  const from = token.length > KEY_CHARS ? token.length - KEY_CHARS : 0;
  for (let i = from; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 0x01000193);
  h ^= token.length;
  return (h ^ (h >>> 15)) & 0x3fff_ffff;
}

export class TokenCache<V> {
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #entries = new Map<number, Entry<V>>();
  #chars = 0;

  constructor(maxEntries: number, maxChars: number) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(token: string, now: number): V | undefined {
    const key = tokenKey(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
    this.#entries.delete(key);
    if (now >= entry.expiresAt) {
      this.#chars -= token.length;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(token: string, value: V, expiresAt: number): void {
    if (this.#maxEntries === 0 || token.length > this.#maxChars) return;
    const key = tokenKey(token);
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      // The same token again, or another with the same key: either way it gives way.
      this.#entries.delete(key);
      this.#chars -= previous.token.length;
    }
    this.#entries.set(key, { token, value, expiresAt });
    this.#chars += token.length;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.keys().next().value as number;
      this.#chars -= this.#entries.get(oldest)!.token.length;
      this.#entries.delete(oldest);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }
}
