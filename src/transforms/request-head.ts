/**
 * The upstream request head (pipeline phase 5), as a pure function of the request: the client's
 * headers minus hop-by-hop ones and those the route or the auth verdict replaces,
 * X-Forwarded-*, then the route's and the verdict's additions, and the gateway's own framing.
 *
 * Built once per request and reused by retries; `Host` and a traced request's `traceparent`
 * differ per attempt and are appended by the pipeline after this head.
 *
 * Arguments are positional (no options object per request on the hot path).
 */
import type { CompiledRoute } from './compile.js';
import { connectionListed, skipRequestHeader } from './headers.js';

/**
 * @param target        request target after the route's path rewrite, with `?query` if any
 * @param headers       the client's headers, flat [lower-case name, value, ...] as uWS gives them
 * @param authRemove    header names the auth verdict strips (e.g. Authorization), or null
 * @param authAdd       headers the auth verdict adds, flat [name, value, ...], or null
 * @param replaceTrace  true when the gateway records this request: the caller's `traceparent`
 *                      and `tracestate` are replaced per attempt, so they are left out here
 * @param clientAddress the connection's peer address, appended to X-Forwarded-For
 * @param host          the client's Host ('' when absent), sent as X-Forwarded-Host
 * @param contentLength the request's Content-Length, or -1 when it has none
 * @param chunked       the request body is chunked (then contentLength is ignored)
 * @returns the head without `Host` and without the final blank line, as text: the forwarder
 *          writes it as UTF-8, so the client's text (uWS decodes its bytes as UTF-8) reaches
 *          the upstream as the bytes the client sent, and the route's and the verdict's values
 *          as their UTF-8 (no character can become a CR or LF on the way).
 */
export function buildRequestHead(
  method: string, target: string, headers: readonly string[], route: CompiledRoute,
  authRemove: ReadonlySet<string> | null, authAdd: readonly string[] | null, replaceTrace: boolean,
  clientAddress: string, host: string, contentLength: number, chunked: boolean,
): string {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  let connectionDrop: string[] | null = null;
  let forwardedFor = '';
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'connection') connectionDrop = connectionListed(headers[i + 1]);
    else if (headers[i] === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${headers[i + 1]}` : headers[i + 1];
  }
  const drop = route.requestDrop;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (skipRequestHeader(name)) continue;
    if (replaceTrace && (name === 'traceparent' || name === 'tracestate')) continue;
    if (drop !== null && drop.has(name)) continue;
    if (authRemove !== null && authRemove.has(name)) continue;
    if (connectionDrop !== null && connectionDrop.includes(name)) continue;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  head += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${clientAddress}` : clientAddress}\r\n`;
  head += 'x-forwarded-proto: http\r\n';
  if (host) head += `x-forwarded-host: ${host}\r\n`;
  for (const edit of route.requestAdd) head += `${edit.name}: ${edit.value}\r\n`;
  if (authAdd !== null) for (let i = 0; i < authAdd.length; i += 2) head += `${authAdd[i]}: ${authAdd[i + 1]}\r\n`;
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  else if (contentLength >= 0) head += `content-length: ${contentLength}\r\n`;
  return head;
}
