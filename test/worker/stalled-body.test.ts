import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { sendRepeated, startUpstream, type Upstream } from '../support/upstream.js';

const KiB = 1024;

/** GET a path; resolves with the body's bytes. `pauseMs`: read the first chunk, then stop reading that long. */
function fetchBody(url: string, pauseMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const parts: Buffer[] = [];
      let paused = pauseMs === 0;
      res.on('data', (c: Buffer) => {
        parts.push(c);
        if (!paused) {
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

describe('a response held back by a slow client', () => {
  let up: Upstream;
  let gw: GatewayProcess;

  beforeAll(async () => {
    // /fill?byte=N&bytes=M: M bytes, all N, with a Content-Length (the gateway relays it with
    // uWS's tryEnd, which keeps what the client cannot take yet in the gateway's hands).
    up = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://x');
      sendRepeated(res, Buffer.alloc(64 * KiB, Number(url.searchParams.get('byte'))), Number(url.searchParams.get('bytes')));
    }, { readBody: false });
    gw = await startGateway({
      workers: 1,
      config: {
        routes: [{ id: 'all', cluster: 'c', match: { path: '/{**rest}' } }],
        clusters: [{ id: 'c', destinations: [{ id: 'u', address: `http://127.0.0.1:${up.port}` }] }],
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('stalledBytes_areTheClientsOwn_whileOtherResponsesAreReadThroughTheSamePool', async () => {
    // The slow client's response stalls in the gateway; meanwhile other responses of the same
    // upstream pool (other connections, the pool's read buffer) are read and relayed. When
    // the slow client reads again it must get its own bytes (0x61) and nothing else.
    const total = 8 * 1024 * KiB;
    const slow = fetchBody(`${gw.url}/fill?byte=97&bytes=${total}`, 700);
    await new Promise((r) => setTimeout(r, 150));
    const others = await Promise.all(Array.from({ length: 6 }, () => fetchBody(`${gw.url}/fill?byte=98&bytes=${256 * KiB}`)));
    for (const body of others) expect(body.equals(Buffer.alloc(256 * KiB, 98))).toBe(true);
    const body = await slow;
    expect(body.length).toBe(total);
    const foreign = body.findIndex((b) => b !== 97);
    expect(foreign).toBe(-1);
  });
});
