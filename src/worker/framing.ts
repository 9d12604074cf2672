/**
 * Request framing checks (RFC 9112 §6), run by the pipeline's phase 3 on the headers uWS
 * handed over. uWS has already chosen how to read the body: any Transfer-Encoding field makes
 * it read chunked, whatever its value. The gateway forwards a body only when that choice is
 * the one the HTTP spec makes, and always re-frames it itself (one `transfer-encoding:
 * chunked` or one `content-length`), so the upstream never sees the client's framing.
 */
import type { ErrorCode } from '../errors.js';
import { equalsIgnoreAsciiCase } from '../routing/path.js';

/**
 * The verdict on a request's Transfer-Encoding (all its fields joined with `,`): null when the
 * list is exactly `chunked` (any case, optional whitespace, empty list elements ignored as
 * RFC 9110 §5.6.1 asks); otherwise the error to answer, after which the connection must close
 * because the body's length is unknown:
 * - chunked missing, or not the final coding (`chunked, identity`, `xchunked`, `identity`): the
 *   length cannot be determined, 400 (RFC 9112 §6.1, "MUST respond with 400 ... and close");
 * - chunked applied twice (`chunked, chunked`, two fields): 400 (RFC 9112 §7.1, "MUST NOT apply
 *   chunked more than once");
 * - another coding before a final chunked (`gzip, chunked`): 501, a coding the gateway does not
 *   forward (RFC 9112 §6.1, "SHOULD respond with 501"). Forwarding only `chunked` would hand the
 *   upstream a compressed body it was not told about.
 */
export function transferCodingError(value: string): ErrorCode | null {
  if (value.length === 7 && equalsIgnoreAsciiCase(value, 'chunked')) return null;
  const codings: string[] = [];
  for (const element of value.split(',')) {
    const coding = element.trim().toLowerCase();
    if (coding !== '') codings.push(coding);
  }
  const n = codings.length;
  if (n === 0 || codings[n - 1] !== 'chunked') return 'BAD_REQUEST';
  for (let i = 0; i < n - 1; i++) if (codings[i] === 'chunked') return 'BAD_REQUEST';
  return n === 1 ? null : 'TRANSFER_CODING_UNSUPPORTED';
}
