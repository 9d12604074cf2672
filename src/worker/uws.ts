/**
 * Loading uWebSockets.js. The npm build used here silently falls back to a slow JavaScript
 * implementation (with only a console warning) when its native binary cannot load; a gateway
 * running on the fallback would be an order of magnitude slower without saying so, so we
 * refuse to start instead (UWS_NOT_NATIVE).
 */
import { createRequire } from 'node:module';
import { GatewayError } from '../errors.js';

type Uws = typeof import('uWebSockets.js');
const require = createRequire(import.meta.url);

/** True when `App` is a function of the native addon. */
export function isNative(uws: Uws): boolean {
  return /\[native code\]/.test(Function.prototype.toString.call(uws.App));
}

export function loadNativeUws(): Uws {
  const uws = require('uWebSockets.js') as Uws;
  if (!isNative(uws)) {
    throw new GatewayError('UWS_NOT_NATIVE',
      `uWebSockets.js is running its JavaScript fallback (Node ABI ${process.versions.modules}, ${process.platform}-${process.arch}, ` +
      `UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? 'unset'}); refusing to start. Use Node.js 20 on linux-x64/arm64 with glibc.`);
  }
  return uws;
}
