import type { ComparatorBuilder, Etcd3, ICompare, IOperation, Watcher } from 'etcd3';
import { errorMessage } from '../util/errors.js';
import type { EtcdSettings } from './connection.js';
import { createEtcdClient } from './connection.js';

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

interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  lease: string;
}

function toKeyValue(kv: RawKv): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: kv.lease,
  };
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

/** etcd3's getPrevious() executes at once; inside a transaction we only want the flag. */
function withPrevious<T extends IOperation>(builder: T): T {
  (builder as unknown as { request: { prev_kv: boolean } }).request.prev_kv = true;
  return builder;
}

/** The end of the key range holding every key that starts with `prefix`. */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index--) {
    if ((end[index] as number) < 0xff) {
      end[index] = (end[index] as number) + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}

type Comparison = [string, 'Value' | 'Version' | 'Mod', '==' | '>' | '<', string | number];

function comparison(condition: Condition): Comparison {
  if ('prefix' in condition) return [condition.prefix, 'Mod', '<', condition.notModifiedAfter + 1];
  if ('equals' in condition) return [condition.key, 'Value', '==', condition.equals];
  if ('absent' in condition) return [condition.key, 'Version', '==', 0];
  if ('present' in condition) return [condition.key, 'Version', '>', 0];
  return [condition.key, 'Mod', '==', condition.modRevision];
}

/**
 * Thin typed access to etcd for networking-spp: reads with revisions, compare-and-swap,
 * multi-key transactions, and watches that resume from a revision.
 */
export class EtcdStore {
  constructor(readonly client: Etcd3) {}

  static connect(settings: EtcdSettings): EtcdStore {
    return new EtcdStore(createEtcdClient(settings));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const response = await this.client.get(key).exec();
    const kv = response.kvs[0] as RawKv | undefined;
    return kv ? toKeyValue(kv) : undefined;
  }

  async getPrefix(prefix: string): Promise<Snapshot> {
    const response = await this.client.getAll().prefix(prefix).exec();
    return {
      revision: Number(response.header.revision),
      kvs: (response.kvs as RawKv[]).map(toKeyValue),
    };
  }

  /** Several prefixes read at one revision (one transaction), e.g. a host's whole state. */
  async getPrefixes(prefixes: string[]): Promise<Snapshot> {
    const response = await this.client
      .if(prefixes[0] ?? '/', 'Version', '>', -1)
      .then(...prefixes.map((prefix) => this.client.getAll().prefix(prefix)))
      .commit();
    const kvs: KeyValue[] = [];
    for (const part of response.responses) {
      for (const kv of (part.response_range?.kvs ?? []) as RawKv[]) kvs.push(toKeyValue(kv));
    }
    return { revision: Number(response.header.revision), kvs };
  }

  /** Single keys and prefixes read at one revision, in one request. */
  async read(reads: Read[]): Promise<Snapshot> {
    const result = await this.transaction([], reads);
    return { revision: result.revision, kvs: result.kvs };
  }

  async put(key: string, value: string): Promise<number> {
    const response = await this.client.put(key).value(value).exec();
    return Number(response.header.revision);
  }

  /**
   * Atomically replaces `key`'s value when it equals `expected` (null = key absent);
   * `next` null deletes the key.
   */
  async compareAndSwap(
    key: string,
    expected: string | null,
    next: string | null,
  ): Promise<boolean> {
    const condition: Condition =
      expected === null ? { key, absent: true } : { key, equals: expected };
    const operation: Operation = next === null ? { delete: key } : { put: key, value: next };
    const result = await this.transaction([condition], [operation]);
    return result.succeeded;
  }

  /** All `conditions` hold → apply `success` ops, else `failure` ops; atomically. */
  async transaction(
    conditions: Condition[],
    success: Operation[],
    failure: Operation[] = [],
  ): Promise<TxnResult> {
    const response = await this.guarded(conditions)
      .then(...success.map((op) => this.operation(op)))
      .else(...failure.map((op) => this.operation(op)))
      .commit();
    const kvs: KeyValue[] = [];
    for (const part of response.responses) {
      for (const kv of (part.response_range?.kvs ?? []) as RawKv[]) kvs.push(toKeyValue(kv));
    }
    return { succeeded: response.succeeded, revision: Number(response.header.revision), kvs };
  }

  /** A transaction builder whose compare list is `conditions` (always true when empty). */
  private guarded(conditions: Condition[]): ComparatorBuilder {
    const builder = this.client.if('/', 'Version', '>', -1);
    const compares = (builder as unknown as { request: { compare: Array<Promise<ICompare>> } })
      .request.compare;
    compares.length = 0;
    for (const condition of conditions) {
      const [key, field, cmp, value] = comparison(condition);
      builder.and(key, field, cmp, value);
      if ('prefix' in condition) {
        // etcd3's builder has no range compares; etcd compares every key in [key, range_end).
        const last = compares.length - 1;
        compares[last] = (compares[last] as Promise<ICompare>).then((compare) => ({
          ...compare,
          range_end: prefixEnd(condition.prefix),
        }));
      }
    }
    return builder;
  }

  private operation(op: Operation): IOperation {
    if ('put' in op) {
      const put = this.client.put(op.put).value(op.value);
      return op.lease ? put.lease(op.lease) : put;
    }
    if ('delete' in op) return this.client.delete().key(op.delete);
    if ('deletePrefix' in op) return this.client.delete().prefix(op.deletePrefix);
    if ('get' in op) return this.client.get(op.get);
    return this.client.getAll().prefix(op.getPrefix);
  }

  /**
   * Watches `prefix` from `fromRevision` (inclusive). The underlying client reconnects and
   * resumes after the last delivered revision by itself; when etcd cancels the watch (its
   * revision was compacted) the iterator throws WatchResyncNeeded. Ends when `signal` aborts.
   */
  async *watch(
    prefix: string,
    fromRevision: number,
    signal: AbortSignal,
    hooks: WatchHooks = {},
  ): AsyncGenerator<WatchBatch> {
    const queue: Array<WatchBatch | Error> = [];
    let wake: (() => void) | undefined;
    const push = (item: WatchBatch | Error) => {
      queue.push(item);
      wake?.();
    };
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    const builder = this.client.watch();
    const watcher: Watcher = (hooks.exactKey ? builder.key(prefix) : builder.prefix(prefix))
      .startRevision(String(fromRevision))
      .watcher();
    watcher.on('data', (response) => {
      const events: WatchEvent[] = response.events.map((event) => ({
        type: event.type === 'Delete' ? 'delete' : 'put',
        key: event.kv.key.toString(),
        value: event.kv.value.toString(),
        modRevision: Number(event.kv.mod_revision),
        lease: event.kv.lease,
      }));
      if (events.length > 0) push({ revision: Number(response.header.revision), events });
    });
    let cancelledByEtcd = false;
    watcher.on('error', (error: Error) => {
      cancelledByEtcd = true;
      push(new WatchResyncNeeded(error.message));
    });
    let nextRevision = fromRevision;
    watcher.on('data', (response) => {
      nextRevision = Number(response.header.revision) + 1;
    });
    watcher.on('connected', () => {
      // etcd3 moves the resume point to the current store revision when a (re)created
      // watch is confirmed, before the history from our start revision has arrived; a
      // disconnect at that moment would skip events. Resume from what we delivered.
      (watcher.request as { start_revision?: string }).start_revision = String(nextRevision);
      hooks.onConnected?.();
    });
    watcher.on('disconnected', (error: Error) => hooks.onDisconnected?.(error));
    try {
      while (!signal.aborted) {
        const item = queue.shift();
        if (item instanceof Error) throw item;
        if (item) {
          yield item;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // A watch etcd already cancelled is gone from the client; cancelling it again
      // would wait forever for an acknowledgement.
      if (!cancelledByEtcd) await settleWithin(watcher.cancel(), 2000);
    }
  }

  /**
   * Deletes `keys` and everything under `prefixes` in one transaction, guarded by
   * `conditions`; returns what was deleted (from etcd's previous values, so exact).
   */
  async deleteAtomically(
    keys: string[],
    prefixes: string[],
    conditions: Condition[] = [],
  ): Promise<{ succeeded: boolean; revision: number; deleted: KeyValue[] }> {
    const response = await this.guarded(conditions)
      .then(
        ...keys.map((key) => withPrevious(this.client.delete().key(key))),
        ...prefixes.map((prefix) => withPrevious(this.client.delete().prefix(prefix))),
      )
      .commit();
    const deleted: KeyValue[] = [];
    for (const part of response.responses) {
      for (const kv of (part.response_delete_range?.prev_kvs ?? []) as RawKv[])
        deleted.push(toKeyValue(kv));
    }
    return { succeeded: response.succeeded, revision: Number(response.header.revision), deleted };
  }

  /** Grants a lease that expires `ttlSeconds` after the grant unless revoked; returns its id. */
  async grantLease(ttlSeconds: number): Promise<string> {
    const response = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
    return String(response.ID);
  }

  /** Revokes a lease: every key attached to it is deleted. An expired lease is not an error. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: id });
    } catch (error) {
      if (!/requested lease not found/.test(errorMessage(error))) throw error;
    }
  }

  async ping(): Promise<void> {
    await this.client.maintenance.status();
  }

  close(): void {
    this.client.close();
  }
}
