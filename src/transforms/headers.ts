/**
 * Hop-by-hop and framing header tables (RFC 9110 7.6.1), precomputed lower-case.
 * These never cross the gateway in either direction; the gateway sets its own framing.
 */
const REQUEST_SKIP = new Set([
  'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection',
  'proxy-authenticate', 'proxy-authorization', 'content-length', 'host', 'expect',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
]);

const RESPONSE_SKIP = new Set([
  'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection',
  'proxy-authenticate', 'proxy-authorization', 'content-length',
  // uWS writes its own Date; a second one would be invalid.
  'date',
]);

/** Request headers the pipeline rebuilds itself or drops (lower-case name). */
export function skipRequestHeader(name: string): boolean {
  return REQUEST_SKIP.has(name) || name.startsWith('proxy-');
}

export function skipResponseHeader(lowerName: string): boolean {
  return RESPONSE_SKIP.has(lowerName) || lowerName.startsWith('proxy-');
}

/**
 * Lower-case form of a response header name as the upstream spelled it. Upstreams repeat the
 * same few spellings (`Content-Type`, `content-type`), so they are cached instead of lower-cased
 * per response; the cache is bounded so a hostile upstream cannot grow it.
 */
const lowerCache = new Map<string, string>();
export function lowerName(name: string): string {
  let lower = lowerCache.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (lowerCache.size < 1024) lowerCache.set(name, lower);
  }
  return lower;
}

/** Names listed in a Connection header value, lower-cased (they are hop-by-hop too). */
export function connectionListed(value: string): string[] | null {
  // The common values list no header: answer without splitting (or lower-casing, for the
  // spellings upstreams send).
  if (value === 'keep-alive' || value === 'close') return null;
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return null;
  }
  const out: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') out.push(name);
  }
  return out.length ? out : null;
}

