import { setMaxListeners } from 'node:events';
import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3, Watcher } from 'etcd3';
export { EtcdCallAborted } from './failure.js';
import { settleWithin } from '../util/deadline.js';
import { errorMessage } from '../util/errors.js';
import type { CallTimeouts } from './call.js';
import { callWithFailover } from './call.js';
import type { EtcdSettings } from './connection.js';
import { DEFAULT_ETCD_SETTINGS, attemptTimeoutMs, createEtcdClient } from './connection.js';
import { Members } from './members.js';
import { guardedTxn, toOperation, withPrevious } from './txn-parts.js';
import type {
  Condition,
  KeyValue,
  Operation,
  RawKv,
  Read,
  Snapshot,
  TxnResult,
  WatchBatch,
  WatchHooks,
} from './types.js';
import { WatchResyncNeeded, toKeyValue } from './types.js';
import { creationDeadline, toBatch } from './watch-parts.js';

export type {
  Condition,
  KeyValue,
  Operation,
  Read,
  Snapshot,
  TxnResult,
  WatchBatch,
  WatchEvent,
  WatchHooks,
} from './types.js';
export { WatchResyncNeeded } from './types.js';
export type { CallTimeouts } from './call.js';

/** How long a watch's end waits for etcd to acknowledge the cancel (shutdown stays short). */
const WATCH_CANCEL_WAIT_MS = 250;

/**
 * Thin typed access to etcd for networking-spp: reads with revisions, compare-and-swap,
 * multi-key transactions, and watches that resume from a revision.
 */
export class EtcdStore {
  private readonly timeouts: CallTimeouts;
  private readonly members: Members;
  private closing = EtcdStore.closingController();
  private closed = false;

  /** Every call in flight listens to it: no listener limit (and no warning on stderr). */
  private static closingController(): AbortController {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    return controller;
  }

  /**
   * `client` serves the watches (etcd3 moves them between members itself); unary calls and
   * lease keep-alives go to `members`, by default `client` alone.
   */
  constructor(
    readonly client: Etcd3,
    timeouts: Partial<CallTimeouts> = {},
    members?: Members,
  ) {
    this.members = members ?? new Members([client]);
    const requestTimeoutMs = timeouts.requestTimeoutMs ?? DEFAULT_ETCD_SETTINGS.requestTimeoutMs;
    this.timeouts = {
      requestTimeoutMs,
      attemptTimeoutMs: Math.min(requestTimeoutMs, timeouts.attemptTimeoutMs ?? requestTimeoutMs),
    };
  }

  static connect(settings: EtcdSettings): EtcdStore {
    const client = createEtcdClient(settings);
    const member = (index: number) =>
      createEtcdClient({ ...settings, endpoints: settings.endpoints.slice(index, index + 1) });
    const members =
      settings.endpoints.length > 1
        ? new Members(
            settings.endpoints.map((_, index) => member(index)),
            member,
          )
        : undefined;
    const timeouts = {
      requestTimeoutMs: settings.requestTimeoutMs,
      attemptTimeoutMs: attemptTimeoutMs(settings),
    };
    return new EtcdStore(client, timeouts, members);
  }

  /** The deadline of one whole call (ms), e.g. for callers that wait on a store call. */
  get requestTimeoutMs(): number {
    return this.timeouts.requestTimeoutMs;
  }

  /**
   * Every call in flight rejects at once with EtcdCallAborted: a process shutting down
   * never waits on a call that etcd does not answer. Later calls run (e.g. the revoke of a
   * lease on the way out), each bounded by its deadline.
   */
  abortCalls(): void {
    const closing = this.closing;
    if (!this.closed) this.closing = EtcdStore.closingController();
    closing.abort();
  }

  private call<T>(
    what: string,
    attempt: (options: CallOptions, client: Etcd3) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    return callWithFailover(what, attempt, this.timeouts, stop, this.members);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const response = await this.call('get', (options, client) =>
      client.get(key).options(options).exec(),
    );
    const kv = response.kvs[0] as RawKv | undefined;
    return kv ? toKeyValue(kv) : undefined;
  }

  async getPrefix(prefix: string): Promise<Snapshot> {
    const response = await this.call('get', (options, client) =>
      client.getAll().prefix(prefix).options(options).exec(),
    );
    return {
      revision: Number(response.header.revision),
      kvs: (response.kvs as RawKv[]).map(toKeyValue),
    };
  }

  /** Several prefixes read at one revision (one transaction), e.g. a host's whole state. */
  async getPrefixes(prefixes: string[]): Promise<Snapshot> {
    const response = await this.call('read', (options, client) =>
      client
        .if(prefixes[0] ?? '/', 'Version', '>', -1)
        .then(...prefixes.map((prefix) => client.getAll().prefix(prefix)))
        .options(options)
        .commit(),
    );
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
    const response = await this.call('put', (options, client) =>
      client.put(key).value(value).options(options).exec(),
    );
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
    const response = await this.call('transaction', (options, client) =>
      guardedTxn(client, conditions)
        .then(...success.map((op) => toOperation(client, op)))
        .else(...failure.map((op) => toOperation(client, op)))
        .options(options)
        .commit(),
    );
    const kvs: KeyValue[] = [];
    for (const part of response.responses) {
      for (const kv of (part.response_range?.kvs ?? []) as RawKv[]) kvs.push(toKeyValue(kv));
    }
    return { succeeded: response.succeeded, revision: Number(response.header.revision), kvs };
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
      const batch = toBatch(response);
      if (batch) push(batch);
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
    const creation = creationDeadline(watcher, this.timeouts.requestTimeoutMs, (error) => {
      if (signal.aborted) return;
      hooks.onDisconnected?.(error);
      this.resetConnections();
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
      creation.stop();
      signal.removeEventListener('abort', onAbort);
      // A watch etcd already cancelled is gone from the client; cancelling it again
      // would wait forever for an acknowledgement.
      if (!cancelledByEtcd) await settleWithin(watcher.cancel(), WATCH_CANCEL_WAIT_MS);
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
    const response = await this.call('delete', (options, client) =>
      guardedTxn(client, conditions)
        .then(
          ...keys.map((key) => withPrevious(client.delete().key(key))),
          ...prefixes.map((prefix) => withPrevious(client.delete().prefix(prefix))),
        )
        .options(options)
        .commit(),
    );
    const deleted: KeyValue[] = [];
    for (const part of response.responses) {
      for (const kv of (part.response_delete_range?.prev_kvs ?? []) as RawKv[])
        deleted.push(toKeyValue(kv));
    }
    return { succeeded: response.succeeded, revision: Number(response.header.revision), deleted };
  }

  /** Grants a lease that expires `ttlSeconds` after the grant unless revoked; returns its id. */
  async grantLease(ttlSeconds: number): Promise<string> {
    const response = await this.call('lease grant', (options, client) =>
      client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, options),
    );
    return String(response.ID);
  }

  /**
   * Refreshes lease `id` once over a keep-alive stream of its own, which is cancelled when
   * etcd has not answered within one attempt's deadline (or on abort): a stream that a
   * black-holed member never answers must not hold the caller. Resolves with the TTL etcd
   * granted, 0 when the lease has expired. Retried like a unary call.
   */
  async keepAliveOnce(id: string, signal?: AbortSignal): Promise<number> {
    return this.call(
      'lease keep-alive',
      async (options, client) => {
        const stream = await client.leaseClient.leaseKeepAlive(options);
        let answered = false;
        try {
          const ttl = await new Promise<number>((resolve, reject) => {
            stream.on('data', (answer: { TTL: string }) => resolve(Number(answer.TTL)));
            stream.on('error', reject);
            stream.on('end', () => reject(new Error('lease keep-alive stream ended')));
            stream.write({ ID: id });
          });
          answered = true;
          return ttl;
        } finally {
          // A half-close ends an answered stream cleanly; cancelling it would count as a
          // failure of the member and drop its connections.
          if (answered) stream.end();
        }
      },
      signal,
    );
  }

  /** Revokes a lease: every key attached to it is deleted. An expired lease is not an error. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.call('lease revoke', (options, client) =>
        client.leaseClient.leaseRevoke({ ID: id }, options),
      );
    } catch (error) {
      if (!/requested lease not found/.test(errorMessage(error))) throw error;
    }
  }

  async ping(): Promise<void> {
    await this.call('status', (options, client) => client.maintenance.status(options));
  }

  /**
   * Drops the shared watch stream, so that every watch is re-created (from its last
   * revision) on a fresh stream: for a member that holds the connection but no longer
   * answers on it (black-holed), where no event ever fails and gRPC's own keep-alive may
   * take long to notice. The client counts the cancelled stream as a failure of its member
   * and drops that member's connections. Unary calls and lease keep-alives have a client
   * per member of their own (`Members`), which this leaves alone.
   */
  resetConnections(): void {
    const internals = this.client as unknown as {
      watchManager?: { stream?: { cancel(): void } };
    };
    internals.watchManager?.stream?.cancel();
  }

  close(): void {
    this.closed = true;
    this.closing.abort();
    this.client.close();
    this.members.close();
  }
}
