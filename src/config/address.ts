/**
 * Destination addresses: `http://host:port`, or `http://host` meaning port 80.
 *
 * An address is an origin and nothing more: the path sent upstream comes from the request
 * and the route's transforms, so a path, query, fragment or credentials in an address would
 * either be ignored or leak; they are errors instead. TLS to upstreams is not implemented
 * yet, so `https://` is refused rather than silently spoken as plain HTTP.
 */

export type ParsedAddress =
  | { readonly ok: true; readonly host: string; readonly port: number }
  | { readonly ok: false; readonly message: string };

export function parseDestinationAddress(address: string): ParsedAddress {
  const fail = (message: string): ParsedAddress => ({ ok: false, message });
  if (address !== address.trim()) return fail('must not have leading or trailing spaces');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(address);
  if (scheme === null) return fail(`must be an origin like "http://host:port" (got ${JSON.stringify(address)})`);
  const protocol = scheme[1].toLowerCase();
  if (protocol === 'https') {
    return fail('https:// is not supported yet: TLS to upstreams is not implemented; use http://host:port');
  }
  if (protocol !== 'http') return fail(`scheme "${scheme[1]}" is not supported; use http://host:port`);

  // Everything after the scheme up to the first "/", "?" or "#" is the authority.
  const rest = address.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  if (authority.includes('@')) return fail('must not contain credentials (user:password@)');
  if (tail.includes('?')) return fail('must not contain a query ("?...")');
  if (tail.includes('#')) return fail('must not contain a fragment ("#...")');
  if (tail !== '' && tail !== '/') return fail(`must not contain a path (got "${tail}"); use a pathPrefix transform instead`);
  if (authority === '') return fail('must name a host');
  if (authority.endsWith(':')) return fail('has an empty port');

  let url: URL;
  try {
    url = new URL(`http://${authority}/`);
  } catch {
    return fail(`has an invalid host or port (got ${JSON.stringify(authority)})`);
  }
  const explicitPort = /:(\d+)$/.exec(authority);
  if (explicitPort !== null && Number(explicitPort[1]) === 0) return fail('port must be from 1 to 65535');
  const port = url.port === '' ? 80 : Number(url.port);
  // URL keeps IPv6 brackets in `hostname`; sockets want the bare address.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { ok: true, host, port };
}
