import type { Logger } from 'pino';
import { errorMessage } from '../util/errors.js';
import type { SnapshotChange, SyncStatus } from './model.js';

/** A change of one watched key, or "the snapshot was re-read: look again, events may be lost". */
export interface KeyChange {
  type: 'put' | 'delete';
  key: string;
  raw: string;
  modRevision: number;
}
export type KeyEvent = KeyChange | { type: 'resync' };

/** `relisted`: the changes come from a re-read, not from watch events. */
export type ChangeListener = (changes: readonly SnapshotChange[], relisted: boolean) => void;
export type KeyListener = (event: KeyEvent) => void;
export type StatusListener = (status: SyncStatus) => void;

/**
 * Who hears about the snapshot: change listeners (every applied change), key listeners
 * (exact keys, for operations waiting on one port) and status listeners. Listeners run
 * after the snapshot is updated; a listener that throws is logged and does not stop others.
 */
export class Listeners {
  private readonly changes = new Set<ChangeListener>();
  private readonly keys = new Map<string, Set<KeyListener>>();
  private readonly statuses = new Set<StatusListener>();
  private readonly streamWakers = new Set<() => void>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  onChanges(listener: ChangeListener): () => void {
    this.changes.add(listener);
    return () => this.changes.delete(listener);
  }

  /** Calls `listener` for every change of any of `keys` until the returned function is called. */
  onKeys(keys: readonly string[], listener: KeyListener): () => void {
    for (const key of keys) {
      let set = this.keys.get(key);
      if (!set) this.keys.set(key, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const key of keys) {
        const set = this.keys.get(key);
        if (!set) continue;
        set.delete(listener);
        if (set.size === 0) this.keys.delete(key);
      }
    };
  }

  onStatus(listener: StatusListener): () => void {
    this.statuses.add(listener);
    return () => this.statuses.delete(listener);
  }

  /** The snapshot's statuses as a stream, starting with `current`, until `signal` aborts. */
  async *stream(current: SyncStatus, signal: AbortSignal): AsyncGenerator<SyncStatus> {
    const queue: SyncStatus[] = [current];
    let wake: (() => void) | undefined;
    const off = this.onStatus((status) => {
      queue.push(status);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    this.streamWakers.add(onAbort);
    try {
      while (!signal.aborted && !this.closed) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      off();
      this.streamWakers.delete(onAbort);
      signal.removeEventListener('abort', onAbort);
    }
  }

  emitChanges(changes: readonly SnapshotChange[], relisted: boolean): void {
    if (changes.length === 0 && !relisted) return;
    for (const listener of [...this.changes]) this.call(() => listener(changes, relisted));
  }

  emitKey(event: KeyChange): void {
    const set = this.keys.get(event.key);
    if (!set) return;
    for (const listener of [...set]) this.call(() => listener(event));
  }

  /** Tells every key listener that events may have been lost. */
  emitResync(): void {
    const all = new Set<KeyListener>();
    for (const set of this.keys.values()) for (const listener of set) all.add(listener);
    for (const listener of all) this.call(() => listener({ type: 'resync' }));
  }

  emitStatus(status: SyncStatus): void {
    for (const listener of [...this.statuses]) this.call(() => listener(status));
  }

  /** Ends every status stream (the snapshot stopped). */
  close(): void {
    this.closed = true;
    for (const wake of [...this.streamWakers]) wake();
  }

  private call(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'snapshot listener failed');
    }
  }
}
