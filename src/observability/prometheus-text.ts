/**
 * Small helpers for the Prometheus text exposition format (version 0.0.4), used where the
 * gateway builds text directly instead of going through prom-client objects (the shared-memory
 * families, which can have one series per route of a 100k-route table).
 */

/** `# HELP` and `# TYPE` lines of one family. */
export function familyHeader(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** A label value, escaped as the format requires (backslash, double quote, line feed). */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: integers print without a fraction; NaN and infinities by name. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
