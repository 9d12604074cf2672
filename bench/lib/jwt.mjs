// The JWT case's policy, secret and token, made fresh for each run (nothing secret is stored).
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

const secret = randomBytes(48).toString('base64url');
const token = await new SignJWT({ sub: 'bench-user', scope: 'bench:read' })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuer('https://bench.local')
  .setAudience('bench')
  .setIssuedAt()
  .setExpirationTime('6h')
  .sign(new TextEncoder().encode(secret));

export const BENCH_JWT = {
  secret,
  token,
  policyYaml: [
    'authPolicies:',
    '  - id: bench-jwt',
    '    jwt:',
    '      issuer: https://bench.local',
    '      audiences: [bench]',
    '      algorithms: [HS256]',
    '      keys:',
    '        - secret: ${BENCH_JWT_SECRET}',
    '      claimsToHeaders: { sub: X-User-Id }',
  ].join('\n'),
};
