import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/gateway.js';
import { GATEWAYCTL, requireRedisServer, sleep } from './support.js';

describe('REDIS_PASSWORD_FILE', () => {
  // Generated per run: no password lives in the tree.
  const password = randomBytes(24).toString('base64url');
  let port = 0;
  let child: ReturnType<typeof spawn> | null = null;
  let file = '';

  beforeAll(async () => {
    requireRedisServer();
    port = await freePort();
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password], { stdio: 'ignore' });
    await sleep(300);
    file = join(mkdtempSync(join(tmpdir(), 'fengling-secret-')), 'redis-password');
    writeFileSync(file, `${password}\n`);
  });
  afterAll(() => { child?.kill('SIGKILL'); });

  const ctl = (env: Record<string, string>) => spawnSync(process.execPath, [GATEWAYCTL, 'history'], {
    env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}`, ...env }, encoding: 'utf8', timeout: 20_000,
  });

  it('connects_withThePasswordFromTheFile_notFromTheUrl', () => {
    const r = ctl({ REDIS_PASSWORD_FILE: file });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails_withoutIt', () => {
    const r = ctl({ REDIS_PASSWORD_FILE: '' });
    expect(r.status).not.toBe(0);
  });

  it('namesTheFile_whenItCannotBeRead', () => {
    const r = ctl({ REDIS_PASSWORD_FILE: '/nonexistent/redis-password' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('REDIS_PASSWORD_FILE=/nonexistent/redis-password');
  });
});
