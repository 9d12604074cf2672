/**
 * Test keys, tokens and a real JWKS server on 127.0.0.1. Every key is generated at test time
 * (SEC-01: no key material in the tree).
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, generateSecret, SignJWT, type JWK, type JWTPayload } from 'jose';

export type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: SigningKey;
  readonly publicJwk: JWK;
  readonly spkiPem: string;
}

export async function rsaKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, spkiPem: await exportSPKI(publicKey) };
}

export const ecKey = (kid: string): Promise<TestKey> => rsaKey(kid, 'ES256');

export async function hmacSecret(): Promise<Uint8Array> {
  const key = await generateSecret('HS256', { extractable: true });
  const jwk = await exportJWK(key);
  return Buffer.from(jwk.k!, 'base64url');
}

export const ISSUER = 'https://id.test.example';
export const AUDIENCE = 'users-api';

export interface TokenOptions {
  readonly claims?: JWTPayload & Record<string, unknown>;
  readonly header?: Record<string, unknown>;
  /** Seconds from now; default 300. */
  readonly expiresIn?: number;
  readonly issuer?: string;
  readonly audience?: string | string[];
  readonly noExp?: boolean;
}

export async function sign(key: TestKey | { alg: string; kid?: string; privateKey: SigningKey | Uint8Array }, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ sub: 'user-1', ...options.claims })
    .setProtectedHeader({ alg: key.alg, ...(key.kid ? { kid: key.kid } : {}), ...options.header } as never)
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(typeof options.claims?.iat === 'number' ? options.claims.iat : now);
  if (!options.noExp) jwt = jwt.setExpirationTime(now + (options.expiresIn ?? 300));
  return jwt.sign(key.privateKey as never);
}

/** A compact token from raw parts (for alg none, tampering and key confusion). */
export function rawToken(header: object, payload: object, signature = ''): string {
  const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b(header)}.${b(payload)}.${signature}`;
}

export function claimsNow(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now, exp: now + 300, ...extra };
}

export interface JwksServer {
  readonly url: string;
  readonly port: number;
  /** Requests served so far. */
  readonly hits: () => number;
  setKeys(keys: readonly JWK[]): void;
  setCacheControl(value: string | null): void;
  /** Answer every request with this status (null: serve the keys). */
  setStatus(status: number | null): void;
  close(): Promise<void>;
}

export function startJwksServer(keys: readonly JWK[], port = 0): Promise<JwksServer> {
  let current = [...keys];
  let cacheControl: string | null = null;
  let status: number | null = null;
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (status !== null) {
      res.statusCode = status;
      res.end('unavailable');
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (cacheControl !== null) res.setHeader('cache-control', cacheControl);
    res.end(JSON.stringify({ keys: current }));
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const p = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${p}/.well-known/jwks.json`,
        port: p,
        hits: () => hits,
        setKeys: (k) => { current = [...k]; },
        setCacheControl: (v) => { cacheControl = v; },
        setStatus: (s) => { status = s; },
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

/** A logger that keeps its lines (level, object, message) for assertions. */
export function memoryLog() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' }); };
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
