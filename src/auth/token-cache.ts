/**
 * A bounded LRU of verdicts keyed by the raw token text (so a hit is one Map lookup, no hash
 * to compute, and two tokens can never collide).
 *
 * Invariants: a verdict is never returned at or after its `expiresAt` (the caller sets it no
 * later than the token's `exp`); the cache holds at most `maxEntries` entries and at most
 * `maxChars` characters of keys, evicting the least recently used first, so a flood of large
 * distinct tokens cannot grow a worker's memory.
 *
 * Recency is a Map's insertion order: a hit re-inserts its entry at the back, eviction takes
 * from the front.
 */
interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export class TokenCache<V> {
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #entries = new Map<string, Entry<V>>();
  #chars = 0;

  constructor(maxEntries: number, maxChars: number) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (now >= entry.expiresAt) {
      this.#chars -= key.length;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    if (this.#maxEntries === 0 || key.length > this.#maxChars) return;
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#entries.delete(key);
      this.#chars -= key.length;
    }
    this.#entries.set(key, { value, expiresAt });
    this.#chars += key.length;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#chars -= oldest.length;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }
}
