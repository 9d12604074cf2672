import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Http1Pool } from '../../src/forwarder/http1-pool.js';
import type {
  Exchange,
  ForwardError,
  ForwardRequest,
  RequestBodyMode,
  UpstreamPoolOptions,
} from '../../src/forwarder/types.js';

export interface TestServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Everything a test created, closed by closeAll(): pools first, then servers. */
const openPools: Http1Pool[] = [];
const openServers: TestServer[] = [];

/** Register with `afterEach(closeAll)`: a test never leaks a pool or a server into the next. */
export async function closeAll(): Promise<void> {
  for (const p of openPools.splice(0)) p.close();
  for (const s of openServers.splice(0)) await s.close();
}

/** Listen on an ephemeral loopback port; `sockets` are destroyed on close. */
async function listen(server: net.Server, sockets: Set<net.Socket>, connections: () => number): Promise<TestServer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const test: TestServer = {
    port: (server.address() as net.AddressInfo).port,
    get connections() { return connections(); },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  openServers.push(test);
  return test;
}

/** A raw TCP server on 127.0.0.1 that writes exactly the bytes a test tells it to. */
export async function rawServer(onConnection: (socket: net.Socket, index: number) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket, connections++);
  });
  return listen(server, sockets, () => connections);
}

/** A raw server that answers every complete request head on a connection with `response`. */
export function respondToEachRequest(response: string | ((n: number) => string)) {
  return (socket: net.Socket): void => {
    let pending = '';
    let n = 0;
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        pending = pending.slice(end + 4);
        socket.write(typeof response === 'string' ? response : response(n), 'latin1');
        n++;
      }
    });
  };
}

export async function httpServer(handler: http.RequestListener): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return listen(server, sockets, () => connections);
}

export const defaultOptions: UpstreamPoolOptions = {
  maxIdleConnections: 16,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 2_000,
  maxResponseHeadBytes: 16 * 1024,
};

export function pool(port: number, options: Partial<UpstreamPoolOptions> = {}): Http1Pool {
  const p = new Http1Pool({ host: '127.0.0.1', port }, { ...defaultOptions, ...options });
  openPools.push(p);
  return p;
}

export function forwardRequest(
  method = 'GET',
  options: { path?: string; bodyMode?: RequestBodyMode; headers?: string; headTimeoutMs?: number; bodyIdleTimeoutMs?: number } = {},
): ForwardRequest {
  const bodyMode = options.bodyMode ?? 'none';
  return {
    method,
    head: `${method} ${options.path ?? '/'} HTTP/1.1\r\nHost: upstream.test\r\n${options.headers ?? ''}\r\n`,
    bodyMode,
    headTimeoutMs: options.headTimeoutMs ?? 5_000,
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs ?? 5_000,
  };
}

export interface Outcome {
  status?: number;
  statusMessage?: string;
  headers?: string[];
  hasBody?: boolean;
  body: Buffer;
  trailers?: string[] | null;
  error?: ForwardError;
  /** Every callback in order, to check "exactly once" and "nothing after". */
  calls: string[];
}

/** Runs one exchange to its end and records everything the handler saw. */
export function exchange(
  p: Http1Pool,
  req: ForwardRequest,
  options: { body?: (ex: Exchange) => void; onData?: (chunk: Buffer, ex: Exchange) => boolean } = {},
): Promise<Outcome> & { exchange: Exchange } {
  const outcome: Outcome = { body: Buffer.alloc(0), calls: [] };
  const parts: Buffer[] = [];
  let ex!: Exchange;
  const promise = new Promise<Outcome>((resolve) => {
    ex = p.request(req, {
      onHead(head) {
        outcome.calls.push('head');
        Object.assign(outcome, { status: head.statusCode, statusMessage: head.statusMessage, headers: head.headers, hasBody: head.hasBody });
      },
      onData(chunk) {
        outcome.calls.push('data');
        parts.push(Buffer.from(chunk));
        return options.onData ? options.onData(chunk, ex) : true;
      },
      onEnd(trailers) {
        outcome.calls.push('end');
        outcome.trailers = trailers;
        outcome.body = Buffer.concat(parts);
        setTimeout(() => resolve(outcome), 20);
      },
      onError(error) {
        outcome.calls.push('error');
        outcome.error = error;
        outcome.body = Buffer.concat(parts);
        setTimeout(() => resolve(outcome), 20);
      },
    });
    options.body?.(ex);
  });
  return Object.assign(promise, { exchange: ex });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` until true or `timeoutMs` passes. */
export async function eventually(predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await sleep(10);
  }
}
