import { forwardError } from './forward-error.js';
import type { Http1Connection } from './http1-connection.js';
import type {
  Exchange,
  ForwardError,
  ForwardErrorCode,
  ForwardRequest,
  ResponseHandler,
  ResponseHead,
} from './types.js';

/**
 * One request/response exchange: the handle the caller holds, and the only place that calls
 * the caller's `ResponseHandler`.
 *
 * Invariants
 * - `#done` turns true exactly once, just before `onEnd` or `onError` (or on `abort()`); no
 *   handler callback is made after it. That is what makes onError "exactly once, never after
 *   onEnd" hold whatever order the socket events come in.
 * - `#conn` is the connection currently carrying the exchange (it changes once on a stale
 *   keep-alive retry) and is null once done. The connection, for its part, forgets the
 *   exchange before it calls `finish`/`fail`, so its state is consistent whatever a handler
 *   does from inside the callback (start a request, abort, throw).
 * - Methods below "The connection's side" are for Http1Connection only; callers see this
 *   object through the `Exchange` interface.
 * - A handler that throws is treated as a caller bug: the connection is destroyed and the
 *   exchange ends with onError(UPSTREAM_ABORTED); an exception from onEnd/onError itself has
 *   no one left to go to and is reported with process.emitWarning.
 */
export class Http1Exchange implements Exchange {
  onDrain: (() => void) | null = null;

  readonly #request: ForwardRequest;
  readonly #handler: ResponseHandler;
  readonly #chunked: boolean;
  #conn: Http1Connection | null = null;
  #done = false;
  #requestEnded: boolean;
  #reused = false;
  #retried = false;
  #bodyBytesWritten = 0;
  #responseBytes = false;
  #responseStarted = false;
  #awaitingDrain = false;
  /** Bumped by every resume(); lets a resume() made inside onData cancel that call's pause. */
  #resumeCount = 0;

  constructor(request: ForwardRequest, handler: ResponseHandler) {
    this.#request = request;
    this.#handler = handler;
    this.#chunked = request.bodyMode === 'chunked';
    this.#requestEnded = request.bodyMode === 'none';
  }

  get request(): ForwardRequest { return this.#request; }
  get isHeadRequest(): boolean { return this.#request.method === 'HEAD'; }
  /** The whole request (head and body) has been handed to the socket. */
  get requestEnded(): boolean { return this.#requestEnded; }
  /** The connection had carried an exchange before this one. */
  get reused(): boolean { return this.#reused; }
  get retried(): boolean { return this.#retried; }
  get bodyBytesWritten(): number { return this.#bodyBytesWritten; }
  /** Some byte of a response (interim or final) has arrived on the current connection. */
  get responseBytes(): boolean { return this.#responseBytes; }
  get responseStarted(): boolean { return this.#responseStarted; }
  get done(): boolean { return this.#done; }

  // --- The caller's side (Exchange) ---

  /**
   * After the exchange has ended (the response completed early, or it failed) the bytes are
   * dropped and true is returned, so that a caller waiting for onDrain is never stranded.
   */
  writeBody(chunk: Uint8Array): boolean {
    const conn = this.#conn;
    if (conn === null || this.#requestEnded || chunk.byteLength === 0) return true;
    this.#bodyBytesWritten += chunk.byteLength;
    const ok = conn.writeBody(chunk, this.#chunked);
    if (!ok) this.#awaitingDrain = true;
    return ok;
  }

  endBody(): void {
    if (this.#requestEnded) return;
    this.#requestEnded = true;
    this.#conn?.endBody(this, this.#chunked);
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    const conn = this.#conn;
    this.#conn = null;
    conn?.abandon(this);
  }

  resume(): void {
    if (this.#done) return;
    this.#resumeCount++;
    this.#conn?.resume(this);
  }

  // --- The connection's side ---

  attach(conn: Http1Connection, reused: boolean): void {
    this.#conn = conn;
    this.#reused = reused;
    this.#responseBytes = false;
  }

  markRetried(): void {
    this.#retried = true;
  }

  noteResponseBytes(): void {
    this.#responseBytes = true;
  }

  deliverHead(head: ResponseHead): void {
    this.#responseStarted = true;
    try {
      this.#handler.onHead(head);
    } catch (err) {
      this.#handlerThrew(err);
    }
  }

  /** Returns false when the handler asked to pause (and did not resume meanwhile). */
  deliverData(chunk: Buffer): boolean {
    const resumes = this.#resumeCount;
    try {
      return this.#handler.onData(chunk) !== false || resumes !== this.#resumeCount;
    } catch (err) {
      this.#handlerThrew(err);
      return false;
    }
  }

  /** The read is consumed and the response not complete (see ResponseHandler.onReadEnd). */
  readEnd(): void {
    if (!this.#responseStarted || this.#handler.onReadEnd === undefined) return;
    try {
      this.#handler.onReadEnd();
    } catch (err) {
      this.#handlerThrew(err);
    }
  }

  drained(): void {
    if (!this.#awaitingDrain || this.#done) return;
    this.#awaitingDrain = false;
    const onDrain = this.onDrain;
    if (onDrain === null) return;
    try {
      onDrain();
    } catch (err) {
      this.#handlerThrew(err);
    }
  }

  finish(trailers: string[] | null): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn = null;
    try {
      this.#handler.onEnd(trailers);
    } catch (err) {
      reportLateHandlerError(err);
    }
  }

  fail(code: ForwardErrorCode, message: string, retryable: boolean): void {
    this.#deliverError(forwardError(code, message, retryable, this.#responseStarted));
  }

  #deliverError(error: ForwardError): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn = null;
    try {
      this.#handler.onError(error);
    } catch (err) {
      reportLateHandlerError(err);
    }
  }

  #handlerThrew(err: unknown): void {
    if (this.#done) {
      reportLateHandlerError(err);
      return;
    }
    const conn = this.#conn;
    this.#conn = null;
    conn?.abandon(this);
    const reason = err instanceof Error ? err.message : String(err);
    this.#deliverError(
      forwardError('UPSTREAM_ABORTED', `response handler threw: ${reason}`, false, this.#responseStarted),
    );
  }
}

function reportLateHandlerError(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'ForwarderHandlerError');
}
