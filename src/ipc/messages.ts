/**
 * The primary <-> worker protocol, in one place. Configuration itself never travels in these
 * messages: it is in the shared tables; a message only says "there is news, read the tables".
 */
import type { SharedTables } from '../shm/layout.js';
import type { WorkerSettings } from '../cli/settings.js';

/** workerData of every worker thread. */
export interface WorkerData {
  readonly workerIndex: number;
  readonly tables: SharedTables;
  readonly settings: WorkerSettings;
  /** This worker index's metrics block (shm/metrics-layout.ts), or null when metrics are off. */
  readonly metrics: SharedArrayBuffer | null;
  /** Route table capacity (the metrics blocks are sized from it). */
  readonly maxRoutes: number;
  /** The instance's rate-limit buckets (shm/rate-limit-layout.ts), shared by every worker. */
  readonly rateLimits: SharedArrayBuffer;
}

/** A management API request relayed by a worker to the primary (src/management). */
export interface ManagementRequest {
  readonly method: string;
  /** Path below /api/gateway/, without the query. */
  readonly path: string;
  readonly query: string;
  readonly authorization: readonly string[];
  readonly ifMatch: string | null;
  readonly contentType: string | null;
  readonly body: string;
  readonly remoteAddress: string;
}

export interface ManagementReply {
  readonly status: number;
  /** Flat [name, value, ...]. */
  readonly headers: readonly string[];
  readonly body: string;
}

export type PrimaryToWorker =
  /** New batches are published; read the tables and acknowledge the version. */
  | { readonly type: 'tables-changed'; readonly version: number }
  | { readonly type: 'management-reply'; readonly id: number; readonly reply: ManagementReply }
  /** Stop accepting, finish in-flight requests up to the deadline, then close the listen socket and exit. */
  | { readonly type: 'drain'; readonly deadlineMs: number };

export type WorkerToPrimary =
  /** The worker listens on the port. */
  | { readonly type: 'listening'; readonly port: number }
  /** The worker applied the tables at this version (its caches match it). */
  | { readonly type: 'applied'; readonly version: number; readonly routes: number }
  /** Listening failed; the worker exits after sending this. */
  | { readonly type: 'listen-failed'; readonly message: string }
  /** Draining is complete; the listen socket is closed and the worker is about to exit. */
  | { readonly type: 'drained'; readonly unfinished: number }
  | { readonly type: 'management-request'; readonly id: number; readonly request: ManagementRequest };
