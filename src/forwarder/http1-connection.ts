import net from 'node:net';
import type { DeadlineClock } from './deadline-clock.js';
import type { Http1Exchange } from './http1-exchange.js';
import {
  PARSE_BODY,
  PARSE_COMPLETE,
  PARSE_ERROR,
  PARSE_HEAD,
  PARSE_NEED_MORE,
  ResponseParser,
} from './response-parser.js';
import type { ForwardErrorCode, UpstreamTarget } from './types.js';

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  readonly clock: DeadlineClock;
  /** Exchanges in flight on the pool's connections, the one being assigned included. */
  inFlight(): number;
  /** The exchange finished cleanly and the connection may carry another one. */
  release(conn: Http1Connection): void;
  /** The connection is closed: drop it from every list. Called once per connection. */
  forget(conn: Http1Connection, wasIdle: boolean): void;
  /** A reused connection went stale under a body-less request: send it again, once, fresh. */
  retryOnFresh(exchange: Http1Exchange): void;
}

export interface ConnectionSettings {
  readonly connectTimeoutMs: number;
  readonly maxResponseHeadBytes: number;
}

// What the single deadline of a connection currently guards.
const DL_NONE = 0;
const DL_CONNECT = 1;
const DL_HEAD = 2;
const DL_BODY = 3;
const DL_IDLE = 4;

const CARRY_MIN_BYTES = 4096;

/**
 * Body-less request heads under load. A head is *counted* when its pool has another exchange
 * in flight. When the last turn of the event loop that counted heads counted more than one,
 * this turn's counted heads are held and written together once its I/O callbacks have run
 * (setImmediate: the check phase follows the poll phase, and the poll phase does not block
 * while an immediate is pending); every other head is written at once.
 *
 * Why: an upstream that answers faster than the gateway forwards is asleep in epoll when each
 * head arrives, and a write that wakes a sleeping reader is the most expensive syscall of a
 * request (the wake-up; `perf` on this kind of VM put a third of the worker's kernel time
 * there). Under load a turn carries many requests: written back to back, their heads wake the
 * upstream once. At a moderate rate a request is alone in its turn and is written at once, so
 * the upstream works on it while the gateway finishes the turn. docs/performance.md, change 13.
 *
 * Only counted heads schedule the turn's end: a request alone on its upstream cannot share
 * that upstream's wake-up with anyone, and the immediate would cost it a check-phase callback
 * (~2,000 instructions, change 19).
 *
 * The held connections sit in slots [0, heldCount) of `held`, which is reused turn after turn
 * (setting an array's length to 0 frees its backing store and is a call into V8's runtime);
 * `spare` takes over while a batch is being written, in case a write leads to a new request.
 */
let held: Array<Http1Connection | null> = [];
let heldCount = 0;
let spare: Array<Http1Connection | null> = [];
/** An immediate is pending: it ends the current turn's count (and writes its batch). */
let turnEndScheduled = false;
/** Counted body-less heads started in the current turn. */
let turnHeads = 0;
/** The last turn that counted heads (its immediate ran) counted more than one: this turn's counted heads are held. */
let batching = false;

function endTurn(): void {
  const batch = held;
  const n = heldCount;
  held = spare;
  spare = batch;
  heldCount = 0;
  turnEndScheduled = false;
  batching = turnHeads > 1;
  turnHeads = 0;
  for (let i = 0; i < n; i++) {
    const conn = batch[i] as Http1Connection;
    batch[i] = null;
    conn.writePendingHead();
  }
}

/** nextTick callback: releases the cork taken when a request with a body was started. */
function flushCork(conn: Http1Connection): void {
  conn.flushCork();
}

/**
 * One keep-alive socket to the upstream and the exchange it currently carries.
 *
 * Reading: the socket uses `onread` with the pool's shared read buffer, so a read is one
 * callback with no Buffer allocated and no stream machinery. Bytes the parser could not
 * consume yet (a partial line, or the rest of a read after the handler paused) are copied
 * into `#carry` and parsed first on the next read or on resume.
 *
 * Life cycle: connecting -> busy (exchange set) -> idle (in the pool's stack, reading so that
 * a close or stray bytes are seen at once) -> busy ... -> closed. `#closed` turns true exactly
 * once, in `#destroy()`, which is also where the owner forgets the connection; so the pool's
 * counts are right synchronously, not only after the socket's 'close' event.
 *
 * Timers: one deadline number per connection (see DeadlineClock), re-armed by plain writes.
 */
export class Http1Connection {
  readonly #owner: ConnectionOwner;
  readonly #socket: net.Socket;
  readonly #parser: ResponseParser;
  readonly #readBuffer: Buffer;

  #exchange: Http1Exchange | null = null;
  #connected = false;
  #closed = false;
  #idle = false;
  #served = 0;
  #corked = false;
  #readPaused = false;
  #lastError: Error | null = null;

  #deadlineKind = DL_NONE;
  #deadline = 0;
  #headTicks = 0;
  /** Body idle ticks for the current exchange; 0 = no body idle timeout. */
  #bodyTicks = 0;

  /** Unparsed bytes live in #carry[#carryStart, #carryEnd). */
  #carry: Buffer | null = null;
  #carryStart = 0;
  #carryEnd = 0;

  /** A body-less request's head, held to the turn's end (see endTurn). */
  #pendingHead: string | null = null;

  constructor(owner: ConnectionOwner, target: UpstreamTarget, readBuffer: Buffer, settings: ConnectionSettings) {
    this.#owner = owner;
    this.#readBuffer = readBuffer;
    this.#parser = new ResponseParser(settings.maxResponseHeadBytes);
    this.#arm(DL_CONNECT, owner.clock.ticksFor(settings.connectTimeoutMs));
    this.#socket = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      // EOF is handled here (a body may end with the close); Node must not end our side.
      allowHalfOpen: true,
      onread: { buffer: readBuffer, callback: (nread: number) => this.#onRead(nread) },
    });
    this.#socket.on('connect', () => this.#onConnect());
    this.#socket.on('end', () => this.#onEof());
    this.#socket.on('error', (err: Error) => { this.#lastError = err; });
    this.#socket.on('close', () => this.#onClose());
    this.#socket.on('drain', () => this.#exchange?.drained());
  }

  /** Start `exchange` on this connection: writes the request head (and frames what follows). */
  assign(exchange: Http1Exchange): void {
    const reused = this.#served > 0;
    this.#served++;
    this.#idle = false;
    this.#exchange = exchange;
    exchange.attach(this, reused);
    const request = exchange.request;
    const clock = this.#owner.clock;
    this.#parser.start(exchange.isHeadRequest);
    this.#headTicks = request.headTimeoutMs > 0 ? clock.ticksFor(request.headTimeoutMs) : 0;
    this.#bodyTicks = request.bodyIdleTimeoutMs > 0 ? clock.ticksFor(request.bodyIdleTimeoutMs) : 0;
    if (this.#connected) this.#armHeadIfSent(exchange);

    if (request.bodyMode === 'none') {
      if (this.#owner.inFlight() > 1) {
        if (!turnEndScheduled) {
          turnEndScheduled = true;
          setImmediate(endTurn);
        }
        turnHeads++;
        if (batching) {
          this.#pendingHead = request.head;
          held[heldCount++] = this;
          return;
        }
      }
      this.#socket.write(request.head, 'utf8');
      return;
    }
    // Hold the head until the body written in this same tick joins it: one writev, one
    // syscall for the common "head + small body + end" sequence. endBody() or the next tick
    // releases the cork, whichever comes first.
    this.#socket.cork();
    this.#corked = true;
    this.#socket.write(request.head, 'utf8');
    process.nextTick(flushCork, this);
  }

  /** The turn has ended: this connection's held head, unless it closed meanwhile (an abort). */
  writePendingHead(): void {
    const head = this.#pendingHead;
    this.#pendingHead = null;
    if (head !== null && !this.#closed) this.#socket.write(head, 'utf8');
  }

  flushCork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  }

  writeBody(chunk: Uint8Array, chunked: boolean): boolean {
    const socket = this.#socket;
    if (!chunked) return socket.write(chunk);
    socket.cork();
    socket.write(chunk.byteLength.toString(16) + '\r\n', 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  endBody(exchange: Http1Exchange, chunked: boolean): void {
    if (exchange !== this.#exchange) return;
    if (chunked) this.#socket.write('0\r\n\r\n', 'latin1');
    this.flushCork();
    if (this.#connected) this.#armHeadIfSent(exchange);
  }

  /** The caller aborted, or its handler threw: no further callback, never reused. */
  abandon(exchange: Http1Exchange): void {
    if (exchange !== this.#exchange) return;
    this.#exchange = null;
    this.#destroy();
  }

  resume(exchange: Http1Exchange): void {
    if (exchange !== this.#exchange || !this.#readPaused) return;
    this.#readPaused = false;
    if (this.#bodyTicks > 0) this.#arm(DL_BODY, this.#bodyTicks);
    const keepReading = this.#carryEnd > this.#carryStart
      ? this.#run(exchange, this.#carry as Buffer, this.#carryStart, this.#carryEnd, true)
      : true;
    if (keepReading && !this.#closed) this.#socket.resume();
  }

  /** The owner put this connection on its idle stack. */
  markIdle(idleTimeoutMs: number): void {
    this.#idle = true;
    this.#arm(DL_IDLE, this.#owner.clock.ticksFor(idleTimeoutMs));
  }

  /** Close without a callback to anyone (idle eviction, pool close). */
  close(): void {
    if (this.#exchange !== null) return;
    this.#destroy();
  }

  /** Called on each clock tick by the owner. */
  checkDeadline(tick: number): void {
    if (this.#deadlineKind === DL_NONE || tick <= this.#deadline) return;
    switch (this.#deadlineKind) {
      case DL_CONNECT:
        this.#failExchange('UPSTREAM_CONNECT_TIMEOUT', 'connecting to the upstream timed out', true);
        return;
      case DL_HEAD:
        this.#failExchange('UPSTREAM_HEAD_TIMEOUT', 'the upstream did not send a response head in time', false);
        return;
      case DL_BODY:
        this.#failExchange('UPSTREAM_BODY_TIMEOUT', 'the upstream stalled while sending the body', false);
        return;
      default:
        this.#destroy();
    }
  }

  #arm(kind: number, ticks: number): void {
    this.#deadlineKind = kind;
    this.#deadline = this.#owner.clock.now + ticks;
  }

  /**
   * The head timer runs from the moment the whole request is on its way until the head
   * arrives; while the caller still streams the body there is none (the upstream normally
   * answers only after the body). Once the head is in, the body timer is in charge.
   */
  #armHeadIfSent(exchange: Http1Exchange): void {
    if (exchange.responseStarted) return;
    if (exchange.requestEnded && this.#headTicks > 0) this.#arm(DL_HEAD, this.#headTicks);
    else this.#deadlineKind = DL_NONE;
  }

  #onConnect(): void {
    this.#connected = true;
    const exchange = this.#exchange;
    if (exchange === null) {
      this.#deadlineKind = DL_NONE;
      return;
    }
    this.#armHeadIfSent(exchange);
  }

  /** onread callback; the bytes are in the shared read buffer. Returns false to stop reading. */
  #onRead(nread: number): boolean {
    const exchange = this.#exchange;
    if (exchange === null) {
      // Bytes nobody asked for on an idle connection: its framing can no longer be trusted.
      this.#destroy();
      return false;
    }
    exchange.noteResponseBytes();
    if (this.#deadlineKind === DL_BODY) this.#deadline = this.#owner.clock.now + this.#bodyTicks;
    if (this.#carryEnd > this.#carryStart) {
      this.#appendCarry(this.#readBuffer, nread);
      return this.#run(exchange, this.#carry as Buffer, this.#carryStart, this.#carryEnd, true);
    }
    return this.#run(exchange, this.#readBuffer, 0, nread, false);
  }

  /**
   * Feeds buf[start, end) to the parser and acts on its events. Returns whether the socket
   * should keep reading. `fromCarry`: buf is #carry itself.
   */
  #run(exchange: Http1Exchange, buf: Buffer, start: number, end: number, fromCarry: boolean): boolean {
    const parser = this.#parser;
    let off = start;
    for (;;) {
      const event = parser.execute(buf, off, end);
      off = parser.offset;
      switch (event) {
        case PARSE_NEED_MORE:
          this.#keep(buf, off, end, fromCarry);
          exchange.readEnd();
          return this.#exchange === exchange;
        case PARSE_HEAD:
          if (parser.hasBody && this.#bodyTicks > 0) this.#arm(DL_BODY, this.#bodyTicks);
          else this.#deadlineKind = DL_NONE;
          exchange.deliverHead(parser);
          if (this.#exchange !== exchange) return false;
          continue;
        case PARSE_BODY: {
          const more = exchange.deliverData(buf.subarray(parser.bodyStart, parser.bodyEnd));
          if (this.#exchange !== exchange) return false;
          if (!more && !parser.messageDone) {
            this.#keep(buf, off, end, fromCarry);
            this.#readPaused = true;
            // The handler's backpressure is not the upstream stalling.
            this.#deadlineKind = DL_NONE;
            return false;
          }
          continue;
        }
        case PARSE_COMPLETE:
          this.#complete(exchange, off < end);
          return !this.#closed;
        case PARSE_ERROR:
          this.#failExchange(parser.errorCode, parser.errorMessage, false);
          return false;
        default:
          return false;
      }
    }
  }

  /** Keep buf[off, end) for the next round; see ResponseParser's carry invariant. */
  #keep(buf: Buffer, off: number, end: number, fromCarry: boolean): void {
    if (off === end) {
      this.#carryStart = this.#carryEnd = 0;
      return;
    }
    if (fromCarry) {
      this.#carryStart = off;
      return;
    }
    this.#carryStart = this.#carryEnd = 0;
    this.#appendCarry(buf.subarray(off, end), end - off);
  }

  /** Appends src[0, n) to the carry, compacting or growing it (doubling keeps it linear). */
  #appendCarry(src: Buffer, n: number): void {
    const kept = this.#carryEnd - this.#carryStart;
    let carry = this.#carry;
    if (carry === null || carry.length - this.#carryEnd < n) {
      if (carry !== null && carry.length >= kept + n) {
        carry.copyWithin(0, this.#carryStart, this.#carryEnd);
      } else {
        const grown = Buffer.allocUnsafe(Math.max(CARRY_MIN_BYTES, 2 * (kept + n)));
        if (carry !== null) carry.copy(grown, 0, this.#carryStart, this.#carryEnd);
        this.#carry = carry = grown;
      }
      this.#carryStart = 0;
      this.#carryEnd = kept;
    }
    src.copy(carry, this.#carryEnd, 0, n);
    this.#carryEnd += n;
  }

  /**
   * The response is complete. The connection is released (or destroyed) before onEnd runs,
   * so a request started from inside onEnd can already reuse it.
   */
  #complete(exchange: Http1Exchange, leftover: boolean): void {
    this.#exchange = null;
    this.#carryStart = this.#carryEnd = 0;
    this.#deadlineKind = DL_NONE;
    // Reusable only when both directions ended on a message boundary: the response was read
    // to its end with nothing after it, and the whole request went out.
    if (this.#parser.keepAlive && !leftover && exchange.requestEnded && !this.#closed) {
      this.#owner.release(this);
    } else {
      this.#destroy();
    }
    exchange.finish(this.#parser.trailers);
  }

  #failExchange(code: ForwardErrorCode, message: string, retryable: boolean): void {
    const exchange = this.#exchange;
    this.#exchange = null;
    this.#destroy();
    exchange?.fail(code, message, retryable);
  }

  #onEof(): void {
    const exchange = this.#exchange;
    if (exchange !== null && this.#parser.finishAtEof()) {
      this.#complete(exchange, false);
      return;
    }
    this.#upstreamGone();
  }

  #onClose(): void {
    this.#upstreamGone();
  }

  /** The upstream closed or reset the connection, or connecting failed. */
  #upstreamGone(): void {
    const exchange = this.#exchange;
    this.#exchange = null;
    this.#destroy();
    if (exchange === null) return;
    const cause = this.#lastError === null ? '' : `: ${this.#lastError.message}`;
    if (!this.#connected) {
      exchange.fail('UPSTREAM_CONNECT_FAILED', `connecting to the upstream failed${cause}`, true);
      return;
    }
    // The stale keep-alive race: the upstream closed an idle connection just as we reused it.
    // Nothing of the response arrived, so the upstream did not process the request.
    const stale = exchange.reused && !exchange.responseBytes;
    if (stale && exchange.request.bodyMode === 'none' && !exchange.retried) {
      exchange.markRetried();
      this.#owner.retryOnFresh(exchange);
      return;
    }
    exchange.fail(
      'UPSTREAM_RESET',
      `the upstream closed the connection before the response was complete${cause}`,
      stale && exchange.bodyBytesWritten === 0,
    );
  }

  #destroy(): void {
    if (this.#closed) return;
    const wasIdle = this.#idle;
    this.#closed = true;
    this.#idle = false;
    this.#deadlineKind = DL_NONE;
    this.#corked = false;
    this.#socket.destroy();
    this.#owner.forget(this, wasIdle);
  }
}
