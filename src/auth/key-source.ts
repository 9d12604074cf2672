/**
 * Where an authenticator gets its keys: a remote JWK set (./remote-jwks.ts) or the static keys
 * of the policy, read from files and environment variables (./key-material.ts).
 */
import type { KeySet } from './key-set.js';

export interface KeySource {
  /** The set usable now, or null; synchronous, for the common case. */
  current(): KeySet | null;
  /** Wait (bounded) for a set when `current()` had none. */
  whenLoaded(): Promise<KeySet | null>;
  /** For a token whose `kid` the set lacks: a fresher set when one may be fetched. */
  refetchForUnknownKid(): Promise<KeySet | null>;
  close(): void;
}

/** Static keys: imported once at compile time; nothing to refresh. */
export class StaticKeys implements KeySource {
  #set: KeySet | null = null;
  readonly #ready: Promise<KeySet | null>;

  constructor(ready: Promise<KeySet | null>) {
    this.#ready = ready.then((set) => (this.#set = set));
  }

  current(): KeySet | null {
    return this.#set;
  }

  whenLoaded(): Promise<KeySet | null> {
    return this.#ready;
  }

  refetchForUnknownKid(): Promise<KeySet | null> {
    return this.#ready;
  }

  close(): void {}
}
