/**
 * Every Redis key and channel of the control plane, derived from one prefix
 * (GATEWAY_REDIS_PREFIX, default `fengling:`).
 *
 * All keys of one prefix carry the same hash tag, `{fengling}`, so that Redis Cluster puts
 * them in one slot: the commit script touches the version, epoch, snapshot and history keys
 * at once, and a multi-key script must not cross slots. A prefix that already contains a
 * `{...}` tag is used as it is.
 *
 *   {fengling}:config:epoch      string   id of this Redis's configuration lineage (see protocol.md)
 *   {fengling}:config:version    string   version of the snapshot (0 / absent = no configuration)
 *   {fengling}:config:snapshot   string   JSON SnapshotRecord: the whole configuration at that version
 *   {fengling}:config:history    list     JSON HistoryEntry, newest first, capped
 *   {fengling}:config:changes    channel  JSON ChangeMessage, one per version (a hint: lossy)
 *   {fengling}:health            hash     "cluster/destination" -> JSON HealthReport (the truth)
 *   {fengling}:health:changes    channel  JSON HealthReport (a hint: lossy)
 *   {fengling}:instances         zset     instance id -> last heartbeat (ms since epoch)
 *   {fengling}:instance:<id>     string   JSON Heartbeat, with a TTL
 *   {fengling}:audit             (reserved for the security issue's audit log)
 */
export interface ControlPlaneKeys {
  readonly prefix: string;
  readonly epoch: string;
  readonly version: string;
  readonly snapshot: string;
  readonly history: string;
  readonly changes: string;
  readonly health: string;
  readonly healthChanges: string;
  readonly instances: string;
  instance(id: string): string;
}

export const DEFAULT_PREFIX = 'fengling:';

/** `fengling:` -> `{fengling}:`; `{tenant-a}:gw:` stays as it is. */
export function hashTaggedPrefix(prefix: string): string {
  if (/\{[^{}]+\}/.test(prefix)) return prefix;
  const bare = prefix.endsWith(':') ? prefix.slice(0, -1) : prefix;
  return `{${bare}}:`;
}

export function controlPlaneKeys(prefix = DEFAULT_PREFIX): ControlPlaneKeys {
  const p = hashTaggedPrefix(prefix);
  return {
    prefix: p,
    epoch: `${p}config:epoch`,
    version: `${p}config:version`,
    snapshot: `${p}config:snapshot`,
    history: `${p}config:history`,
    changes: `${p}config:changes`,
    health: `${p}health`,
    healthChanges: `${p}health:changes`,
    instances: `${p}instances`,
    instance: (id: string) => `${p}instance:${id}`,
  };
}
