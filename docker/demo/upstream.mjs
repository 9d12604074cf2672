/**
 * A demo upstream service for the compose stack (docker/compose.yaml) and its local twin
 * (scripts/compose-local.mjs): answers every request with a small JSON document naming the
 * service, so a caller can see which upstream served it. GET /healthz is what
 * `gatewayctl health watch --path /healthz` probes.
 *
 *   SERVICE_NAME (default "demo"), PORT (default 9000), HOST (default 0.0.0.0)
 *
 * SIGTERM/SIGINT close the server and exit 0.
 */
import { createServer } from 'node:http';

const service = process.env.SERVICE_NAME || 'demo';
const port = Number(process.env.PORT || 9000);
const host = process.env.HOST || '0.0.0.0';

const server = createServer((req, res) => {
  // Drain the request body (if any) before answering, so keep-alive connections stay usable.
  req.resume();
  req.on('end', () => {
    const body = req.url === '/healthz'
      ? '{"status":"ok"}\n'
      : JSON.stringify({ service, method: req.method, path: req.url, traceparent: req.headers.traceparent ?? null }) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-demo-service': service });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, host, () => {
  process.stdout.write(JSON.stringify({ msg: 'demo upstream listening', service, host, port }) + '\n');
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
