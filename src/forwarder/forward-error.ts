import type { ForwardError, ForwardErrorCode } from './types.js';

/** Builds the value handed to `ResponseHandler.onError`; failures are values, never thrown. */
export function forwardError(
  code: ForwardErrorCode,
  message: string,
  retryable: boolean,
  responseStarted: boolean,
): ForwardError {
  return { code, message, retryable, responseStarted };
}
