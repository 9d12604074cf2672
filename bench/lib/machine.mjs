/** The machine description printed at the top of every report. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { versionOf, which } from './proc.mjs';

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

/** A shell-quoted command line, so it can be pasted back. */
export function shellQuote(args) {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** `script` names the command the report repeats (bench/run.mjs unless told). */
export function describeMachine(argv, repoRoot, gatewayEntryB = null, script = 'bench/run.mjs') {
  const tool = (bin, args, re) => {
    if (!which(bin)) return 'not installed';
    const v = versionOf(bin, args) ?? 'unknown';
    const m = re ? re.exec(v) : null;
    return m ? m[1] : v;
  };
  let autocannon = 'not installed';
  try {
    autocannon = JSON.parse(readFileSync(new URL('../../node_modules/autocannon/package.json', import.meta.url), 'utf8')).version;
  } catch { /* absent */ }
  const commit = versionOf('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const commitB = gatewayEntryB ? versionOf('git', ['-C', path.dirname(gatewayEntryB), 'rev-parse', '--short', 'HEAD']) : null;
  return {
    date: new Date().toISOString(),
    command: shellQuote(['node', script, ...argv]),
    cpu: cpuModel(),
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    loadavgAtStart: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    node: process.version,
    nginx: tool('nginx', ['-v'], /nginx\/(\S+)/),
    haproxy: tool('haproxy', ['-v'], /version (\S+)/),
    wrk: tool('wrk', ['-v'], /wrk (\S+)/),
    h2load: tool('h2load', ['--version'], /nghttp2\/(\S+)/),
    autocannon,
    commit: commit && /^[0-9a-f]+$/.test(commit) ? commit : 'unknown',
    buildB: gatewayEntryB ? `${gatewayEntryB} (commit ${commitB && /^[0-9a-f]+$/.test(commitB) ? commitB : 'unknown'})` : null,
  };
}
