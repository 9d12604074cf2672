/**
 * The authenticator factory the workers use. Until JWT validation lands (issue 4) every
 * policy fails closed: a route with an auth policy answers 503 AUTH_UNAVAILABLE and is never
 * forwarded unauthenticated.
 */
import type { AuthenticatorFactory, AuthOutcome } from './types.js';

const UNAVAILABLE: AuthOutcome = {
  ok: false, status: 503, code: 'AUTH_UNAVAILABLE',
  wwwAuthenticate: 'Bearer error="temporarily_unavailable"', detail: 'JWT validation is not available in this build',
};

export const createAuthenticator: AuthenticatorFactory = () => ({ check: () => UNAVAILABLE, close: () => undefined });
