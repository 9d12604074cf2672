#!/usr/bin/env node
// Memory of an instance: RSS of the gateway process (primary + worker threads, one process)
// idle after start, and again after a bounded burst of traffic, beside nginx with the same
// worker count as a yardstick.
//
//   node bench/memory.mjs [--workers 2] [--settle 5] [--requests 20000]   (after `npm run build`)
//
// Cases: gateway with one route; gateway with 100,000 routes; nginx. Writes
// bench/results/memory-latest.md (and prints it). Traffic goes to 127.0.0.1 only.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine } from './lib/machine.mjs';
import { pidTree } from './lib/cpu.mjs';
import { installCleanup, onExit, sleep, stopAll } from './lib/proc.mjs';
import { defaultGatewayEntry, resolveCase } from './lib/proxies.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { hotPath } from './lib/gateway-config.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
if (argv.includes('--help')) {
  console.log('node bench/memory.mjs [--workers N (2)] [--settle S (5)] [--requests N (20000)]');
  process.exit(0);
}
const workers = opt('workers', 2);
const settleS = opt('settle', 5);
const requests = opt('requests', 20_000);

/** Resident set of a process tree in KiB (VmRSS; threads share their process's). */
function rssKiB(rootPid) {
  let total = 0;
  for (const pid of pidTree(rootPid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch { /* exited */ }
  }
  return total;
}

const threadsOf = (pid) => { try { return readdirSync(`/proc/${pid}/task`).length; } catch { return 0; } };

/** `count` GETs over 20 keep-alive connections (plain fetch: bounded, no load tool needed). */
async function burst(url, count) {
  const perConn = Math.ceil(count / 20);
  await Promise.all(Array.from({ length: 20 }, async () => {
    for (let i = 0; i < perConn; i++) {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${url}: status ${r.status}`);
    }
  }));
}

installCleanup();
const tmpRoot = mkdtempSync(join(tmpdir(), 'fengling-mem-'));
onExit(() => rmSync(tmpRoot, { recursive: true, force: true }));
const upstream = await startUpstream(tmpRoot, { cpus: null });
const ctx = { tmpRoot, upstream, gatewayEntry: defaultGatewayEntry(repoRoot), gatewayEnv: {}, repoRoot };

const cases = [
  { name: `gateway-${workers}w`, label: `fengling, ${workers} worker(s), 1 route`, path: '/' },
  { name: `gateway-${workers}w-routes100k`, label: `fengling, ${workers} worker(s), 100,000 routes`, path: hotPath(100_000) },
  { name: `nginx-${workers}w`, label: `nginx, ${workers} worker(s) (master + workers)`, path: '/' },
];
const rows = [];
for (const c of cases) {
  const kase = resolveCase(c.name);
  const skip = kase.skipReason(ctx);
  if (skip) { rows.push(`| ${c.label} | skipped: ${skip} | | | |`); continue; }
  const started = Date.now();
  const running = await kase.start(ctx);
  const readyS = (Date.now() - started) / 1000;
  await sleep(settleS * 1000);
  const idle = rssKiB(running.pids[0]);
  await burst(`${running.url}${c.path}`, requests);
  await sleep(settleS * 1000);
  const after = rssKiB(running.pids[0]);
  rows.push(`| ${c.label} | ${(idle / 1024).toFixed(1)} | ${(after / 1024).toFixed(1)} | ${threadsOf(running.pids[0])} | ${readyS.toFixed(1)} |`);
  console.error(`[memory] ${c.label}: idle ${idle} KiB, after ${requests} requests ${after} KiB`);
  await running.stop();
}
await stopAll();

const meta = describeMachine(argv, repoRoot, null, 'bench/memory.mjs');
const command = meta.command;
const md = `# Memory — ${meta.date.slice(0, 16)}Z

\`${command}\`

| case | RSS idle (MiB) | RSS after ${requests.toLocaleString('en')} requests (MiB) | threads (root process) | start to ready (s) |
|---|---:|---:|---:|---:|
${rows.join('\n')}

RSS is VmRSS of the process tree, read ${settleS} s after the instance is ready and again ${settleS} s
after the burst (${requests.toLocaleString('en')} GETs over 20 keep-alive connections). The gateway is one
process (primary + worker threads); its shared-memory tables (sized by GATEWAY_MAX_ROUTES and
friends, reserved at start) count once, when touched. nginx is the master plus its workers.

- **Machine**: ${meta.cpu}, ${meta.cores} cores, ${meta.kernel}; node ${meta.node}, nginx ${meta.nginx}; commit ${meta.commit}; load average at start ${meta.loadavgAtStart}
`;
writeFileSync(join(repoRoot, 'bench/results/memory-latest.md'), md);
console.log(md);
