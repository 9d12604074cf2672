/**
 * The client's address as text, for X-Forwarded-For and the management API's audit trail.
 *
 * Why not uWS's `getRemoteAddressAsText()`: it formats with `snprintf` on every call (the
 * largest single libc cost of a proxied request in `bench/instructions.mjs`' profile) and
 * writes IPv6 uncompressed (`0000:0000:0000:0000:0000:ffff:7f00:0001`), where nginx, Node
 * and every log tool write RFC 5952 (`::ffff:127.0.0.1`). This takes the binary address
 * (`getRemoteAddress()`, the same one `getpeername` call) and formats it in JS, with the
 * IPv4 texts kept in a bounded map: a busy client's address is formatted once, not per request.
 */

/** IPv4 texts kept; the map is emptied when full (a scan of many addresses formats each once). */
const IPV4_CACHE_LIMIT = 4096;
const ipv4Texts = new Map<number, string>();

/** RFC 5952 text of a 4- or 16-byte binary address; '' for any other length (no address). */
export function addressText(binary: ArrayBuffer): string {
  const b = new Uint8Array(binary);
  if (b.length === 4) return ipv4Text(b, 0);
  if (b.length === 16) return ipv6Text(b);
  return '';
}

function ipv4Text(b: Uint8Array, at: number): string {
  const key = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  let text = ipv4Texts.get(key);
  if (text === undefined) {
    text = `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
    if (ipv4Texts.size >= IPV4_CACHE_LIMIT) ipv4Texts.clear();
    ipv4Texts.set(key, text);
  }
  return text;
}

/**
 * RFC 5952 §4: lower-case hex, no leading zeros, the longest run of two or more zero groups
 * (the first of equal runs) as `::`; §5: IPv4-mapped addresses (::ffff:0:0/96) end in
 * dotted decimal, as a dual-stack listener sees IPv4 clients.
 */
function ipv6Text(b: Uint8Array): string {
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = b[i] === 0;
  if (mapped) return `::ffff:${ipv4Text(b, 12)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let g = 0; g < 8;) {
    if (b[2 * g] !== 0 || b[2 * g + 1] !== 0) {
      g++;
      continue;
    }
    let end = g;
    while (end < 8 && b[2 * end] === 0 && b[2 * end + 1] === 0) end++;
    if (end - g > bestLength) {
      bestStart = g;
      bestLength = end - g;
    }
    g = end;
  }
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLength - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += ((b[2 * g] << 8) | b[2 * g + 1]).toString(16);
  }
  return text;
}
