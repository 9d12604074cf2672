import { expect } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';
import type { ConfigError } from '../../src/config/types.js';

/** A small valid configuration as plain mutable data, for tests to break one field at a time. */
export function validInput(): any {
  return {
    routes: [
      { id: 'users', cluster: 'users', match: { path: '/users/{id}', methods: ['GET'] } },
      { id: 'fallback', cluster: 'users', match: { path: '/{**rest}' } },
    ],
    clusters: [
      {
        id: 'users',
        loadBalancing: 'round-robin',
        destinations: [
          { id: 'u1', address: 'http://10.0.0.1:8080' },
          { id: 'u2', address: 'http://10.0.0.2:8080', weight: 3 },
        ],
      },
    ],
  };
}

export function errorsOf(input: unknown): readonly ConfigError[] {
  const result = validateConfig(input);
  if (result.ok) throw new Error('expected the configuration to be invalid, but it was accepted');
  return result.errors;
}

/** Asserts that exactly one error sits at `path` and that its message contains `fragment`. */
export function expectError(input: unknown, path: string, fragment: string): void {
  const errors = errorsOf(input);
  const atPath = errors.filter((e) => e.path === path);
  expect(atPath, `errors were:\n${errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`).toHaveLength(1);
  expect(atPath[0].message).toContain(fragment);
}

export function expectValid(input: unknown): void {
  const result = validateConfig(input);
  expect(result.ok ? [] : result.errors).toEqual([]);
}
