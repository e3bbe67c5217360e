import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { ParsedKey } from '../etcd/keys.js';
import { parseKey } from '../etcd/keys.js';
import type { EtcdStore, KeyValue, WatchEvent } from '../etcd/store.js';
import { WatchResyncNeeded } from '../etcd/store.js';
import { Backoff, sleep } from '../util/backoff.js';
import { classifyEtcdFailure } from '../etcd/failure.js';
import { errorMessage } from '../util/errors.js';
import { Listeners } from './listeners.js';
import type { KeyChange } from './listeners.js';
import { HostRecord, applyChange } from './host-state.js';
import type { HostState, SnapshotChange, SyncStatus } from './model.js';
import type { KeyRange, Scope } from './scope.js';
import { describeScope, rangeReads, scopeRanges } from './scope.js';

export interface SnapshotOptions {
  /** Cap of the backoff between attempts to read or re-watch (ms). */
  retryMaxMs?: number;
  /** Called with every failed read (a caller may give up on some, by aborting). */
  onReadError?: (error: unknown) => void;
}

interface StoredKv {
  raw: string;
  modRevision: number;
  lease: string;
}

/** Why the watches of a generation stopped. */
type Restart = 'relist' | 'rewatch';

/**
 * The typed state of one host, or of every host, kept equal to etcd by one list-then-watch
 * cache: read every range at one revision, then watch each range from the next revision.
 * A watch that loses its connection is re-created from the revision after the last one
 * it delivered; one that etcd cancels (its revision was compacted) makes the snapshot
 * re-read everything and report the difference, deletions included. Only the watch writes
 * the snapshot; everybody else reads it and listens to its changes.
 */
export class HostSnapshot {
  /** The etcd revision the snapshot reflects at least (the latest batch or read). */
  revision = 0;
  /** Counts the changes applied: equal versions mean equal contents (for caching derived state). */
  version = 0;
  private readonly records = new Map<string, HostRecord>();
  private readonly kvs = new Map<string, StoredKv>();
  private readonly ranges: KeyRange[];
  private next: number[] = [];
  private current: SyncStatus = 'loading';
  private readonly disconnected = new Set<number>();
  private generation: AbortController | undefined;
  private pendingRestart: Restart | undefined;
  private readerFailing = false;
  readonly listeners: Listeners;
  private readonly retryMaxMs: number;
  private readonly onReadError: ((error: unknown) => void) | undefined;
  /** The last error of a read that failed (until one succeeds). */
  lastReadError: unknown;

  constructor(
    private readonly store: EtcdStore,
    readonly scope: Scope,
    private readonly logger: Logger,
    options: SnapshotOptions = {},
  ) {
    this.ranges = scopeRanges(scope);
    this.retryMaxMs = options.retryMaxMs ?? 2000;
    this.onReadError = options.onReadError;
    this.listeners = new Listeners(logger);
  }

  get status(): SyncStatus {
    return this.current;
  }

  /** The host's state (empty when etcd has nothing for it). */
  host(name: string): HostState {
    return this.records.get(name) ?? new HostRecord(name);
  }

  hosts(): IterableIterator<HostState> {
    return this.records.values();
  }

  /** Reads every range, retrying until etcd answers; false when `signal` aborted first. */
  async load(signal: AbortSignal): Promise<boolean> {
    const kvs = await this.readAll(signal);
    if (!kvs) return false;
    this.replace(kvs.kvs, kvs.revision);
    this.setStatus('synced');
    return true;
  }

  /** Watches until `signal` aborts; call after load(). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const generation = new AbortController();
      // Every range's watch loop waits on it (e.g. all back off at once after a reset).
      setMaxListeners(0, generation.signal);
      this.generation = generation;
      const stop = () => generation.abort();
      signal.addEventListener('abort', stop, { once: true });
      const loops = this.ranges.map((range, index) => this.watchRange(range, index, generation));
      await Promise.all(loops);
      signal.removeEventListener('abort', stop);
      const restart = this.pendingRestart;
      this.pendingRestart = undefined;
      if (signal.aborted) break;
      if (restart === 'relist' && !(await this.relist(signal))) break;
    }
    this.listeners.close();
  }

  /** Re-creates every watch from where it stopped (e.g. a watch found silent). */
  rewatch(): void {
    this.pendingRestart ??= 'rewatch';
    this.generation?.abort();
  }

  private async watchRange(range: KeyRange, index: number, generation: AbortController) {
    const backoff = new Backoff(100, this.retryMaxMs);
    const exactKey = 'key' in range;
    const target = 'key' in range ? range.key : range.prefix;
    while (!generation.signal.aborted) {
      const attempt = new AbortController();
      const signal = AbortSignal.any([generation.signal, attempt.signal]);
      try {
        const batches = this.store.watch(target, this.next[index] ?? 1, signal, {
          exactKey,
          onConnected: () => this.rangeConnected(index, backoff),
          onDisconnected: (error) => {
            this.rangeDisconnected(index, error);
            attempt.abort();
          },
        });
        for await (const batch of batches) {
          this.next[index] = Math.max(this.next[index] ?? 0, batch.revision + 1);
          this.applyBatch(batch.events, batch.revision);
        }
      } catch (error) {
        if (generation.signal.aborted) return;
        this.watchFailed(target, error);
        this.pendingRestart = 'relist';
        generation.abort();
        return;
      }
      if (attempt.signal.aborted && !generation.signal.aborted) {
        await sleep(backoff.next(), generation.signal);
      }
    }
  }

  private rangeConnected(index: number, backoff: Backoff): void {
    backoff.reset();
    if (!this.disconnected.delete(index)) return;
    if (this.disconnected.size === 0 && this.current === 'disconnected') {
      this.logger.info(
        { scope: describeScope(this.scope), revision: this.revision },
        'etcd watch resumed',
      );
      this.setStatus('synced');
    }
  }

  private rangeDisconnected(index: number, error: Error): void {
    const first = this.disconnected.size === 0;
    this.disconnected.add(index);
    if (!first || this.current !== 'synced') return;
    this.logger.warn(
      { scope: describeScope(this.scope), revision: this.revision, err: errorMessage(error) },
      'etcd watch disconnected; resuming from the last revision seen',
    );
    this.setStatus('disconnected');
  }

  private watchFailed(target: string, error: unknown): void {
    const compacted = error instanceof WatchResyncNeeded;
    this.logger.warn(
      { scope: describeScope(this.scope), range: target, err: errorMessage(error) },
      compacted
        ? 'etcd cancelled a watch (history compacted); re-reading'
        : 'etcd watch failed; re-reading',
    );
  }

  /** Re-reads everything, applies the difference (deletions included), tells every listener. */
  private async relist(signal: AbortSignal): Promise<boolean> {
    this.setStatus('resyncing');
    const fresh = await this.readAll(signal);
    if (!fresh) return false;
    const changes = this.diff(fresh.kvs, fresh.revision);
    this.logger.info(
      { scope: describeScope(this.scope), revision: fresh.revision, changed: changes.length },
      'etcd snapshot re-read; watching again',
    );
    this.disconnected.clear();
    this.setStatus('synced');
    this.listeners.emitChanges(changes, true);
    this.listeners.emitResync();
    return true;
  }

  private async readAll(
    signal: AbortSignal,
  ): Promise<{ kvs: KeyValue[]; revision: number } | undefined> {
    const backoff = new Backoff(100, this.retryMaxMs);
    while (!signal.aborted) {
      try {
        const snapshot = await this.store.read(rangeReads(this.ranges));
        if (this.readerFailing)
          this.logger.info({ scope: describeScope(this.scope) }, 'etcd reachable again');
        this.readerFailing = false;
        this.lastReadError = undefined;
        return snapshot;
      } catch (error) {
        this.lastReadError = error;
        this.onReadError?.(error);
        if (!this.readerFailing) {
          const failure = classifyEtcdFailure(error);
          this.logger.warn(
            {
              scope: describeScope(this.scope),
              err: errorMessage(error),
              etcd: failure.kind,
              reason: failure.reason,
            },
            'cannot read from etcd; retrying',
          );
        }
        this.readerFailing = true;
        await sleep(backoff.next(), signal);
      }
    }
    return undefined;
  }

  private replace(kvs: KeyValue[], revision: number): void {
    this.records.clear();
    this.kvs.clear();
    for (const kv of kvs)
      this.applyEvent({
        type: 'put',
        key: kv.key,
        value: kv.value,
        modRevision: kv.modRevision,
        lease: kv.lease,
      });
    this.revision = revision;
    this.next = this.ranges.map(() => revision + 1);
  }

  /** The changes that turn the snapshot into `kvs`; applies them. */
  private diff(kvs: KeyValue[], revision: number): SnapshotChange[] {
    const changes: SnapshotChange[] = [];
    const seen = new Set<string>();
    for (const kv of kvs) {
      seen.add(kv.key);
      const known = this.kvs.get(kv.key);
      if (known && known.modRevision === kv.modRevision) continue;
      const change = this.applyEvent({
        type: 'put',
        key: kv.key,
        value: kv.value,
        modRevision: kv.modRevision,
        lease: kv.lease,
      });
      if (change) changes.push(change);
    }
    for (const key of [...this.kvs.keys()]) {
      if (seen.has(key)) continue;
      const change = this.applyEvent({ type: 'delete', key, value: '', modRevision: revision });
      if (change) changes.push(change);
    }
    this.revision = revision;
    this.next = this.ranges.map(() => revision + 1);
    return changes;
  }

  private applyBatch(events: WatchEvent[], revision: number): void {
    const changes: SnapshotChange[] = [];
    const keyEvents: KeyChange[] = [];
    for (const event of events) {
      const change = this.applyEvent(event);
      if (!change) continue;
      changes.push(change);
      keyEvents.push({
        type: event.type,
        key: event.key,
        raw: event.value,
        modRevision: event.modRevision,
      });
    }
    this.revision = Math.max(this.revision, revision);
    if (changes.length === 0) return;
    this.listeners.emitChanges(changes, false);
    for (const event of keyEvents) this.listeners.emitKey(event);
  }

  private applyEvent(event: WatchEvent): SnapshotChange | undefined {
    const parsed: ParsedKey | undefined = parseKey(event.key);
    if (!parsed) return undefined;
    if (this.scope !== 'all' && parsed.host !== this.scope.host) return undefined;
    if (event.type === 'put') {
      this.kvs.set(event.key, {
        raw: event.value,
        modRevision: event.modRevision,
        lease: event.lease ?? '0',
      });
    } else if (!this.kvs.delete(event.key)) {
      return undefined;
    }
    const change: SnapshotChange = {
      ...parsed,
      type: event.type,
      key: event.key,
      modRevision: event.modRevision,
    };
    this.version++;
    applyChange(this.records, change, event.value, event.lease);
    return change;
  }

  private setStatus(status: SyncStatus): void {
    if (this.current === status) return;
    this.current = status;
    this.listeners.emitStatus(status);
  }
}
