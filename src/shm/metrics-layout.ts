/**
 * Shared-memory layout of the request metrics (OBS-02).
 *
 * Concurrency contract
 * --------------------
 * Every worker owns one block and is its only writer: it increments with plain stores (no
 * Atomics, no lock, no message on the request path). The primary is the only reader, at
 * scrape time; it sums the blocks of all workers. Float64 cells hold exact integers up to
 * 2^53 and an aligned 8-byte store is not torn on the 64-bit platforms uWS supports, so a
 * reader sees each cell either before or after an increment. A scrape is not a snapshot
 * across cells (a request may be counted in `requests` and not yet in the histogram): the
 * usual contract of Prometheus client libraries too.
 *
 * A block survives its worker: a replacement worker for the same index continues the same
 * block, so counters never go backwards when a worker is replaced. One exception to "one
 * writer": when a worker has exited (the block has no writer), the primary zeroes its
 * in-flight gauge, since those requests died with it.
 *
 *   block of worker w = [ instance cells (kInstanceCells) | route 0 cells | ... | route maxRoutes-1 | unmatched ]
 *   route cells (kRouteCells, indexed by the route's slot in the route table):
 *   +---------------------------------+--------------------------+--------------------------+----------+-----------+
 *   | requests[method 8][class 6]     | duration buckets + sum   | upstream buckets + sum   | bytes in | bytes out |
 *   +---------------------------------+--------------------------+--------------------------+----------+-----------+
 *   instance cells: [ in-flight | errors by code (kErrorCodes) ]
 */
import { ERRORS, type ErrorCode } from '../errors.js';

export const METRICS_LAYOUT_VERSION = 1;

/** Method index: the common ones, then everything else. */
export const METRIC_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'OTHER'] as const;
/** Status class index: 1xx..5xx, then requests the client aborted before a response (499). */
export const METRIC_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted'] as const;

/** Histogram upper bounds in seconds (a +Inf bucket is implied by the count). */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const kBuckets = DURATION_BUCKETS.length;

// ---- route cells -------------------------------------------------------------------------
export const kReqBase = 0;
export const kReqCells = METRIC_METHODS.length * METRIC_CLASSES.length;
/** Duration histogram: one count per bucket (not cumulative: the reader accumulates), the +Inf count, then the sum in seconds. */
export const kDurBase = kReqBase + kReqCells;
export const kDurCells = kBuckets + 2;
export const kUpBase = kDurBase + kDurCells;
export const kUpCells = kBuckets + 2;
export const kBytesIn = kUpBase + kUpCells;
export const kBytesOut = kBytesIn + 1;
export const kRouteCells = kBytesOut + 1;

// ---- instance cells ----------------------------------------------------------------------
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];
export const kInFlight = 0;
export const kErrBase = 1;
export const kInstanceCells = kErrBase + ERROR_CODES.length;

const F64 = Float64Array.BYTES_PER_ELEMENT;

/** Route cells for requests that matched no route (404, 400 before routing) sit after the last slot. */
export function unmatchedSlot(maxRoutes: number): number {
  return maxRoutes;
}

export function metricsBlockCells(maxRoutes: number): number {
  return kInstanceCells + (maxRoutes + 1) * kRouteCells;
}

/** One SharedArrayBuffer per worker index. */
export function allocateMetrics(workers: number, maxRoutes: number): SharedArrayBuffer[] {
  return Array.from({ length: workers }, () => new SharedArrayBuffer(metricsBlockCells(maxRoutes) * F64));
}

export function methodIndex(method: string): number {
  switch (method) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'POST': return 2;
    case 'PUT': return 3;
    case 'DELETE': return 4;
    case 'PATCH': return 5;
    case 'OPTIONS': return 6;
    default: return 7;
  }
}

/** 499 (client went away) counts as `aborted`. */
export function classIndex(status: number): number {
  if (status === 499) return 5;
  const c = Math.floor(status / 100) - 1;
  return c >= 0 && c <= 4 ? c : 4;
}

export function bucketIndex(seconds: number): number {
  for (let i = 0; i < kBuckets; i++) if (seconds <= DURATION_BUCKETS[i]) return i;
  return kBuckets;
}

export function routeBase(routeSlot: number): number {
  return kInstanceCells + routeSlot * kRouteCells;
}

export const ERROR_INDEX: Readonly<Record<string, number>> = Object.fromEntries(ERROR_CODES.map((c, i) => [c, i]));
