/**
 * Reading a configuration from text or from a file (`.yaml`, `.yml`, `.json`).
 *
 * Every failure is a value, never a throw: unreadable file, syntax error, invalid config.
 * Syntax errors have the path `$` (the document) and say where: `line 3, column 7: ...`.
 * Duplicate keys are syntax errors in both formats, because the "last one wins" rule of
 * most parsers silently drops half of what the author wrote.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseDocument } from 'yaml';
import { validateConfig } from './validate.js';
import { formatFieldPath } from './field-path.js';
import { lineAndColumn, scanJson } from './json-syntax.js';
import type { ConfigError, ValidationResult } from './types.js';

export type ConfigFormat = 'yaml' | 'json';

/** YAML anchors may be reused, but not into an exponential blow-up ("billion laughs"). */
const MAX_YAML_ALIASES = 100;

/**
 * Files at least this large are parsed and validated on a thread of their own that then
 * ends: the parser's heap goes with it instead of staying reserved in the long-lived thread
 * that asked (a 100,000-route YAML file: ~200 MiB), and the caller's event loop stays free.
 */
export const OFF_THREAD_BYTES = 1024 * 1024;

export function configFormatOf(path: string): ConfigFormat | undefined {
  switch (extname(path).toLowerCase()) {
    case '.yaml':
    case '.yml':
      return 'yaml';
    case '.json':
      return 'json';
    default:
      return undefined;
  }
}

export async function loadConfigFile(path: string): Promise<ValidationResult> {
  const format = configFormatOf(path);
  if (format === undefined) {
    return failure(`cannot load ${JSON.stringify(path)}: unsupported extension (use .yaml, .yml or .json)`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return failure(`cannot read ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
  return text.length >= OFF_THREAD_BYTES ? parseOffThread(text, format) : parseConfigText(text, format);
}

/** parseConfigText on a short-lived thread (load-task.ts); the result comes back cloned. */
function parseOffThread(text: string, format: ConfigFormat): Promise<ValidationResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: ValidationResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const task = new URL('./load-task.js', import.meta.url);
    // Run from src/ through a TypeScript loader there is no load-task.js: say so, not "failed".
    if (!existsSync(task)) return settle(failure(`a configuration of ${OFF_THREAD_BYTES} bytes or more is parsed by dist/config/load-task.js: run \`npm run build\` first`));
    const worker = new Worker(task, { workerData: { text, format } });
    worker.once('message', (result: ValidationResult) => settle(result));
    worker.once('error', (error) => settle(failure(`parsing the configuration failed: ${error.message}`)));
    worker.once('exit', (code) => settle(failure(`parsing the configuration failed: its thread exited with code ${code}`)));
  });
}

export function parseConfigText(text: string, format: ConfigFormat): ValidationResult {
  // Editors on Windows may write a byte-order mark; it is not part of the document.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const parsed = format === 'json' ? parseJson(body) : parseYaml(body);
  if (!parsed.ok) return parsed;
  if (parsed.value === null || parsed.value === undefined) return failure('the configuration is empty');
  return validateConfig(parsed.value);
}

type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly errors: readonly ConfigError[] };

function parseJson(text: string): Parsed {
  if (text.trim() === '') return { ok: true, value: null };
  const scan = scanJson(text);
  const errors: ConfigError[] = [];
  if (scan.error !== undefined) errors.push(at(text, scan.error.offset, scan.error.message));
  for (const duplicate of scan.duplicates) {
    const key = formatFieldPath([...duplicate.segments, duplicate.key]);
    errors.push(at(text, duplicate.offset, `duplicate key ${JSON.stringify(duplicate.key)} (at ${key})`));
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: JSON.parse(text) as unknown };
}

function parseYaml(text: string): Parsed {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      ok: false,
      errors: document.errors.map((error) => {
        const position = error.linePos?.[0];
        // The library appends " at line L, column C:" and a code excerpt; we keep the sentence.
        const sentence = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return { path: '$', message: position ? `line ${position.line}, column ${position.col}: ${sentence}` : sentence };
      }),
    };
  }
  try {
    return { ok: true, value: document.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown };
  } catch (error) {
    return failure((error as Error).message);
  }
}

function at(text: string, offset: number, message: string): ConfigError {
  const { line, column } = lineAndColumn(text, offset);
  return { path: '$', message: `line ${line}, column ${column}: ${message}` };
}

function failure(message: string): { readonly ok: false; readonly errors: readonly ConfigError[] } {
  return { ok: false, errors: [{ path: '$', message }] };
}
