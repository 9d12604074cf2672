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

/**
 * REQUEST_SKIP by length: a client's header names are fresh strings on every request, and a
 * Set lookup hashes each one first (~400 instructions a name in bench/instructions.mjs'
 * profile, most of it the hash); comparing with the few names of the same length costs a
 * length check for most names and a short compare for the rest.
 */
const REQUEST_SKIP_BY_LENGTH: string[][] = [];
for (const name of REQUEST_SKIP) (REQUEST_SKIP_BY_LENGTH[name.length] ??= []).push(name);

/** Request headers the pipeline rebuilds itself or drops (lower-case name). */
export function skipRequestHeader(name: string): boolean {
  const candidates = name.length < REQUEST_SKIP_BY_LENGTH.length ? REQUEST_SKIP_BY_LENGTH[name.length] : undefined;
  if (candidates !== undefined) {
    for (let i = 0; i < candidates.length; i++) if (candidates[i] === name) return true;
  }
  return name.startsWith('proxy-');
}

/**
 * A response header name as an upstream spelled it: its lower-case form, and whether it is
 * hop-by-hop or framing (never relayed).
 */
export interface ResponseName {
  readonly lower: string;
  readonly skip: boolean;
}

/**
 * What a response header name is. Upstreams repeat the same few spellings (`Content-Type`,
 * `content-type`), so the answer is cached per spelling instead of lower-cased and looked up
 * per response (one lookup instead of two); the cache is bounded so a hostile upstream cannot
 * grow it.
 */
const responseNames = new Map<string, ResponseName>();
export function responseName(name: string): ResponseName {
  let info = responseNames.get(name);
  if (info === undefined) {
    const lower = name.toLowerCase();
    info = { lower, skip: RESPONSE_SKIP.has(lower) || lower.startsWith('proxy-') };
    if (responseNames.size < 1024) responseNames.set(name, info);
  }
  return info;
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

