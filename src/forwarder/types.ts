/**
 * The forwarder: the upstream side of the hot path, behind an interface of its own so that
 * the HTTP/1.1 client under it can be swapped and measured (see docs/performance.md).
 *
 * Contract
 * - The pipeline builds the complete request head (request line, headers with hop-by-hop
 *   removed, framing header set, terminating CRLF CRLF) and hands it over as one string of
 *   text, which the forwarder writes as UTF-8; it never looks inside the request head except
 *   for the method.
 * - Failures are values delivered to `onError` exactly once, never thrown, and never after
 *   `onEnd`. After `onEnd` or `onError` no further callback is made for that exchange.
 * - `retryable` is true only when the upstream cannot have processed the request:
 *   the connection was never established, or a reused keep-alive connection was closed
 *   before any byte of the response arrived and the request had no body in flight.
 */

/** An upstream origin. `key` identifies the pool (e.g. `127.0.0.1:9001`). */
export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
}

export type RequestBodyMode = 'none' | 'length' | 'chunked';

export interface ForwardRequest {
  /** Upper-case method; HEAD changes how the response is framed. */
  readonly method: string;
  /** `METHOD /path?query HTTP/1.1\r\n` + headers + `\r\n`, built by the pipeline; text, written as UTF-8. */
  readonly head: string;
  /**
   * How the body that follows is framed: `none` (nothing follows), `length` (the head carries
   * Content-Length; the caller writes exactly that many bytes), `chunked` (the head carries
   * Transfer-Encoding: chunked; the caller writes raw chunks and the forwarder frames them).
   */
  readonly bodyMode: RequestBodyMode;
  /** Time allowed from sending the request until the response head is complete. */
  readonly headTimeoutMs: number;
  /** Time allowed between two reads of the response body. 0 = none. */
  readonly bodyIdleTimeoutMs: number;
}

export type ForwardErrorCode =
  | 'UPSTREAM_CONNECT_FAILED'   // refused, unreachable, DNS
  | 'UPSTREAM_CONNECT_TIMEOUT'
  | 'UPSTREAM_RESET'            // closed or reset before the response was complete
  | 'UPSTREAM_HEAD_TIMEOUT'
  | 'UPSTREAM_BODY_TIMEOUT'
  | 'UPSTREAM_PROTOCOL'         // invalid HTTP from the upstream
  | 'UPSTREAM_HEADERS_TOO_LARGE'
  | 'UPSTREAM_ABORTED';         // the caller aborted (client went away)

export interface ForwardError {
  readonly code: ForwardErrorCode;
  readonly message: string;
  /** See the contract above. */
  readonly retryable: boolean;
  /** Whether any byte of the response had been delivered to the handler (onHead called). */
  readonly responseStarted: boolean;
}

/**
 * A final (non-1xx) response head as the parser read it. The object itself is the parser's
 * and moves on to the next response: read it during `onHead`. The arrays may be kept but never
 * written to: a head whose every line repeats the connection's last such head hands over the
 * same arrays again.
 */
export interface ResponseHead {
  readonly statusCode: number;
  readonly statusMessage: string;
  /**
   * Flat: [name, value, name, value, ...], names and values exactly as received
   * (latin1-decoded), hop-by-hop headers included; filtering is the pipeline's job.
   */
  readonly headers: readonly string[];
  /**
   * Index for index with `headers`: the exact bytes of a name or value when the parser has
   * them as an immutable array (common names; lines the connection saw before), else null.
   */
  readonly headerBytes: ReadonlyArray<Uint8Array | null>;
  /** Every value is ASCII (no byte above 0x7f), so no value needs re-encoding. */
  readonly headersAscii: boolean;
  /** False for HEAD, 204, 304. */
  readonly hasBody: boolean;
  /** The Content-Length the head declared (validated), or -1: none, or Transfer-Encoding frames the body. */
  readonly contentLength: number;
  /**
   * The handler's own slot on this connection's heads: what it derived from an earlier head
   * and may reuse when the next one repeats it (the pipeline keeps the relayed head block
   * here). The forwarder never reads it; it starts null and lives as long as the connection.
   */
  relayMemo: unknown;
}

export interface ResponseHandler {
  onHead(head: ResponseHead): void;
  /**
   * A piece of the de-chunked body. The buffer may be reused after the call returns: copy it
   * or consume it synchronously. Return false to pause reading from the upstream until
   * `exchange.resume()`.
   */
  onData(chunk: Buffer): boolean;
  /**
   * Optional. The upstream's bytes read so far are consumed and the response is not complete:
   * more is awaited from the network. Called after each such read once the head was delivered
   * (a head that arrives with its whole body never sees it). A handler that holds the head
   * back, to write it together with the first body bytes, writes it now.
   */
  onReadEnd?(): void;
  /** The body is complete. `trailers` is flat like headers, or null. */
  onEnd(trailers: string[] | null): void;
  onError(error: ForwardError): void;
}

export interface Exchange {
  /** Write request body bytes. Returns false when the socket buffer is full: wait for `onDrain`. */
  writeBody(chunk: Uint8Array): boolean;
  /** No more request body (writes the last chunk when chunked). */
  endBody(): void;
  /** Abort: the connection is destroyed (never reused) and `onError(UPSTREAM_ABORTED)` is not called. */
  abort(): void;
  /** Resume reading the response after `onData` returned false. */
  resume(): void;
  /** Called once when a full socket buffer has drained after `writeBody` returned false. */
  onDrain: (() => void) | null;
}

export interface UpstreamPoolOptions {
  /** Idle keep-alive connections kept per pool. */
  readonly maxIdleConnections: number;
  /** Idle connections are closed after this long. */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Response head (status line + headers) limit in bytes. */
  readonly maxResponseHeadBytes: number;
}

export interface UpstreamPool {
  readonly target: UpstreamTarget;
  request(req: ForwardRequest, handler: ResponseHandler): Exchange;
  /** Close idle connections and refuse new requests; in-flight ones finish. */
  close(): void;
  /** Connections open (idle + busy), for status and tests. */
  readonly openConnections: number;
}
