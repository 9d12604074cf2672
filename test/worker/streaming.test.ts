import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { sendRepeated, startUpstream, type Upstream } from '../support/upstream.js';
import { untilStill } from '../support/wait.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Sample the gateway's RSS every 50 ms while `work` runs; resolve with the peak. */
async function peakRss<T>(pid: number, work: Promise<T>): Promise<{ result: T; peak: number; before: number }> {
  const before = rssMiB(pid);
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(pid)); }, 50);
  try {
    const result = await work;
    return { result, peak, before };
  } finally {
    clearInterval(timer);
  }
}

describe('streaming with bounded memory', () => {
  let up: Upstream;
  let gw: GatewayProcess;
  /** Bytes the upstream managed to hand to its socket for the slow-client download. */
  let slowWritten = 0;
  let slowBlocked = false;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/download') return void sendRepeated(res, CHUNK, Number(url.searchParams.get('bytes')));
      if (url.pathname === '/slow-download') {
        slowWritten = 0;
        slowBlocked = false;
        const total = 512 * MiB;
        res.setHeader('content-length', String(total));
        const pump = () => {
          while (slowWritten < total) {
            slowWritten += CHUNK.length;
            if (!res.write(CHUNK)) {
              slowBlocked = true;
              return void res.once('drain', pump);
            }
          }
          res.end();
        };
        pump();
        res.on('close', () => undefined);
        return;
      }
      // Upload sink: count what arrives.
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.end(String(n)));
    }, { readBody: false });
    gw = await startGateway({
      workers: 1,
      config: {
        routes: [{ id: 'all', cluster: 'c', match: { path: '/{**rest}' }, maxRequestBodyBytes: 2 ** 40 }],
        clusters: [{ id: 'c', destinations: [{ id: 'u', address: `http://127.0.0.1:${up.port}` }] }],
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('download_of512MiB_passesWithBoundedMemory', async () => {
    const total = 512 * MiB;
    const work = new Promise<number>((resolve, reject) => {
      request(`${gw.url}/download?bytes=${total}`, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => { n += c.length; });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject).end();
    });
    const { result, peak, before } = await peakRss(gw.child.pid!, work);
    expect(result).toBe(total);
    expect(peak - before).toBeLessThan(96);
  });

  it('upload_of512MiB_passesWithBoundedMemory', async () => {
    const total = 512 * MiB;
    const work = new Promise<string>((resolve, reject) => {
      const req = request(`${gw.url}/upload`, { method: 'POST', headers: { 'content-length': String(total) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += CHUNK.length;
          if (!req.write(CHUNK)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    const { result, peak, before } = await peakRss(gw.child.pid!, work);
    expect(result).toBe(String(total));
    expect(peak - before).toBeLessThan(96);
  });

  it('slowClient_makesTheGatewayPauseTheUpstream_insteadOfBufferingTheResponse', async () => {
    const pausedDownload = async (): Promise<{ writtenWhilePaused: number }> => {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        request(`${gw.url}/slow-download`, resolve).on('error', reject).end();
      });
      // Take the first chunk, then stop reading: from here on only the socket buffers
      // (client, gateway, upstream) may fill, and the upstream must be held back.
      await new Promise((resolve) => res.once('data', () => { res.pause(); resolve(undefined); }));
      // The buffers on the way (autotuned on loopback: several MiB each) fill first, slower on
      // a busy machine; once the upstream's writes have stood still for 500 ms (or after 10 s),
      // they must stay still for another second.
      await untilStill(() => slowWritten, 500, 10_000);
      const atStill = slowWritten;
      await new Promise((r) => setTimeout(r, 1000));
      res.destroy();
      return { writtenWhilePaused: slowWritten - atStill };
    };
    const { peak, before, result } = await peakRss(gw.child.pid!, pausedDownload());
    expect(slowBlocked).toBe(true);
    // Socket buffers (client, gateway, upstream) hold some MiB; the gateway holds nothing
    // beyond its write backlog, so the upstream is stopped long before 512 MiB, and stays so.
    expect(slowWritten).toBeLessThan(64 * MiB);
    expect(result.writtenWhilePaused).toBeLessThan(1 * MiB);
    expect(peak - before).toBeLessThan(64);
  });
});
