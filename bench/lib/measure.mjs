/**
 * One measured repetition of one case in one scenario: unrecorded warm-up, then CPU and
 * connection counters around the measured load run.
 */
import { performance } from 'node:perf_hooks';
import { closedLoop, fixedRate } from './load.mjs';
import { allProcesses, coreBusy, coreTimes, cpuDelta, cpuSnapshot, foreignCpu, machineSeconds, selfAndChildrenCpu, sysDelta, tcpOpens } from './cpu.mjs';
import { requestFor } from './scenarios.mjs';
import { httpCall } from './proc.mjs';

/** The rig's core: upstream and load generator live here. */
export const RIG_CPU = '0';

/** Before measuring a case: one request must give the expected status and body size. */
export async function sanityCheck(scenario, kase, running) {
  const req = requestFor(scenario, kase, running.url);
  try {
    const r = await httpCall(req.url, { method: req.method, body: req.body ?? undefined, headers: req.headers, timeoutMs: 5000 });
    const bytes = Buffer.byteLength(r.body);
    if (r.status !== scenario.expect.status || bytes !== scenario.expect.bytes) {
      return `sanity check failed: ${req.method} ${new URL(req.url).pathname} gave HTTP ${r.status} with ${bytes} bytes, expected ${scenario.expect.status} with ${scenario.expect.bytes}`;
    }
    return null;
  } catch (e) {
    return `sanity check failed: ${req.method} ${new URL(req.url).pathname}: ${e.message}`;
  }
}

/**
 * ctx = { tool, opts: { warmup, duration, connections, rate }, tmpDir, upstream }
 * Returns one rep's figures (see report.mjs for the columns).
 */
export async function measureRep(scenario, kase, running, ctx) {
  const { opts } = ctx;
  const req = requestFor(scenario, kase, running.url);
  const common = { connections: opts.connections, cpus: RIG_CPU, tmpDir: ctx.tmpDir, scenario };
  if (opts.warmup > 0) {
    await closedLoop(ctx.tool, req, { ...common, durationS: opts.warmup, latency: false });
  }
  const up0 = await ctx.upstream.status();
  const proxy0 = cpuSnapshot(running.pids);
  const upCpu0 = cpuSnapshot([ctx.upstream.pid]);
  const core0 = coreTimes();
  const tcp0 = tcpOpens();
  const procs0 = allProcesses();
  const self0 = selfAndChildrenCpu();
  const t0 = performance.now();

  const r = scenario.kind === 'fixed'
    ? await fixedRate(req, { ...common, rate: opts.rate, durationS: opts.duration })
    : await closedLoop(ctx.tool, req, { ...common, durationS: opts.duration });

  const wallS = (performance.now() - t0) / 1000;
  const self1 = selfAndChildrenCpu();
  const procs1 = allProcesses();
  const tcp1 = tcpOpens();
  const core1 = coreTimes();
  const upCpu1 = cpuSnapshot([ctx.upstream.pid]);
  const proxy1 = cpuSnapshot(running.pids);
  const up1 = await ctx.upstream.status();

  const proxyCpuS = running.pids.length ? cpuDelta(proxy0, proxy1) : NaN;
  const upstreamCpuS = cpuDelta(upCpu0, upCpu1);
  const foreign = foreignCpu(procs0, procs1, [process.pid, ctx.upstream.pid, ...running.pids]);
  const loadGenCpuS = self1 - self0;
  const machine = machineSeconds(core0, core1);
  // Everything processes did on the machine minus what ours did = someone else's work.
  const otherCpuS = Math.max(0, machine.taskS - (running.pids.length ? proxyCpuS : 0) - upstreamCpuS - loadGenCpuS);
  return {
    ...r,
    wallS,
    proxyCpuS,
    proxyUsPerReq: (proxyCpuS * 1e6) / r.requests,
    proxySysUsPerReq: running.pids.length ? (sysDelta(proxy0, proxy1) * 1e6) / r.requests : NaN,
    proxyCoreFraction: proxyCpuS / wallS,
    upstreamCpuS,
    upstreamUsPerReq: (upstreamCpuS * 1e6) / r.requests,
    coreBusy: coreBusy(core0, core1),
    // wrk/h2load/autocannon (reaped children) plus this process: the rig's own cost on CPU 0.
    loadGenCpuS,
    otherCpuFraction: otherCpuS / wallS,
    otherTop: foreign.top,
    stealFraction: machine.stealS / wallS,
    tcpOpens: tcp1.active - tcp0.active,
    // The closing stub_status query is itself one accept and one request.
    upstreamAccepts: up0 && up1 ? up1.accepts - up0.accepts - 1 : NaN,
    upstreamRequests: up0 && up1 ? up1.requests - up0.requests - 1 : NaN,
  };
}

/** CPU the proxy's own traffic may cost on its core outside its utime+stime (irq/softirq). */
const OWN_SOFTIRQ_ALLOWANCE = 0.05;
/** /proc/stat name of the core 1-worker proxies are pinned to (taskset -c 1). */
const PROXY_CORE = 'cpu1';

/**
 * Was this rep disturbed by work outside the rig? Two signals:
 * - other processes' CPU (user+system of the machine minus ours), which misses interrupt
 *   and softirq time, e.g. another session's load test on loopback;
 * - for a proxy pinned to CPU 1 (and for upstream-direct, where CPU 1 should be idle): CPU 1
 *   busy time the proxy did not use, beyond a small allowance for its own softirq.
 * Returns null or a sentence.
 */
export function disturbance(kase, rep, maxOther) {
  const reasons = [];
  if (rep.otherCpuFraction > maxOther) {
    const who = rep.otherTop.map((p) => `${p.comm} (pid ${p.pid}) ${Math.round((p.cpuS / rep.wallS) * 100)}%`).join(', ');
    reasons.push(`other processes used ${Math.round(rep.otherCpuFraction * 100)}% of a core (${who || 'short-lived processes'}${rep.otherTop.length ? ', plus short-lived ones' : ''})`);
  }
  const pinned = kase.cpus === '1' || kase.product === 'upstream';
  const busy = rep.coreBusy?.[PROXY_CORE];
  if (pinned && Number.isFinite(busy)) {
    const foreign = busy - (kase.product === 'upstream' ? 0 : rep.proxyCoreFraction);
    rep.proxyCoreForeign = foreign;
    if (foreign > maxOther + OWN_SOFTIRQ_ALLOWANCE) {
      reasons.push(`CPU 1 spent ${Math.round(foreign * 100)}% of its time outside ${kase.product === 'upstream' ? 'the rig' : 'the proxy'} (other processes, interrupts, softirq)`);
    }
  }
  if (rep.stealFraction > maxOther) reasons.push(`the hypervisor stole ${Math.round(rep.stealFraction * 100)}% of a core`);
  return reasons.length ? reasons.join('; ') : null;
}

/** Human-readable warnings about one rep (empty when all is well). */
export function repWarnings(kase, rep, connections, maxOther = 0.05) {
  const w = [];
  if (rep.non2xx > 0) w.push(`${rep.non2xx} non-2xx/3xx responses`);
  const se = rep.socketErrors;
  if (se && (se.connect || se.read || se.write || se.timeout)) {
    w.push(`socket errors: connect ${se.connect}, read ${se.read}, write ${se.write}, timeout ${se.timeout}`);
  }
  if (kase.product !== 'upstream' && rep.upstreamAccepts > Math.max(200, rep.requests * 0.001)) {
    w.push(`upstream accepted ${rep.upstreamAccepts} new connections for ${rep.requests} requests: the proxy is not reusing upstream connections (a connect benchmark)`);
  }
  if (rep.tcpOpens > connections * 2 + 200) {
    w.push(`${rep.tcpOpens} TCP connections opened during the run (expected about ${connections}): keep-alive is broken somewhere (or another process on this machine opens connections)`);
  }
  const d = disturbance(kase, rep, maxOther);
  if (d) w.push(`disturbed: ${d}${rep.attempts > 1 ? ` (least disturbed of ${rep.attempts} attempts)` : ''}; rerun when the machine is quiet`);
  if (Number.isFinite(rep.upstreamRequests) && kase.product !== 'upstream' && rep.upstreamRequests < rep.requests * 0.98) {
    w.push(`upstream saw ${rep.upstreamRequests} requests for ${rep.requests} answered: the proxy answers some requests itself`);
  }
  return w;
}
