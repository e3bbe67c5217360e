/** The etcd values EtcdStore reads, writes and watches, as typed plain data. */

export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  /** Lease id as a decimal string, "0" when the key has no lease. */
  lease: string;
}

/** Keys read at one etcd revision. */
export interface Snapshot {
  revision: number;
  kvs: KeyValue[];
}

export type Condition =
  | { key: string; equals: string }
  | { key: string; absent: true }
  | { key: string; present: true }
  | { key: string; modRevision: number }
  /** No key under `prefix` was written after `revision` (keys deleted since are not seen). */
  | { prefix: string; notModifiedAfter: number };

/** A read inside a transaction: one key, or every key under a prefix. */
export type Read = { get: string } | { getPrefix: string };

export type Operation =
  | { put: string; value: string; lease?: string }
  | { delete: string }
  | { deletePrefix: string }
  | Read;

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** What the `get`/`getPrefix` operations of the branch that ran returned, in order. */
  kvs: KeyValue[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value: string;
  modRevision: number;
  /** Lease id of a put ("0" without lease; deletes carry none). */
  lease?: string;
}

export interface WatchBatch {
  /** etcd revision after this batch; resume a watch at `revision + 1`. */
  revision: number;
  events: WatchEvent[];
}

/** The watch can no longer resume (e.g. its start revision was compacted): re-read and restart. */
export class WatchResyncNeeded extends Error {
  override readonly name = 'WatchResyncNeeded';
}

export interface WatchHooks {
  /** Watch exactly the key given as `prefix`, not every key that starts with it. */
  exactKey?: boolean;
  onConnected?: () => void;
  onDisconnected?: (error: Error) => void;
}

export interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  lease: string;
}

export function toKeyValue(kv: RawKv): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: kv.lease,
  };
}
