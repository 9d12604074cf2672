/** Real upstream HTTP servers on loopback for integration tests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';

export interface Upstream {
  readonly port: number;
  readonly server: Server;
  /** Requests seen, in order. */
  readonly seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; bodyBytes: number }>;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An upstream that reads the whole body, records the request, then calls `handler` (default: JSON echo). */
export function startUpstream(handler?: Handler, opts: { readBody?: boolean } = {}): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer((req, res) => {
    if (opts.readBody === false) {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes: -1 });
      (handler ?? echo)(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes: body.length });
      (handler ?? echo)(req, res, body);
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port, server, seen,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

export function echo(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const addr = req.socket.localPort;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ port: addr, method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length }));
}

/**
 * A byte recorder in front of an upstream: a TCP relay whose address goes into the gateway's
 * configuration, so a test sees exactly the bytes the gateway wrote on each upstream
 * connection (the upstream's own parser would hide a second request or a doubled header).
 */
/**
 * Answer with `total` bytes of `chunk` repeated (the last piece cut short) and a Content-Length,
 * writing as fast as the socket drains: a large download that honours backpressure.
 */
export function sendRepeated(res: ServerResponse, chunk: Buffer, total: number): void {
  res.setHeader('content-length', String(total));
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

export interface ByteTap {
  readonly port: number;
  /** Bytes received from the gateway, one latin1 string per connection, in accept order. */
  readonly connections: string[];
  /** Everything received so far, all connections concatenated. */
  all(): string;
  close(): Promise<void>;
}

export function startByteTap(targetPort: number): Promise<ByteTap> {
  const connections: string[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const index = connections.push('') - 1;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.on('data', (d: Buffer) => { connections[index] += d.toString('latin1'); upstream.write(d); });
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as { port: number }).port,
        connections,
        all: () => connections.join(''),
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
