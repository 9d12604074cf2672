/**
 * The worker's side of the management API: requests under /api/gateway/ are relayed to the
 * primary, which owns configuration, Redis and the admin credentials (src/management). The
 * worker only copies the request out of uWS, reads a bounded body, and writes the reply back.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ManagementReply, ManagementRequest, WorkerToPrimary } from '../ipc/messages.js';
import { problemBody } from '../errors.js';
import { addressText } from './client-address.js';

export const MANAGEMENT_PREFIX = '/api/gateway/';
/** Largest management request body (a whole configuration). */
const MAX_BODY = 32 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

interface Pending {
  readonly res: HttpResponse;
  /** Shared with the request's onAborted handler. */
  readonly state: { aborted: boolean };
  readonly timer: NodeJS.Timeout;
}

export class ManagementRelay {
  readonly #send: (msg: WorkerToPrimary) => void;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(send: (msg: WorkerToPrimary) => void) {
    this.#send = send;
  }

  handle(res: HttpResponse, req: HttpRequest): void {
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const query = req.getQuery() ?? '';
    const authorization: string[] = [];
    req.forEach((name, value) => { if (name === 'authorization') authorization.push(value); });
    const ifMatch = req.getHeader('if-match') || null;
    const contentType = req.getHeader('content-type') || null;
    const remoteAddress = addressText(res.getRemoteAddress());
    const path = url.slice(MANAGEMENT_PREFIX.length);
    const state = { aborted: false };
    res.onAborted(() => { state.aborted = true; });

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    res.onData((chunk, isLast) => {
      if (tooLarge || state.aborted) return;
      size += chunk.byteLength;
      if (size > MAX_BODY) {
        tooLarge = true;
        res.cork(() => {
          res.writeStatus('413 Content Too Large');
          res.writeHeader('content-type', 'application/problem+json');
          res.end(problemBody('BODY_TOO_LARGE', `management bodies are limited to ${MAX_BODY} bytes`));
        });
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      const id = this.#nextId++;
      const timer = setTimeout(() => this.#reply(id, {
        status: 504, headers: ['content-type', 'application/problem+json'], body: problemBody('INTERNAL', 'the primary did not answer in time'),
      }), TIMEOUT_MS);
      this.#pending.set(id, { res, timer, state });
      const request: ManagementRequest = {
        method, path, query, authorization, ifMatch, contentType, remoteAddress,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      this.#send({ type: 'management-request', id, request });
    });
  }

  /** A reply from the primary (or the local timeout). */
  reply(id: number, reply: ManagementReply): void {
    this.#reply(id, reply);
  }

  #reply(id: number, reply: ManagementReply): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.state.aborted) return;
    const res = pending.res;
    res.cork(() => {
      res.writeStatus(String(reply.status));
      for (let i = 0; i < reply.headers.length; i += 2) res.writeHeader(reply.headers[i], reply.headers[i + 1]);
      res.end(reply.body);
    });
  }
}
