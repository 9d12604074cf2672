/**
 * The metrics endpoint: node:http on the primary thread, GATEWAY_METRICS_HOST:GATEWAY_METRICS_PORT.
 * `GET /metrics` is one scrape of the whole instance (every worker); `GET /` says so.
 *
 * It runs on the primary, so scraping never takes time from a thread that serves traffic.
 * Failing to listen (the port is taken, e.g. by a second instance on the host) is logged and
 * the gateway serves on without the endpoint: metrics never stop traffic.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import { InstanceMetrics, type MetricsSources, type RedisConnected } from './instance-metrics.js';

export interface MetricsServerSettings {
  readonly metricsPort: number;
  readonly metricsHost: string;
}

export interface MetricsServer {
  readonly metrics: InstanceMetrics;
  /** The port listened on, or null when listening failed. */
  readonly port: number | null;
  close(): Promise<void>;
}

const INDEX = 'Fengling Gateway metrics\n\nGET /metrics   Prometheus text format, every worker of this instance\n';

/**
 * Start the endpoint; null when metrics are off (GATEWAY_METRICS_PORT=0). `redisConnected`
 * feeds fengling_redis_connected when the configuration comes from Redis.
 */
export async function startMetricsServer(sources: MetricsSources, settings: MetricsServerSettings, log: Logger,
  redisConnected: RedisConnected | null = null): Promise<MetricsServer | null> {
  if (settings.metricsPort === 0 || sources.metrics === null) return null;
  const metrics = new InstanceMetrics(sources, redisConnected);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : INDEX);
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; see /metrics\n');
      return;
    }
    metrics.render().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.error({ err }, 'rendering metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('rendering metrics failed\n');
      },
    );
  });
  // A scrape is short; do not let idle scraper connections hold the process at shutdown.
  server.keepAliveTimeout = 5_000;

  const port = await listen(server, settings.metricsPort, settings.metricsHost).catch((err: NodeJS.ErrnoException) => {
    log.error({ code: 'LISTEN_FAILED', err: err.message, host: settings.metricsHost, port: settings.metricsPort },
      'the metrics endpoint cannot listen; serving on without it');
    return null;
  });
  if (port !== null) log.info({ host: settings.metricsHost, port }, 'metrics endpoint listening');
  return {
    metrics,
    port,
    close: () => new Promise<void>((resolve) => {
      metrics.close();
      if (port === null) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
