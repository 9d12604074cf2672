/**
 * KeySet: an immutable set of verification keys (from a JWKS document or from files and
 * environment variables), imported once for every algorithm of the policy that each key fits.
 *
 * Key confusion is impossible by construction: a key is only ever imported for an algorithm
 * of its own type (`oct` for HS*, RSA for RS and PS, EC on the matching curve for ES*, OKP for
 * EdDSA), so an RSA public key can never be used as an HMAC secret, and a token's `alg` only
 * selects among keys imported for exactly that algorithm.
 */
import { importJWK, type JWK } from 'jose';
import type { JwtAlgorithm } from '../config/types.js';

/** What each algorithm needs of a JWK. */
const KEY_TYPES: Readonly<Record<JwtAlgorithm, { readonly kty: string; readonly crv?: readonly string[]; readonly minSecretBytes?: number }>> = {
  RS256: { kty: 'RSA' }, RS384: { kty: 'RSA' }, RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' }, PS384: { kty: 'RSA' }, PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: ['P-256'] }, ES384: { kty: 'EC', crv: ['P-384'] }, ES512: { kty: 'EC', crv: ['P-521'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519', 'Ed448'] }, Ed25519: { kty: 'OKP', crv: ['Ed25519'] },
  // RFC 7518 3.2: an HMAC key at least as long as the hash output.
  HS256: { kty: 'oct', minSecretBytes: 32 }, HS384: { kty: 'oct', minSecretBytes: 48 }, HS512: { kty: 'oct', minSecretBytes: 64 },
};

export type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

export interface KeyEntry {
  readonly kid: string | undefined;
  readonly key: VerifyKey;
}

export class KeySet {
  readonly #byAlg: ReadonlyMap<string, readonly KeyEntry[]>;
  readonly #kids: ReadonlySet<string>;
  /** Number of (key, algorithm) pairs imported. */
  readonly size: number;

  private constructor(byAlg: Map<string, KeyEntry[]>, kids: Set<string>) {
    this.#byAlg = byAlg;
    this.#kids = kids;
    let n = 0;
    for (const list of byAlg.values()) n += list.length;
    this.size = n;
  }

  /**
   * Import every usable key for every algorithm it fits. Unusable keys are skipped, each with
   * a reason in `skipped` (never key material), so one odd key in an issuer's set does not
   * take the others down.
   */
  static async create(jwks: readonly JWK[], algorithms: readonly JwtAlgorithm[]): Promise<{ set: KeySet; skipped: string[] }> {
    const byAlg = new Map<string, KeyEntry[]>();
    const kids = new Set<string>();
    const skipped: string[] = [];
    await Promise.all(jwks.map(async (jwk, index) => {
      const name = typeof jwk.kid === 'string' ? `kid "${jwk.kid}"` : `key #${index}`;
      if (jwk.use !== undefined && jwk.use !== 'sig') return void skipped.push(`${name}: use is "${String(jwk.use)}", not "sig"`);
      if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return void skipped.push(`${name}: key_ops lacks "verify"`);
      if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && Buffer.from(jwk.n, 'base64url').length * 8 < 2048) {
        return void skipped.push(`${name}: RSA keys shorter than 2048 bits are refused`);
      }
      let fitted = 0;
      for (const alg of algorithms) {
        const need = KEY_TYPES[alg];
        if (jwk.kty !== need.kty || (need.crv !== undefined && !need.crv.includes(String(jwk.crv)))) continue;
        if (jwk.alg !== undefined && jwk.alg !== alg) continue;
        if (need.minSecretBytes !== undefined && Buffer.from(String(jwk.k ?? ''), 'base64url').length < need.minSecretBytes) {
          skipped.push(`${name}: ${alg} needs a secret of at least ${need.minSecretBytes} bytes`);
          continue;
        }
        try {
          // Public members only: a private JWK (with "d") must not become a verification key.
          const key = await importJWK(publicMembers(jwk), alg);
          let list = byAlg.get(alg);
          if (list === undefined) byAlg.set(alg, (list = []));
          list.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, key });
          if (typeof jwk.kid === 'string') kids.add(jwk.kid);
          fitted++;
        } catch (error) {
          skipped.push(`${name}: cannot be imported for ${alg} (${(error as Error).message})`);
        }
      }
      if (fitted === 0 && !skipped.some((s) => s.startsWith(`${name}:`))) {
        skipped.push(`${name}: fits none of the policy's algorithms (${algorithms.join(', ')})`);
      }
    }));
    return { set: new KeySet(byAlg, kids), skipped };
  }

  /** True when some key of the set carries this `kid`. */
  knows(kid: string): boolean {
    return this.#kids.has(kid);
  }

  /** Keys that may verify a token with this header: imported for `alg`, and named `kid` (a key without a kid matches any). */
  candidates(alg: string, kid: string | undefined): readonly KeyEntry[] {
    const list = this.#byAlg.get(alg);
    if (list === undefined) return [];
    if (kid === undefined) return list;
    return list.filter((e) => e.kid === undefined || e.kid === kid);
  }
}

const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'], oct: ['k'],
};

function publicMembers(jwk: JWK): JWK {
  const out: Record<string, unknown> = { kty: jwk.kty };
  for (const m of PUBLIC_MEMBERS[String(jwk.kty)] ?? []) if (jwk[m as keyof JWK] !== undefined) out[m] = jwk[m as keyof JWK];
  return out as JWK;
}
