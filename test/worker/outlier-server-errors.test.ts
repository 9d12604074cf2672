import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

/**
 * Passive outlier detection and the upstream's own 5xx answers: counted only when the cluster
 * says `serverErrors: true` (Envoy's consecutive_5xx); by default a destination that answers
 * 500 is a working destination with a bug, not a failing one.
 */
describe('outlier detection of destinations that answer 5xx', () => {
  let broken: Upstream;
  let healthy: Upstream;
  let gw: GatewayProcess;

  beforeAll(async () => {
    broken = await startUpstream((_req, res) => { res.statusCode = 500; res.end('broken'); });
    healthy = await startUpstream((_req, res) => { res.end('healthy'); });
    const destinations = [
      { id: 'broken', address: `http://127.0.0.1:${broken.port}` },
      { id: 'healthy', address: `http://127.0.0.1:${healthy.port}` },
    ];
    gw = await startGateway({
      workers: 1,
      config: {
        routes: [
          { id: 'counted', cluster: 'counted', match: { path: '/counted/{**rest}' } },
          { id: 'default', cluster: 'default', match: { path: '/default/{**rest}' } },
        ],
        clusters: [
          { id: 'counted', loadBalancing: 'round-robin', outlierDetection: { consecutiveFailures: 3, ejectionSeconds: 60, serverErrors: true }, destinations },
          { id: 'default', loadBalancing: 'round-robin', outlierDetection: { consecutiveFailures: 3, ejectionSeconds: 60 }, destinations },
        ],
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await broken?.close();
    await healthy?.close();
  });

  it('withServerErrors_aDestinationAnswering500_isEjected_andTrafficGoesToTheOther', async () => {
    // Round-robin alternates: the broken destination collects 3 consecutive 500s within 6 requests.
    const before: number[] = [];
    for (let i = 0; i < 6; i++) before.push((await fetch(`${gw.url}/counted/x`)).status);
    expect(before.filter((s) => s === 500).length).toBe(3);
    await gw.waitForLog((l) => l.msg === 'destination ejected by passive outlier detection' && l.cluster === 'counted' && l.destination === 'broken');
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push((await fetch(`${gw.url}/counted/x`)).status);
    expect(after).toEqual(Array(10).fill(200));
  });

  it('byDefault_5xxAnswersAreNotFailures_andTheDestinationStaysInRotation', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await fetch(`${gw.url}/default/x`)).status);
    expect(statuses.filter((s) => s === 500).length).toBe(6);
    expect(gw.logs.some((l) => l.msg === 'destination ejected by passive outlier detection' && l.cluster === 'default')).toBe(false);
  });
});
