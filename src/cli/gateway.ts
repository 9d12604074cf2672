#!/usr/bin/env node
/**
 * `fengling-gateway`: the gateway's command line. Settings come from the environment
 * (see `--help`); the process is one instance: this primary thread plus GATEWAY_WORKERS
 * worker threads.
 */
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.js';
import { loadConfigFile } from '../config/load.js';
import { formatErrors } from '../config/validate.js';
import { createLogger } from '../observability/logger.js';
import { Instance } from '../primary/instance.js';
import { isNative } from '../worker/uws.js';
import { helpText, loadSettings } from './settings.js';
import { createRequire } from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const unknown = argv.filter((a) => !['--check'].includes(a));
  if (unknown.length) {
    process.stderr.write(`unknown argument: ${unknown.join(' ')}\n\n${helpText()}\n`);
    return 2;
  }

  let settings;
  try {
    settings = loadSettings();
  } catch (err) {
    if (err instanceof GatewayError) {
      process.stderr.write(`${err.code}: invalid settings\n${err.message}\n`);
      return 2;
    }
    throw err;
  }

  if (argv.includes('--check')) {
    const result = await loadConfigFile(settings.configPath);
    if (!result.ok) {
      process.stderr.write(`CONFIG_INVALID: ${settings.configPath}\n${formatErrors(result.errors)}\n`);
      return 1;
    }
    process.stdout.write(`${settings.configPath}: valid (${result.config.routes.length} routes, ${result.config.clusters.length} clusters)\n`);
    return 0;
  }

  const log = createLogger(settings.logLevel, 'primary');
  const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof import('uWebSockets.js');
  if (!isNative(uws)) {
    log.fatal({ code: 'UWS_NOT_NATIVE' }, 'uWebSockets.js fell back to its JavaScript implementation; refusing to start');
    return 1;
  }

  if (settings.faultInjection) log.warn('GATEWAY_FAULT_INJECTION is on: /__fengling/fault/* can crash workers; this is for tests only');
  const instance = new Instance(settings, log);
  try {
    await instance.start();
  } catch (err) {
    const code = err instanceof GatewayError ? err.code : 'INTERNAL';
    log.fatal({ code }, (err as Error).message);
    process.stderr.write(`${code}: ${(err as Error).message}\n`);
    await instance.stop().catch(() => undefined);
    return 1;
  }
  log.info({
    version: pkg.version, workers: settings.workers, host: settings.host, port: settings.port,
    configSource: instance.configSource, configVersion: instance.applier.version, uwsNative: true, node: process.version,
  }, 'fengling gateway started');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainTimeoutMs: settings.drainTimeoutMs }, 'draining');
    instance.stop().then(
      () => { log.info('stopped'); process.exit(0); },
      (err) => { log.error({ err }, 'drain failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exit(code); },
  (err) => { process.stderr.write(`INTERNAL: ${(err as Error).stack ?? err}\n`); process.exit(1); },
);
