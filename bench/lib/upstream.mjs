/**
 * The fixed upstream every case proxies to: ONE nginx worker pinned to CPU 0 with
 *   GET  /            200, 100-byte body (any path not listed below)
 *   GET  /large       200, 64 KiB body (static file)
 *   POST /post        200 "ok\n" after reading (discarding) a request body of up to 1 MiB
 *   GET  /__upstream_status   nginx stub_status (accepts/requests, for the keep-alive check)
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitReady, httpGet } from './proc.mjs';
import { nginxConf, startNginx } from './nginx.mjs';

export const SMALL_BODY_BYTES = 100;
export const LARGE_BODY_BYTES = 64 * 1024;
export const POST_BODY_BYTES = 16 * 1024;
export const STATUS_PATH = '/__upstream_status';

/** Start the upstream; returns { pid, port, url, stop, status() }. */
export async function startUpstream(tmpRoot, { cpus = '0' } = {}) {
  const dir = join(tmpRoot, 'upstream');
  mkdirSync(join(dir, 'www'), { recursive: true });
  writeFileSync(join(dir, 'www', 'large'), Buffer.alloc(LARGE_BODY_BYTES, 'x'));
  const port = await freePort();
  // "return 200 <text>" sends <text> as is: exactly SMALL_BODY_BYTES bytes.
  const small = 'x'.repeat(SMALL_BODY_BYTES);
  const conf = nginxConf(dir, {
    workers: 1,
    body: `
  sendfile on;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    client_max_body_size 1m;
    client_body_buffer_size 64k;
    location / { default_type text/plain; return 200 "${small}"; }
    location = /large { root ${dir}/www; }
    # nginx reads (discards) the request body before reusing the connection.
    location = /post { default_type text/plain; return 200 "ok\\n"; }
    location = ${STATUS_PATH} { stub_status; }
  }`,
  });
  const handle = startNginx('upstream (nginx 1 worker)', dir, conf, cpus);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(handle, `${url}/`);
  const check = await httpGet(`${url}/`);
  if (check.body.length !== SMALL_BODY_BYTES) throw new Error(`upstream body is ${check.body.length} bytes, expected ${SMALL_BODY_BYTES}`);
  return {
    pid: handle.pid,
    port,
    url,
    dir,
    stop: handle.stop,
    /** stub_status counters; the query itself is one accept and one request. */
    async status() {
      const r = await httpGet(`${url}${STATUS_PATH}`);
      const m = /\s(\d+)\s+(\d+)\s+(\d+)\s/.exec(r.body);
      const active = /Active connections:\s*(\d+)/.exec(r.body);
      return m ? { accepts: Number(m[1]), handled: Number(m[2]), requests: Number(m[3]), active: Number(active?.[1]) } : null;
    },
  };
}
