/**
 * A set of lower-case header names whose `has` does not hash the name asked about: a client's
 * header names are fresh strings on every request, and a Set lookup hashes each one first
 * (~300 instructions a name in bench/instructions.mjs' profile, docs/performance.md change
 * 17). The names are grouped by length and compared: most names fail on the length, the rest
 * on a short compare. Used for every set the request head builder asks about each client
 * header (the skip list, a route's drops, an auth verdict's removals); otherwise a Set.
 */
export class HeaderNameSet extends Set<string> {
  /** Names by length, made at the first `has` after a change. */
  private byLength: string[][] | null = null;

  override add(name: string): this {
    super.add(name);
    this.byLength = null;
    return this;
  }

  override delete(name: string): boolean {
    this.byLength = null;
    return super.delete(name);
  }

  override clear(): void {
    this.byLength = null;
    super.clear();
  }

  override has(name: string): boolean {
    let byLength = this.byLength;
    if (byLength === null) {
      byLength = [];
      for (const n of this.values()) (byLength[n.length] ??= []).push(n);
      this.byLength = byLength;
    }
    const candidates = name.length < byLength.length ? byLength[name.length] : undefined;
    if (candidates === undefined) return false;
    for (let i = 0; i < candidates.length; i++) if (candidates[i] === name) return true;
    return false;
  }
}

/**
 * Hop-by-hop and framing header tables (RFC 9110 7.6.1), precomputed lower-case.
 * These never cross the gateway in either direction; the gateway sets its own framing.
 */
const REQUEST_SKIP = new HeaderNameSet([
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

