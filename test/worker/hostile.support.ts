/**
 * Shared parts of the hostile-input suite: a raw client that writes bytes exactly as given,
 * and a strict reader of what the gateway wrote to an upstream (exactly one request, one
 * framing) written from RFC 9112, independent of the gateway's own code.
 */
import { connect } from 'node:net';

export interface RawExchange {
  /** Everything the gateway sent back, latin1. */
  readonly text: string;
  /** Status codes of the responses in `text`, in order. */
  readonly statuses: number[];
  /** The gateway closed the connection (rather than the client giving up). */
  readonly closed: boolean;
  /** Milliseconds from the write to the close (or to giving up). */
  readonly ms: number;
}

/**
 * Write `bytes` on a new connection; resolve when the gateway closes it, when a response has
 * arrived and nothing more came for `quietMs`, or after `maxMs` (then `closed` is false).
 * The quiet period only starts with the first byte received, so a loaded machine that answers
 * late is waited for up to `maxMs`.
 */
export function exchange(port: number, bytes: string, opts: { quietMs?: number; maxMs?: number } = {}): Promise<RawExchange> {
  const quietMs = opts.quietMs ?? 400;
  const maxMs = opts.maxMs ?? 10_000;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let quiet: NodeJS.Timeout | undefined;
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(quiet);
      clearTimeout(deadline);
      s.destroy();
      const statuses = [...text.matchAll(/(?:^|\r\n\r\n|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closed, ms: Date.now() - t0 });
    };
    const deadline = setTimeout(() => done(false), maxMs);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      clearTimeout(quiet);
      quiet = setTimeout(() => done(false), quietMs);
    });
    s.on('close', () => done(true));
    s.on('error', () => done(true));
    s.write(Buffer.from(bytes, 'latin1'));
  });
}

/** The body of a response in `text` (the first one). */
export function responseBody(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? '' : text.slice(end + 4);
}

export interface ForwardedRequest {
  readonly method: string;
  readonly target: string;
  /** Header lines as sent, lower-case names. */
  readonly headers: Array<[string, string]>;
  readonly framing: 'none' | 'length' | 'chunked';
  readonly body: string;
}

/**
 * Parse exactly one HTTP/1.1 request from the bytes an upstream received and throw unless the
 * bytes are exactly one complete request: CRLF line ends, a token method, an origin-form
 * target, no obs-fold, at most one of Content-Length / Transfer-Encoding (RFC 9112 §6.1) and
 * at most one of each, Transfer-Encoding exactly `chunked`, a complete body, nothing after it.
 */
export function parseOneRequest(bytes: string): ForwardedRequest {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no complete head in ${JSON.stringify(bytes.slice(0, 200))}`);
  const lines = bytes.slice(0, headEnd).split('\r\n');
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[^ ]*) HTTP\/1\.1$/.exec(lines[0]);
  if (!m) throw new Error(`invalid request line ${JSON.stringify(lines[0])}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!h || /[\r\n\0]/.test(line)) throw new Error(`invalid field line ${JSON.stringify(line)}`);
    headers.push([h[1].toLowerCase(), h[2]]);
  }
  const cl = headers.filter(([n]) => n === 'content-length');
  const te = headers.filter(([n]) => n === 'transfer-encoding');
  if (cl.length + te.length > 1) throw new Error(`ambiguous framing: ${JSON.stringify([...cl, ...te])}`);
  let rest = bytes.slice(headEnd + 4);
  let body = '';
  let framing: ForwardedRequest['framing'] = 'none';
  if (te.length === 1) {
    if (te[0][1] !== 'chunked') throw new Error(`transfer-encoding ${te[0][1]}`);
    framing = 'chunked';
    for (;;) {
      const sizeEnd = rest.indexOf('\r\n');
      const size = sizeEnd < 0 ? '' : rest.slice(0, sizeEnd);
      if (!/^[0-9a-fA-F]{1,8}$/.test(size)) throw new Error(`invalid chunk size ${JSON.stringify(rest.slice(0, 40))}`);
      const n = parseInt(size, 16);
      if (n === 0) {
        if (rest.slice(sizeEnd + 2, sizeEnd + 4) !== '\r\n') throw new Error('chunked body without its final CRLF (or with trailers)');
        rest = rest.slice(sizeEnd + 4);
        break;
      }
      const data = rest.slice(sizeEnd + 2, sizeEnd + 2 + n);
      if (data.length !== n || rest.slice(sizeEnd + 2 + n, sizeEnd + 4 + n) !== '\r\n') throw new Error('truncated chunk');
      body += data;
      rest = rest.slice(sizeEnd + 4 + n);
    }
  } else if (cl.length === 1) {
    if (!/^\d+$/.test(cl[0][1])) throw new Error(`content-length ${cl[0][1]}`);
    framing = 'length';
    const n = Number(cl[0][1]);
    body = rest.slice(0, n);
    if (body.length !== n) throw new Error('truncated body');
    rest = rest.slice(n);
  }
  if (rest !== '') throw new Error(`bytes after the request: ${JSON.stringify(rest.slice(0, 200))}`);
  return { method: m[1], target: m[2], headers, framing, body };
}
