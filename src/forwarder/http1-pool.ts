import { DeadlineClock } from './deadline-clock.js';
import { Http1Connection, type ConnectionOwner, type ConnectionSettings } from './http1-connection.js';
import { Http1Exchange } from './http1-exchange.js';
import type {
  Exchange,
  ForwardRequest,
  ResponseHandler,
  UpstreamPool,
  UpstreamPoolOptions,
  UpstreamTarget,
} from './types.js';

/**
 * Size of the read buffer shared by all sockets of a pool. Sharing is safe because a read is
 * delivered synchronously to one socket's callback before libuv reads the next one; whatever
 * must outlive the callback is copied (header strings, the parser's carry). 64 KiB is what
 * Node reads per call anyway.
 */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * A keep-alive pool of HTTP/1.1 connections to one upstream, built for the relay's hot path
 * (see BENCH.md: the general-purpose client was most of the distance to nginx).
 *
 * - Idle connections form a LIFO stack: the most recently used socket is the warmest and the
 *   least likely to have been closed by the upstream's own keep-alive timeout; the ones at
 *   the bottom age out through `idleTimeoutMs`.
 * - There is no queue and no connection limit: a request takes an idle connection or opens
 *   one. Limiting concurrency is the caller's policy.
 * - No callback is ever made synchronously from inside `request()`.
 * - All deadlines of all connections are checked by one coarse clock (DeadlineClock), which
 *   runs only while the pool has connections.
 */
export class Http1Pool implements UpstreamPool {
  readonly target: UpstreamTarget;
  readonly #clock: DeadlineClock;
  /** The pool as its connections see it; kept off the public API. */
  readonly #owner: ConnectionOwner;
  readonly #options: UpstreamPoolOptions;
  readonly #settings: ConnectionSettings;
  readonly #readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  /** Every open connection, idle or busy. */
  readonly #open = new Set<Http1Connection>();
  /** Idle connections; the top of the stack is the end of the array. */
  readonly #idle: Http1Connection[] = [];
  #closed = false;

  constructor(target: UpstreamTarget, options: UpstreamPoolOptions) {
    this.target = target;
    this.#options = options;
    this.#settings = {
      connectTimeoutMs: options.connectTimeoutMs,
      maxResponseHeadBytes: options.maxResponseHeadBytes,
    };
    const clock = new DeadlineClock((tick) => this.#sweep(tick));
    this.#clock = clock;
    const open = this.#open;
    const idle = this.#idle;
    this.#owner = {
      clock,
      inFlight: () => open.size - idle.length,
      release: (conn) => this.#release(conn),
      forget: (conn, wasIdle) => this.#forget(conn, wasIdle),
      retryOnFresh: (exchange) => this.#retryOnFresh(exchange),
    };
  }

  get openConnections(): number {
    return this.#open.size;
  }

  /** Idle connections on the stack, for status and tests. */
  get idleConnections(): number {
    return this.#idle.length;
  }

  request(req: ForwardRequest, handler: ResponseHandler): Exchange {
    const exchange = new Http1Exchange(req, handler);
    if (this.#closed) {
      queueMicrotask(() => exchange.fail('UPSTREAM_CONNECT_FAILED', 'the upstream pool is closed', true));
      return exchange;
    }
    const conn = this.#idle.pop() ?? this.#connect();
    conn.assign(exchange);
    return exchange;
  }

  close(): void {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    for (const conn of idle) conn.close();
  }

  // --- What connections call (through #owner) ---

  #release(conn: Http1Connection): void {
    if (this.#closed || this.#idle.length >= this.#options.maxIdleConnections) {
      conn.close();
      return;
    }
    conn.markIdle(this.#options.idleTimeoutMs);
    this.#idle.push(conn);
  }

  #forget(conn: Http1Connection, wasIdle: boolean): void {
    this.#open.delete(conn);
    if (wasIdle) {
      const i = this.#idle.lastIndexOf(conn);
      if (i >= 0) this.#idle.splice(i, 1);
    }
    if (this.#open.size === 0) this.#clock.stop();
  }

  #retryOnFresh(exchange: Http1Exchange): void {
    if (this.#closed) {
      exchange.fail('UPSTREAM_RESET', 'the upstream closed a reused connection and the pool is closed', true);
      return;
    }
    this.#connect().assign(exchange);
  }

  #connect(): Http1Connection {
    const conn = new Http1Connection(this.#owner, this.target, this.#readBuffer, this.#settings);
    this.#open.add(conn);
    this.#clock.start();
    return conn;
  }

  #sweep(tick: number): void {
    // Deleting from a Set while iterating it is safe: removed entries are not visited.
    for (const conn of this.#open) conn.checkDeadline(tick);
  }
}
