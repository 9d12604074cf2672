/**
 * Shared-memory layout: every offset, stride and field of the tables that the primary writes
 * and the workers read. No other file indexes a shared typed array with a bare number.
 *
 * Concurrency contract (one writer, many readers)
 * -----------------------------------------------
 * Writer: the primary thread only (TableWriter). Readers: every worker thread.
 * Exception: the live counters marked [atomic] are written by workers with Atomics.add/sub
 * and never reset by the primary (a reused slot inherits the in-flight count of requests that
 * are still finishing on the old occupant; their decrements bring it back to the truth).
 *
 * Structural data (the rows' text and config fields) is published as a batch:
 *   1. Atomics.add(control[kSeq], 1)            -> odd: a batch is being written
 *   2. write rows (text, fields) and append one patch-log record per changed row
 *   3. Atomics.store(control[kPublishedVersion], v); Atomics.store(control[kLogHead], head)
 *   4. Atomics.add(control[kSeq], 1)            -> even: the batch is published
 * A reader copies what it needs between two loads of kSeq and keeps the copy only if both
 * loads were equal and even (a seqlock over the whole table set). It then applies the copy to
 * its own caches in one synchronous task, so a request sees the old or the new version of a
 * batch, never a mix. Readers never wait: a reader that sees an odd or changed kSeq retries on
 * a later turn of its event loop (never Atomics.wait on a thread that serves traffic).
 *
 * Health (kDestHealth) is one field, written with Atomics.store outside any batch (the
 * console's health changes are independent per destination) and read with Atomics.load on
 * every pick.
 *
 *   control  Int32Array  [ layoutVersion | seq | publishedVersion | logHead | instanceReady | draining ]
 *   patchLog Int32Array  ring of kLogCapacity records, each [ version | table | slot ]
 *                        record i lives at ((i & kLogMask) * kLogStride); head counts records ever written
 *   destinations  Int32Array  capacity x kDestStride fields  + Uint8Array capacity x kDestTextBytes
 *   clusters      Int32Array  capacity x kClusterStride      + Uint8Array capacity x kClusterTextBytes
 *   routes        Int32Array  capacity x kRouteStride        + Uint8Array capacity x kRouteTextBytes
 *   authPolicies  Int32Array  capacity x kAuthPolicyStride   + Uint8Array capacity x kAuthPolicyTextBytes
 *
 *   text of a table (capacity n, rows of at most B bytes): one place per slot in each class
 *   +--------------------------+--------------------------+----------------------+
 *   | class 0: n x B/16 bytes  | class 1: n x B/4 bytes   | class 2: n x B bytes |
 *   +--------------------------+--------------------------+----------------------+
 *   a row's text sits in the smallest class that holds its kRowTextLen bytes, at
 *   classBase + slot x classBytes (see textOffset)
 *
 *   one destination row (Int32 fields)                       its text row (UTF-8 JSON)
 *   +-----+-------+--------+--------+---------+---------+    +------------------------------------+
 *   | gen | inUse | health | weight | cluster | ordinal |    | {"id":..,"address":..}  (kDestText) |
 *   +-----+-------+--------+--------+---------+---------+    +------------------------------------+
 *   | inFlight [atomic] | picks [atomic] | failures [atomic] | ejectedUntil [atomic] | textLen |
 *   +-------------------+----------------+--------------------+-----------------------+---------+
 */

/** Bump when any offset or meaning below changes. */
export const LAYOUT_VERSION = 2;

// ---- control block ----------------------------------------------------------------------
export const kLayoutVersion = 0;
/** Seqlock over structural writes: odd while the primary writes a batch. */
export const kSeq = 1;
/** Configuration version of the last published batch. */
export const kPublishedVersion = 2;
/** Number of patch-log records ever written (the ring's head). */
export const kLogHead = 3;
/** 1 once every worker of the instance has applied a configuration (the primary sets it). */
export const kInstanceReady = 4;
/** 1 while the instance drains (SIGTERM): /readyz answers 503 so balancers stop sending. */
export const kDraining = 5;
export const kControlFields = 6;

// ---- patch log --------------------------------------------------------------------------
export const kLogVersion = 0;
export const kLogTable = 1;
export const kLogSlot = 2;
export const kLogStride = 3;
/** Power of two so that a record index maps to a ring position with a mask. */
export const kLogCapacity = 1 << 16;
export const kLogMask = kLogCapacity - 1;

/** Values of kLogTable. */
export const TABLE_DESTINATIONS = 0;
export const TABLE_CLUSTERS = 1;
export const TABLE_ROUTES = 2;
export const TABLE_AUTH_POLICIES = 3;
export type TableId = typeof TABLE_DESTINATIONS | typeof TABLE_CLUSTERS | typeof TABLE_ROUTES | typeof TABLE_AUTH_POLICIES;

// ---- common row fields (every table starts with these) -----------------------------------
/** Incremented each time the slot gets a new occupant or new content. */
export const kRowGen = 0;
/** 1 = the slot holds a row, 0 = free. */
export const kRowInUse = 1;
/** Byte length of the row's UTF-8 JSON text. */
export const kRowTextLen = 2;

// ---- destination rows -------------------------------------------------------------------
export const kDestHealth = 3;          // HEALTH_UP | HEALTH_DOWN, Atomics.store by the primary
export const kDestWeight = 4;
export const kDestCluster = 5;         // slot of its cluster row
export const kDestOrdinal = 6;         // position in its cluster's destination list
export const kDestInFlight = 7;        // [atomic] requests in flight, all workers
export const kDestPicks = 8;           // [atomic] times chosen (wraps at 2^32)
export const kDestFailures = 9;        // [atomic] consecutive upstream failures
export const kDestEjectedUntil = 10;   // [atomic] passive ejection deadline, seconds of the process clock
export const kDestStride = 11;
export const kDestTextBytes = 512;

export const HEALTH_DOWN = 0;
export const HEALTH_UP = 1;

// ---- cluster rows -----------------------------------------------------------------------
export const kClusterPolicy = 3;       // index into LOAD_BALANCING_POLICIES
export const kClusterCursor = 4;       // [atomic] round-robin cursor shared by all workers
export const kClusterStride = 5;
export const kClusterTextBytes = 1024;

// ---- route rows -------------------------------------------------------------------------
export const kRouteStride = 3;
export const kRouteTextBytes = 2048;

// ---- auth policy rows (JWT settings; inline keys make them larger than routes) -----------
export const kAuthPolicyStride = 3;
export const kAuthPolicyTextBytes = 32_768;

// ---- text classes -----------------------------------------------------------------------
/**
 * Row texts are small next to their table's maximum (a typical route is ~100 bytes of 2,048),
 * and a written byte makes its whole page resident: one text place of the maximum size per
 * slot made 100,000 routes cost 200 MiB of resident memory. So each slot has one place in
 * each class, B >> shift bytes for the shifts below, and a row uses the smallest that holds
 * it. Which class is derived from kRowTextLen, so readers need no other field, and a row
 * never moves between slots (the publish protocol above is unchanged).
 */
export const kTextClassShifts = [4, 2, 0] as const;

/** Default capacities; every table is sized at start from GATEWAY_MAX_* settings. */
export const DEFAULT_MAX_DESTINATIONS = 16_384;
export const DEFAULT_MAX_CLUSTERS = 4_096;
export const DEFAULT_MAX_ROUTES = 131_072;
export const DEFAULT_MAX_AUTH_POLICIES = 256;

/**
 * The shared buffers of one instance, as handed to a worker in its workerData.
 * SharedArrayBuffers are shared, not copied, by postMessage.
 */
export interface SharedTables {
  readonly control: SharedArrayBuffer;
  readonly patchLog: SharedArrayBuffer;
  readonly destinations: SharedArrayBuffer;
  readonly destinationText: SharedArrayBuffer;
  readonly clusters: SharedArrayBuffer;
  readonly clusterText: SharedArrayBuffer;
  readonly routes: SharedArrayBuffer;
  readonly routeText: SharedArrayBuffer;
  readonly authPolicies: SharedArrayBuffer;
  readonly authPolicyText: SharedArrayBuffer;
}

export interface TableCapacities {
  readonly destinations: number;
  readonly clusters: number;
  readonly routes: number;
  readonly authPolicies: number;
}

const I32 = Int32Array.BYTES_PER_ELEMENT;

/**
 * Allocate zeroed tables. Untouched pages of a large SharedArrayBuffer are not resident, so
 * generous capacities cost address space, not memory.
 */
export function allocateTables(cap: TableCapacities): SharedTables {
  const control = new SharedArrayBuffer(kControlFields * I32);
  new Int32Array(control)[kLayoutVersion] = LAYOUT_VERSION;
  return {
    control,
    patchLog: new SharedArrayBuffer(kLogCapacity * kLogStride * I32),
    destinations: new SharedArrayBuffer(cap.destinations * kDestStride * I32),
    destinationText: new SharedArrayBuffer(textAreaBytes(cap.destinations, kDestTextBytes)),
    clusters: new SharedArrayBuffer(cap.clusters * kClusterStride * I32),
    clusterText: new SharedArrayBuffer(textAreaBytes(cap.clusters, kClusterTextBytes)),
    routes: new SharedArrayBuffer(cap.routes * kRouteStride * I32),
    routeText: new SharedArrayBuffer(textAreaBytes(cap.routes, kRouteTextBytes)),
    authPolicies: new SharedArrayBuffer(cap.authPolicies * kAuthPolicyStride * I32),
    authPolicyText: new SharedArrayBuffer(textAreaBytes(cap.authPolicies, kAuthPolicyTextBytes)),
  };
}

/** Bytes of a text area: every class, `capacity` places each. */
function textAreaBytes(capacity: number, textBytes: number): number {
  let bytes = 0;
  for (const shift of kTextClassShifts) bytes += capacity * (textBytes >> shift);
  return bytes;
}

export interface TableView {
  readonly rows: Int32Array;
  readonly stride: number;
  readonly text: Uint8Array;
  /** The most bytes a row's text may have (the largest class). */
  readonly textBytes: number;
  /** Place size of each class, smallest first (index-aligned with kTextClassShifts). */
  readonly classBytes: readonly number[];
  /** Offset in `text` of each class's first place. */
  readonly classBase: readonly number[];
}

/** Offset in `view.text` of the text of `len` bytes that row `slot` holds (len <= textBytes). */
export function textOffset(view: TableView, slot: number, len: number): number {
  const { classBytes, classBase } = view;
  let c = 0;
  while (len > classBytes[c]) c++;
  return classBase[c] + slot * classBytes[c];
}

function tableView(rows: Int32Array, stride: number, text: Uint8Array, textBytes: number): TableView {
  const capacity = rows.length / stride;
  const classBytes = kTextClassShifts.map((shift) => textBytes >> shift);
  const classBase: number[] = [];
  let base = 0;
  for (const bytes of classBytes) {
    classBase.push(base);
    base += capacity * bytes;
  }
  return { rows, stride, text, textBytes, classBytes, classBase };
}

/** Typed views over the buffers; each thread makes its own once. */
export class TableViews {
  readonly control: Int32Array;
  readonly patchLog: Int32Array;
  readonly destinations: Int32Array;
  readonly destinationText: Uint8Array;
  readonly clusters: Int32Array;
  readonly clusterText: Uint8Array;
  readonly routes: Int32Array;
  readonly routeText: Uint8Array;
  readonly authPolicies: Int32Array;
  readonly authPolicyText: Uint8Array;
  readonly capacities: TableCapacities;
  /** Indexed by TableId. */
  readonly #tables: readonly TableView[];

  constructor(tables: SharedTables) {
    this.control = new Int32Array(tables.control);
    if (Atomics.load(this.control, kLayoutVersion) !== LAYOUT_VERSION) {
      throw new Error(`shared table layout ${this.control[kLayoutVersion]} != ${LAYOUT_VERSION}`);
    }
    this.patchLog = new Int32Array(tables.patchLog);
    this.destinations = new Int32Array(tables.destinations);
    this.destinationText = new Uint8Array(tables.destinationText);
    this.clusters = new Int32Array(tables.clusters);
    this.clusterText = new Uint8Array(tables.clusterText);
    this.routes = new Int32Array(tables.routes);
    this.routeText = new Uint8Array(tables.routeText);
    this.authPolicies = new Int32Array(tables.authPolicies);
    this.authPolicyText = new Uint8Array(tables.authPolicyText);
    this.capacities = {
      destinations: this.destinations.length / kDestStride,
      clusters: this.clusters.length / kClusterStride,
      routes: this.routes.length / kRouteStride,
      authPolicies: this.authPolicies.length / kAuthPolicyStride,
    };
    this.#tables = [
      tableView(this.destinations, kDestStride, this.destinationText, kDestTextBytes),
      tableView(this.clusters, kClusterStride, this.clusterText, kClusterTextBytes),
      tableView(this.routes, kRouteStride, this.routeText, kRouteTextBytes),
      tableView(this.authPolicies, kAuthPolicyStride, this.authPolicyText, kAuthPolicyTextBytes),
    ];
  }

  /** The Int32 row array, its stride and its text area for a table. */
  table(id: TableId): TableView {
    return this.#tables[id];
  }
}
