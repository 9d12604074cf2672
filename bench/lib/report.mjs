/**
 * Results -> Markdown (stdout and bench/results/*.md), JSON, and a hand-written SVG bar
 * chart (no dependency). Figures per case are medians over the measured repetitions,
 * each metric taken separately.
 */

/** A results file's time stamp, UTC: 20261129-115237Z. */
export function timestamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');

/**
 * Medians of the reps of one case. Only the undisturbed reps count when there is at least
 * one (a disturbed rep measures the neighbours, not the proxy); otherwise all of them.
 */
export function summarise(allReps) {
  const clean = allReps.filter((r) => !r.disturbed);
  const reps = clean.length ? clean : allReps;
  const pick = (k) => median(reps.map((r) => r[k]));
  return {
    repsUsed: clean.length ? `${clean.length} clean of ${allReps.length}` : `all ${allReps.length} (none clean)`,
    cleanReps: clean.length,
    rps: pick('rps'),
    p50Ms: pick('p50Ms'),
    p99Ms: pick('p99Ms'),
    p999Ms: pick('p999Ms'),
    proxyUsPerReq: pick('proxyUsPerReq'),
    proxySysUsPerReq: pick('proxySysUsPerReq'),
    proxyCoreFraction: pick('proxyCoreFraction'),
    upstreamUsPerReq: pick('upstreamUsPerReq'),
    tcpOpens: pick('tcpOpens'),
    upstreamAccepts: pick('upstreamAccepts'),
    otherCpuFraction: pick('otherCpuFraction'),
    maxDisturbance: Math.max(...reps.map((r) => r.disturbanceScore ?? 0)),
  };
}

/** Ratio of each case's req/s to nginx with the same worker count (null when not comparable). */
export function addRatios(scenarioResult) {
  const byName = new Map(scenarioResult.cases.map((c) => [c.name, c]));
  for (const c of scenarioResult.cases) {
    const base = byName.get(`nginx-${c.workers}w`);
    c.ratio = c.product !== 'upstream' && c.summary && base?.summary ? c.summary.rps / base.summary.rps : null;
    c.cpuRatio = c.product !== 'upstream' && c.summary && base?.summary
      ? c.summary.proxyUsPerReq / base.summary.proxyUsPerReq : null;
  }
}

function header(meta, opts) {
  return [
    '# Fengling Gateway — end-to-end benchmark',
    '',
    `- **Date**: ${meta.date}`,
    `- **Command**: \`${meta.command}\``,
    `- **Machine**: ${meta.cpu}, ${meta.cores} cores, ${meta.kernel}, load average at start ${meta.loadavgAtStart}`,
    `- **Versions**: node ${meta.node}, nginx ${meta.nginx}, HAProxy ${meta.haproxy}, wrk ${meta.wrk}, h2load ${meta.h2load}, autocannon ${meta.autocannon}; commit ${meta.commit}`,
    ...(meta.buildB ? [`- **Build B** (the \`@b\` cases): ${meta.buildB}`] : []),
    `- **Method**: ${opts.tool}${opts.tool === 'wrk' ? ' -t1' : ''} -c${opts.connections}, ${opts.warmup} s unrecorded warm-up before each measured ${opts.duration} s run, ${opts.reps} rep(s) interleaved case by case, medians reported. Upstream: 1 nginx worker on CPU 0; load generator on CPU 0; 1-worker proxies pinned to CPU 1, N-worker proxies unpinned.`,
  ];
}

function notesBlock(notes) {
  return notes.length ? ['', ...notes.map((n) => `> ${n}`), ''] : [''];
}


/** A Markdown table with one row per case; skipped cases get a row saying why. */
function caseTable(s, columns, align, row) {
  const lines = [`| ${columns.join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`];
  for (const c of s.cases) {
    if (!c.summary) {
      lines.push(`| ${c.name} | skipped: ${c.skipped} |${' |'.repeat(columns.length - 2)}`);
      continue;
    }
    const m = c.summary;
    // Total, then the kernel's part (stime): the user-space part is the difference.
    const cpu = c.product === 'upstream' ? `(upstream ${fmt(m.upstreamUsPerReq, 1)})`
      : Number.isFinite(m.proxySysUsPerReq) ? `${fmt(m.proxyUsPerReq, 1)} (sys ${fmt(m.proxySysUsPerReq, 1)})` : fmt(m.proxyUsPerReq, 1);
    const busy = c.product === 'upstream' ? '—' : pct(m.proxyCoreFraction);
    lines.push(`| ${[c.name, ...row(c, m, cpu, busy)].join(' | ')} |`);
  }
  return lines;
}

function closedTable(s) {
  return caseTable(s,
    ['case', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU µs/req', 'proxy core busy', 'ratio to nginx', 'TCP opens / rep', 'disturbance (max)', 'reps used', 'req/s per rep (* = disturbed)'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
    (c, m, cpu, busy) => [fmtInt(m.rps), fmt(m.p50Ms), fmt(m.p99Ms), cpu, busy, c.ratio == null ? '—' : `${fmt(c.ratio)}×`,
      fmtInt(m.tcpOpens), pct(m.maxDisturbance), m.repsUsed, c.reps.map((r) => `${fmtInt(r.rps)}${r.disturbed ? '*' : ''}`).join(', ')]);
}

function fixedTable(s) {
  return caseTable(s,
    ['case', 'target req/s', 'achieved req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'proxy CPU µs/req', 'proxy core busy', 'disturbance (max)', 'reps used', 'p99 per rep (* = disturbed)'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
    (c, m, cpu, busy) => [fmtInt(s.rate), fmtInt(m.rps), fmt(m.p50Ms), fmt(m.p99Ms), fmt(m.p999Ms), cpu, busy,
      pct(m.maxDisturbance), m.repsUsed, c.reps.map((r) => `${fmt(r.p99Ms)}${r.disturbed ? '*' : ''}`).join(', ')]);
}

export function toMarkdown(result) {
  const { meta, options } = result;
  const out = header(meta, options);
  out.push(...notesBlock(result.notes));
  for (const s of result.scenarios) {
    out.push(`## ${s.name} — ${s.describe}`, '');
    out.push(...(s.kind === 'fixed' ? fixedTable(s) : closedTable(s)));
    out.push(...notesBlock(s.notes));
  }
  out.push(
    'Columns: medians over the undisturbed reps (all reps when none was clean), each metric separately. *proxy CPU µs/req* = utime+stime of the proxy\'s process tree during the measured run / requests (for upstream-direct: the upstream\'s); *sys* = the stime part, CPU spent in the kernel on the proxy\'s behalf (syscalls, the loopback TCP work they carry). *proxy core busy* = that CPU time / wall time (1 core = 100%). *ratio to nginx* = req/s / req/s of nginx with the same worker count, same run. *TCP opens / rep* = machine-wide TCP ActiveOpens during the measured run: about the connection count when keep-alive holds everywhere. *disturbance (max)* = work outside the rig during the worst rep, in % of a core: CPU of other processes, or CPU 1 time a pinned proxy did not use beyond 5% — above ~5% the figures are disturbed. See docs/benchmarks.md.',
    '',
  );
  return out.join('\n');
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Horizontal bar chart, one panel per scenario: req/s with the ratio for closed-loop
 * scenarios, p99 latency for the fixed-rate one.
 */
export function toSvg(result) {
  const W = 760;
  const labelW = 170;
  const valueW = 200;
  const barMax = W - labelW - valueW - 20;
  const rowH = 24;
  const parts = [];
  let y = 44;
  parts.push(`<text x="10" y="24" font-size="16" font-weight="bold">Fengling Gateway benchmark — ${esc(result.meta.date.slice(0, 16).replace('T', ' '))} UTC, ${esc(result.meta.cpu)}, ${result.meta.cores} cores</text>`);
  for (const s of result.scenarios) {
    const rows = s.cases.filter((c) => c.summary);
    const fixed = s.kind === 'fixed';
    const value = (c) => (fixed ? c.summary.p99Ms : c.summary.rps);
    const max = Math.max(...rows.map(value).filter(Number.isFinite), 1e-9);
    y += 10;
    parts.push(`<text x="10" y="${y + 8}" font-size="13" font-weight="bold">${esc(s.name)}: ${esc(fixed ? `p99 latency at ${Math.round(s.rate)} req/s (shorter is better)` : 'req/s, median (longer is better)')}</text>`);
    y += 18;
    for (const c of rows) {
      const v = value(c);
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * barMax) : 0;
      const colour = { upstream: '#9e9e9e', nginx: '#2e7d32', haproxy: '#1565c0', gateway: '#e65100', floor: '#6a1b9a' }[c.product] ?? '#555';
      const label = fixed
        ? `${fmt(v)} ms p99`
        : `${fmtInt(v)} req/s${c.ratio == null ? '' : ` (${fmt(c.ratio)}× nginx)`}`;
      parts.push(
        `<text x="${labelW - 8}" y="${y + 15}" font-size="12" text-anchor="end">${esc(c.name)}</text>`,
        `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colour}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}" font-size="12">${esc(label)}</text>`,
      );
      y += rowH;
    }
    for (const c of s.cases.filter((k) => !k.summary)) {
      parts.push(`<text x="${labelW - 8}" y="${y + 15}" font-size="12" text-anchor="end" fill="#999">${esc(c.name)}</text>`,
        `<text x="${labelW}" y="${y + 15}" font-size="12" fill="#999">skipped: ${esc(c.skipped)}</text>`);
      y += rowH;
    }
  }
  y += 16;
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${esc(result.meta.command)}</text>`);
  y += 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${parts.join('\n')}
</svg>
`;
}
