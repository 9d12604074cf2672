/**
 * Child processes of the rig: spawning (optionally pinned with taskset), waiting for
 * readiness over HTTP, stopping, and a process-wide cleanup registry so that Ctrl-C or
 * an exception never leaves an nginx, HAProxy or gateway behind.
 *
 * Only 127.0.0.1 is ever contacted.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';

/** Every live child, so exit/SIGINT can stop them all. */
const live = new Set();

/** Which binaries exist on PATH (cached). */
const whichCache = new Map();
export function which(bin) {
  if (!whichCache.has(bin)) {
    let found = null;
    for (const dir of (process.env.PATH ?? '').split(':')) {
      if (dir && existsSync(`${dir}/${bin}`)) { found = `${dir}/${bin}`; break; }
    }
    whichCache.set(bin, found);
  }
  return whichCache.get(bin);
}

/** A TCP port that was free a moment ago (bind 0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawn `cmd args` pinned to `cpus` (a taskset list such as "1" or "0", or null for
 * no pinning). taskset execs the command, so the returned pid is the program's own.
 * stdout+stderr go to `logFile` (a file, not a pipe: a chatty gateway must not make this
 * process, which shares the load generator's core, do work during a measurement).
 */
export function startProcess(name, cmd, args, { cpus = null, env, cwd, logFile } = {}) {
  const [file, argv] = cpus == null ? [cmd, args] : ['taskset', ['-c', String(cpus), cmd, ...args]];
  const fd = openSync(logFile, 'a');
  const child = spawn(file, argv, { env: env ?? process.env, cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const handle = {
    name,
    child,
    pid: child.pid,
    logFile,
    exited: false,
    exitCode: null,
    output: () => {
      try { return readFileSync(logFile, 'utf8').slice(-8192).trim(); } catch { return ''; }
    },
    stop: () => stopChild(handle),
  };
  child.on('exit', (code, signal) => {
    handle.exited = true;
    handle.exitCode = code ?? signal;
    live.delete(handle);
  });
  child.on('error', (e) => { handle.exited = true; handle.exitCode = e.message; live.delete(handle); });
  live.add(handle);
  return handle;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the child has exited. */
export function stopChild(handle, graceMs = 3000) {
  if (handle.exited) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => { try { handle.child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    handle.child.once('exit', () => { clearTimeout(timer); resolve(); });
    // A case frozen between reps (SIGSTOP) must run again to handle SIGTERM.
    try { handle.child.kill('SIGCONT'); handle.child.kill('SIGTERM'); } catch { clearTimeout(timer); resolve(); }
  });
}

/** Stop every child still running (used on exit paths). */
export async function stopAll() {
  await Promise.all([...live].map((h) => stopChild(h, 2000)));
}

/** Synchronous last resort for process 'exit': no awaiting possible there. */
function killAllSync() {
  for (const h of live) { try { h.child.kill('SIGKILL'); } catch { /* gone */ } }
}

const exitHooks = [];
/** Run `fn` (synchronous) when the process exits, however it exits. */
export function onExit(fn) {
  exitHooks.push(fn);
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    killAllSync();
    for (const fn of exitHooks) { try { fn(); } catch { /* best effort */ } }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, async () => {
      process.stderr.write(`\n[bench] ${sig}: stopping children\n`);
      await stopAll();
      process.exit(130);
    });
  }
}

/**
 * One HTTP request to 127.0.0.1 on a fresh connection (no keep-alive);
 * resolves { status, body } (body as a string) or rejects.
 */
export function httpCall(url, { method = 'GET', body, timeoutMs = 2000, headers: extra = {} } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...extra, connection: 'close' };
    if (body != null) headers['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(url, { method, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export const httpGet = (url, timeoutMs) => httpCall(url, { timeoutMs });

/**
 * Poll `url` until it answers 200, the process dies, or `timeoutMs` passes.
 * Throws with the child's output tail on failure.
 */
export async function waitReady(handle, url, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (handle.exited) {
      throw new Error(`${handle.name} exited (${handle.exitCode}) before ready:\n${handle.output()}`);
    }
    try {
      const r = await httpGet(url, 1000);
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${handle.name} not ready at ${url} after ${timeoutMs} ms (${last}):\n${handle.output()}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Pin this orchestrating process (all its threads) to the rig's core, so it never steals the proxy's. */
export function pinSelf(cpus) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpus), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** First line of a command's output (stdout, else stderr), or null. */
export function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return null;
  const s = `${r.stdout ?? ''}`.trim() || `${r.stderr ?? ''}`.trim();
  return s ? s.split('\n')[0] : null;
}

/** A script's usage: its opening doc comment (`--help` of bench/instructions.mjs, bench/simultaneous.mjs). */
export function usageOf(scriptUrl) {
  return readFileSync(new URL(scriptUrl), 'utf8').split('*/')[0].replace(/^#!.*\n/, '').replace(/^\/\*\*?|^ \* ?/gm, '').trim();
}
