/**
 * CPU accounting from /proc (Linux only).
 *
 * - Process CPU: utime+stime (fields 14 and 15 of /proc/<pid>/stat, in clock ticks).
 *   /proc/<pid>/stat already sums every thread of the process (uWS worker threads, V8
 *   helpers), so a Node gateway is one pid; nginx is a master plus forked workers, so we
 *   sum the whole process tree rooted at the pid we spawned.
 * - Per-core busy time from /proc/stat, to see which core was saturated.
 * - TCP connection opens from /proc/net/snmp, to catch a benchmark that silently turned
 *   into a connect benchmark (keep-alive broken somewhere).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second; 100 on every Linux we care about (getconf CLK_TCK). */
export const CLK_TCK = 100;

/** Parse /proc/<pid>/stat: the command name is in parentheses and may contain spaces. */
function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field n is rest[n - 3].
    return {
      comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
      ppid: Number(rest[1]),
      utime: Number(rest[11]),
      stime: Number(rest[12]),
      // Reaped children (our load generator once it has exited): fields 16 and 17.
      cutime: Number(rest[13]),
      cstime: Number(rest[14]),
    };
  } catch {
    return null; // exited
  }
}

/** pid and all its descendants (one scan of /proc; a few ms, taken just outside the measured window). */
export function pidTree(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    const pid = Number(name);
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/**
 * A snapshot of utime+stime (seconds) per pid over the trees of `rootPids`; the map's `sys`
 * property holds the stime part alone (for the user/system split, see sysDelta).
 * Pids are resolved at snapshot time; a delta only counts pids present in both
 * snapshots, which is right for long-lived workers (nginx does not respawn them mid-run).
 */
export function cpuSnapshot(rootPids) {
  const perPid = new Map();
  const sys = new Map();
  for (const root of rootPids) {
    for (const pid of pidTree(root)) {
      const st = readStat(pid);
      if (!st) continue;
      perPid.set(pid, (st.utime + st.stime) / CLK_TCK);
      sys.set(pid, st.stime / CLK_TCK);
    }
  }
  perPid.sys = sys;
  return perPid;
}

/** System (kernel) CPU seconds consumed between two snapshots of cpuSnapshot. */
export function sysDelta(before, after) {
  return cpuDelta(before.sys, after.sys);
}

/** CPU seconds consumed between two snapshots. */
export function cpuDelta(before, after) {
  let sum = 0;
  for (const [pid, t] of after) {
    if (before.has(pid)) sum += t - before.get(pid);
  }
  return sum;
}

/** Busy/total ticks per core from /proc/stat: Map<"cpu0", { busy, total }>. */
export function coreTimes() {
  const out = new Map();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    // task = user + nice + system: time charged to processes (irq/softirq and steal are
    // separate columns, and not in any process's utime+stime either).
    out.set(m[1], { busy: total - idle, total, task: v[0] + v[1] + v[2], steal: v[7] ?? 0 });
  }
  return out;
}

/** Process (user+nice+system) and steal seconds of all cores between two coreTimes() snapshots. */
export function machineSeconds(before, after) {
  let task = 0;
  let steal = 0;
  for (const [cpu, a] of after) {
    const b = before.get(cpu);
    if (!b) continue;
    task += a.task - b.task;
    steal += a.steal - b.steal;
  }
  return { taskS: task / CLK_TCK, stealS: steal / CLK_TCK };
}

/** Busy fraction per core between two coreTimes() snapshots: { cpu0: 0.97, cpu1: 0.99 }. */
export function coreBusy(before, after) {
  const out = {};
  for (const [cpu, a] of after) {
    const b = before.get(cpu);
    if (!b) continue;
    const dt = a.total - b.total;
    out[cpu] = dt > 0 ? (a.busy - b.busy) / dt : 0;
  }
  return out;
}

/** Tcp ActiveOpens / PassiveOpens counters (machine-wide) from /proc/net/snmp. */
export function tcpOpens() {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
    const keys = lines[0].split(/\s+/);
    const vals = lines[1].split(/\s+/);
    return { active: Number(vals[keys.indexOf('ActiveOpens')]), passive: Number(vals[keys.indexOf('PassiveOpens')]) };
  } catch {
    return { active: NaN, passive: NaN };
  }
}

/** CPU seconds of this process plus its reaped children (wrk, h2load, autocannon once they exited). */
export function selfAndChildrenCpu() {
  const st = readStat(process.pid);
  return (st.utime + st.stime + st.cutime + st.cstime) / CLK_TCK;
}

/** Every process on the machine: Map<pid, { comm, ppid, cpuS }>. */
export function allProcesses() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st) out.set(Number(name), { comm: st.comm, ppid: st.ppid, cpuS: (st.utime + st.stime) / CLK_TCK });
  }
  return out;
}

/**
 * CPU used during a window by live processes that are not ours (someone else's build or
 * tests on this shared machine), to name the culprits. `ours` = root pids whose trees are
 * excluded (this process, the proxy, the upstream). Processes born in the window count
 * fully; processes that exited during it are missed, so the total undercounts: the
 * amount itself comes from machineSeconds() minus our own processes.
 * Returns { cpuS, top: [{ pid, comm, cpuS }] }.
 */
export function foreignCpu(before, after, ours) {
  const mine = new Set();
  const isOurs = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (ours.includes(p) || mine.has(p)) return true;
      p = (after.get(p) ?? before.get(p))?.ppid ?? 0;
    }
    return false;
  };
  let cpuS = 0;
  const top = [];
  for (const [pid, a] of after) {
    if (isOurs(pid)) { mine.add(pid); continue; }
    const d = a.cpuS - (before.get(pid)?.cpuS ?? 0);
    if (d > 0) {
      cpuS += d;
      top.push({ pid, comm: a.comm, cpuS: d });
    }
  }
  top.sort((x, y) => y.cpuS - x.cpuS);
  return { cpuS, top: top.slice(0, 3) };
}
