/**
 * Host patterns of route matches: an exact host name (`api.example.com`), an IP literal
 * (`10.0.0.1`, `[::1]`) or a wildcard `*.example.com` whose `*` stands for one or more
 * leading labels. Hosts are compared case-insensitively, so validation lower-cases them;
 * ports are not part of a pattern (the router strips the port from the Host header).
 */
import { isIPv6 } from 'node:net';

// Underscores are not legal in DNS host names but are common in internal service names.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Why `host` (already lower-cased) is not a valid host pattern, or undefined when it is. */
export function checkHostPattern(host: string): string | undefined {
  if (host === '') return 'must not be empty';
  if (host.startsWith('[')) {
    return host.endsWith(']') && isIPv6(host.slice(1, -1)) ? undefined : `${JSON.stringify(host)} is not a valid IPv6 literal`;
  }
  if (/[/:?#@]/.test(host) && !/^[^/:?#@]+:\d*$/.test(host)) {
    return `must be a bare host name, not a URL (got ${JSON.stringify(host)})`;
  }
  if (/:\d*$/.test(host)) return `must not include a port (got ${JSON.stringify(host)})`;
  if (host.length > 253) return 'is longer than 253 characters';
  const labels = host.split('.');
  const wildcard = labels[0] === '*';
  if (host.indexOf('*', wildcard ? 1 : 0) !== -1) {
    return `a wildcard is only allowed as the whole first label, like "*.example.com" (got ${JSON.stringify(host)})`;
  }
  if (wildcard && labels.length < 2) return 'a wildcard needs a suffix, like "*.example.com"';
  if (host.endsWith('.')) return `must not end with "." (got ${JSON.stringify(host)})`;
  for (let i = wildcard ? 1 : 0; i < labels.length; i++) {
    if (!LABEL.test(labels[i])) {
      return labels[i] === ''
        ? `has an empty label (got ${JSON.stringify(host)})`
        : `label ${JSON.stringify(labels[i])} is not valid: letters, digits, "-" and "_", at most 63 characters, not starting or ending with "-"`;
    }
  }
  return undefined;
}
