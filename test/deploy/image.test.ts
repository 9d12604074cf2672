/**
 * The container image, checked without a Docker engine: docker/Dockerfile is parsed (the same
 * parser scripts/compose-local.mjs uses), its CMD and HEALTHCHECK are run on this machine with
 * the image's ENV, and what `npm ci --omit=dev` leaves in the image is checked against what
 * dist/ imports.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/cli/settings.js';
import { INSTANCE_FAMILIES } from '../../src/observability/instance-metrics.js';
import { SHARED_FAMILIES } from '../../src/observability/shared-metrics.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { DOCKERFILE, ROOT, freePort, parseDockerfile } from '../../scripts/compose-local.mjs';

interface Stage {
  from: string;
  workdir: string;
  env: Record<string, string>;
  volumes: string[];
  expose: string[];
  cmd: string[];
  cmdForm: 'exec' | 'shell';
  healthcheck: { options: Record<string, string>; test: string[] } | null;
  user: string | null;
  stopSignal: string | null;
}

const dockerfileText = readFileSync(DOCKERFILE, 'utf8');
const image = parseDockerfile(dockerfileText) as Stage;

/** Values the image sets on purpose where the code's default does not suit a container. */
const IMAGE_OVERRIDES: Readonly<Record<string, string>> = {
  GATEWAY_STATE_DIR: '/var/lib/fengling',
};

function run(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), { env: { ...process.env, ...env }, cwd: ROOT, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

describe('docker/Dockerfile', () => {
  it('runtime_isGlibcNode20_nonRoot_exposingTrafficAndMetrics', () => {
    const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfileText);
    expect(arg?.[1]).toBe('node:20-bookworm-slim');
    expect(image.from).toMatch(/^\$\{NODE_IMAGE\} AS runtime$/);
    expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric, so runAsNonRoot can verify it
    expect(image.expose).toEqual(expect.arrayContaining(['8080', '9464']));
    expect(dockerfileText).toMatch(/^RUN npm ci --omit=dev\b/m);
  });

  it('cmd_isExecFormNode_soSigtermReachesNode', () => {
    expect(image.cmdForm).toBe('exec');
    expect(image.cmd).toEqual(['node', 'dist/cli/gateway.js']);
    expect(image.stopSignal).toBe('SIGTERM');
    expect(image.healthcheck?.test[0]).toBe('node');
  });

  it('env_declaresEverySetting_withTheDefaultOfTheCode', () => {
    const problems: string[] = [];
    for (const s of SETTINGS) {
      const value = image.env[s.env];
      if (value === undefined) { problems.push(`${s.env}: not declared`); continue; }
      if (s.env in IMAGE_OVERRIDES) {
        if (value !== IMAGE_OVERRIDES[s.env]) problems.push(`${s.env}=${value}: expected the image's ${IMAGE_OVERRIDES[s.env]}`);
      } else if (value === '') {
        if (s.defaultText === undefined) problems.push(`${s.env}: empty, but its default ${String(s.default())} is not computed`);
      } else if (JSON.stringify((s.parse as (raw: string) => unknown)(value)) !== JSON.stringify(s.default())) {
        problems.push(`${s.env}=${value}: the code's default is ${String(s.default())}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('copySources_existAndPassTheDockerignore', () => {
    const ignore = readFileSync(join(ROOT, 'docker/Dockerfile.dockerignore'), 'utf8');
    const sources = [...dockerfileText.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'src', 'config']));
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), src).toBe(true);
      expect(ignore, `Dockerfile.dockerignore lets ${src} in`).toMatch(new RegExp(`^!${src.replace('.', '\\.')}(/\\*\\*)?$`, 'm'));
    }
  });

  it('productionDependencies_coverEveryPackageThatDistImports', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const missing = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) { walk(p); continue; }
        if (!e.name.endsWith('.js')) continue;
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
          const spec = m[1];
          if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          if (!(name in pkg.dependencies)) missing.add(`${name} (${p.slice(ROOT.length + 1)})`);
        }
      }
    };
    expect(existsSync(join(ROOT, 'dist/cli/gateway.js')), 'run `npm run build` first').toBe(true);
    walk(join(ROOT, 'dist'));
    expect([...missing]).toEqual([]);
  });

  it('startCommand_servesReadyz_healthcheckPasses_andSigtermExitsZero', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    // The image's ENV, overridden only where this machine needs it: free ports, loopback only,
    // and a writable state folder in place of the image's volume.
    const env = {
      ...image.env,
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_METRICS_PORT: String(metricsPort),
      GATEWAY_METRICS_HOST: '127.0.0.1',
      GATEWAY_STATE_DIR: mkdtempSync(join(tmpdir(), 'fengling-image-state-')),
    };
    const argv = image.cmd;
    const child = spawn(argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const until = Date.now() + 20_000;
      let status = 0;
      while (Date.now() < until && child.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(status, `readyz; stderr: ${stderr}`).toBe(200);

      expect(await run(image.healthcheck!.test, env, 10_000)).toBe(0);
      const nobody = String(await freePort());
      expect(await run(image.healthcheck!.test, { ...env, GATEWAY_PORT: nobody }, 10_000)).toBe(1);

      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^fengling_config_version 1$/m);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    rmSync(env.GATEWAY_STATE_DIR, { recursive: true, force: true });
    expect(code).toBe(0);
  });
});

describe('docker/prometheus', () => {
  const rules = readFileSync(join(ROOT, 'docker/prometheus/rules.yml'), 'utf8');

  it('rules_nameOnlyMetricFamiliesTheGatewayExports', () => {
    const known = new Set<string>([...Object.values(SHARED_FAMILIES), ...Object.values(INSTANCE_FAMILIES)]);
    // Families only: recording-rule names (level:metric:operation) are skipped.
    const used = new Set([...rules.matchAll(/(?<![:\w])(fengling_[a-z0-9_]+)(?![:\w])/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, '')));
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !known.has(name))).toEqual([]);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it('rules_passPromtoolCheckAndUnitTests', () => {
    if (!promtool) throw new Error('promtool is missing: `apt-get install prometheus` (.ci/run installs it)');
    const dir = join(ROOT, 'docker/prometheus');
    for (const args of [['check', 'rules', 'rules.yml'], ['check', 'config', 'prometheus.yml'], ['test', 'rules', 'rules.test.yml']]) {
      const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});

describe('bench/k6/gateway.js', () => {
  it('parsesAsAnEsModule', () => {
    const r = spawnSync(process.execPath, ['--check', join(ROOT, 'bench/k6/gateway.js')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
