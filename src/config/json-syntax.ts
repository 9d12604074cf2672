/**
 * A strict JSON syntax check that says WHERE a document is broken.
 *
 * `JSON.parse` in Node 20 often reports no position ("Unexpected end of JSON input",
 * "Unexpected token '}', ... is not valid JSON") and silently keeps the last of two equal
 * keys, which in a configuration file hides a mistake. This scanner walks the text once
 * (RFC 8259 grammar), returns the first syntax error with its offset, and every duplicate
 * key with its field path. The values themselves are still produced by `JSON.parse`.
 */
import type { PathSegment } from './field-path.js';

export interface JsonSyntaxError {
  readonly offset: number;
  readonly message: string;
}

export interface JsonDuplicateKey {
  readonly offset: number;
  readonly key: string;
  /** Path of the object that holds the key twice. */
  readonly segments: readonly PathSegment[];
}

export interface JsonScan {
  readonly error?: JsonSyntaxError;
  readonly duplicates: readonly JsonDuplicateKey[];
}

const MAX_DEPTH = 512;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Stop {
  constructor(readonly offset: number, readonly message: string) {}
}

export function scanJson(text: string): JsonScan {
  const duplicates: JsonDuplicateKey[] = [];
  let i = 0;

  const fail = (message: string, at = i): never => {
    throw new Stop(at, message);
  };
  const shown = (): string => (i >= text.length ? 'end of input' : JSON.stringify(text[i]));
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };

  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return JSON.parse(text.slice(start, i)) as string;
      }
      if (c < 0x20) fail('control character in string (write it escaped, e.g. \\n)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(`invalid escape "\\${e ?? ''}"`);
        i += 2;
        continue;
      }
      i++;
    }
    return fail('unterminated string', start);
  };

  const value = (segments: PathSegment[], depth: number): void => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    skipSpace();
    const c = text[i];
    if (c === '{') return object(segments, depth);
    if (c === '[') return array(segments, depth);
    if (c === '"') {
      string();
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    fail(`expected a value but found ${shown()}`);
  };

  const object = (segments: PathSegment[], depth: number): void => {
    i++;
    skipSpace();
    if (text[i] === '}') {
      i++;
      return;
    }
    const seen = new Set<string>();
    for (;;) {
      skipSpace();
      if (text[i] !== '"') {
        fail(`expected a quoted property name but found ${shown()}${text[i] === '}' ? ' (trailing commas are not allowed)' : ''}`);
      }
      const keyOffset = i;
      const key = string();
      if (seen.has(key)) duplicates.push({ offset: keyOffset, key, segments: [...segments] });
      seen.add(key);
      skipSpace();
      if (text[i] !== ':') fail(`expected ":" after the property name but found ${shown()}`);
      i++;
      value([...segments, key], depth + 1);
      skipSpace();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail(`expected "," or "}" but found ${shown()}`);
    }
  };

  const array = (segments: PathSegment[], depth: number): void => {
    i++;
    skipSpace();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (let index = 0; ; index++) {
      skipSpace();
      if (text[i] === ']') fail('expected a value but found "]" (trailing commas are not allowed)');
      value([...segments, index], depth + 1);
      skipSpace();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail(`expected "," or "]" but found ${shown()}`);
    }
  };

  try {
    value([], 0);
    skipSpace();
    if (i < text.length) fail(`unexpected ${shown()} after the end of the document`);
    return { duplicates };
  } catch (stop) {
    if (stop instanceof Stop) return { error: { offset: stop.offset, message: stop.message }, duplicates };
    throw stop;
  }
}

/** 1-based line and column of a UTF-16 offset; CRLF counts as one line break. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
