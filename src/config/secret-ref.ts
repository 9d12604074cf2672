/**
 * `${NAME}` references: how a configuration names a secret without containing it (SEC-01).
 *
 * A reference is resolved where the secret is used (an auth policy is compiled in each
 * worker), never when the configuration is validated, stored or published, so the secret
 * never enters Redis, the shared tables, the management API or a log line. Validation checks
 * only the syntax; a variable that is missing at compile time makes the policy fail closed.
 */

/** An environment variable name as POSIX shells accept it. */
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
const ENV_NAME = new RegExp(ENV_NAME_PATTERN);
const REFERENCE = /\$\{([^}]*)\}/g;

/** Problems with the references in `text` (empty when every `${...}` names a valid variable). */
export function checkReferences(text: string): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(REFERENCE)) {
    if (!ENV_NAME.test(match[1])) problems.push(`"\${${match[1]}}" is not a valid environment variable reference (letters, digits and _, not starting with a digit)`);
  }
  const stripped = text.replace(REFERENCE, '');
  if (stripped.includes('${')) problems.push('has an unterminated "${" reference');
  return problems;
}

/** True when `text` is exactly one reference, `${NAME}`. */
export function isSingleReference(text: string): boolean {
  const m = /^\$\{([^}]*)\}$/.exec(text);
  return m !== null && ENV_NAME.test(m[1]);
}

export type Resolved = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly missing: string };

/** Replace every `${NAME}` with the variable's value; the first unset (or empty) variable is reported by name. */
export function resolveReferences(text: string, env: NodeJS.ProcessEnv): Resolved {
  let missing: string | null = null;
  const value = text.replace(REFERENCE, (_, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') missing ??= name;
    return v ?? '';
  });
  return missing === null ? { ok: true, value } : { ok: false, missing };
}
