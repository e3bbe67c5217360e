/** Time for the queue: injected so tests control it. */
export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

interface Delayed<P> {
  due: number;
  payload: P;
  cancel: () => void;
}

interface Entry<P> {
  /** What the next run of the key must do (merged from every add since the last run). */
  payload: P | undefined;
  processing: boolean;
  /** Ready to run as soon as it is not processing. */
  ready: boolean;
  delayed?: Delayed<P>;
}

/**
 * A keyed work queue in the manner of Kubernetes controllers: a key is queued at most once,
 * one run per key at a time, a key added while it runs is run again afterwards, and a key
 * can be re-queued after a delay (retry with backoff, or a re-check). Payloads added for a
 * waiting key are merged.
 */
export class WorkQueue<K, P> {
  private readonly entries = new Map<K, Entry<P>>();
  private readonly order: K[] = [];
  private waiters: Array<() => void> = [];
  private wakeScheduled = false;
  private closed = false;

  constructor(
    private readonly merge: (a: P, b: P) => P,
    private readonly clock: Clock = realClock,
  ) {}

  /** Queues `key` to run now (or right after its current run). */
  add(key: K, payload: P): void {
    if (this.closed) return;
    const entry = this.entry(key);
    entry.payload = entry.payload === undefined ? payload : this.merge(entry.payload, payload);
    if (entry.delayed) {
      entry.payload = this.merge(entry.payload, entry.delayed.payload);
      entry.delayed.cancel();
      delete entry.delayed;
    }
    if (!entry.ready) {
      entry.ready = true;
      if (!entry.processing) this.enqueue(key);
    }
  }

  /** Queues `key` after `ms`, unless it is queued sooner: by add(), or by an earlier delay. */
  addAfter(key: K, payload: P, ms: number): void {
    if (this.closed) return;
    const entry = this.entry(key);
    if (entry.ready) {
      entry.payload = entry.payload === undefined ? payload : this.merge(entry.payload, payload);
      return;
    }
    const due = this.clock.now() + ms;
    const earlier = entry.delayed;
    if (earlier && earlier.due <= due) {
      earlier.payload = this.merge(earlier.payload, payload);
      return;
    }
    earlier?.cancel();
    const merged = earlier ? this.merge(earlier.payload, payload) : payload;
    const delayed: Delayed<P> = {
      due,
      payload: merged,
      cancel: this.clock.schedule(() => {
        if (entry.delayed !== delayed) return;
        delete entry.delayed;
        this.add(key, delayed.payload);
      }, ms),
    };
    entry.delayed = delayed;
  }

  /** The next key to run and its payload; undefined once closed. The caller must call done(key). */
  async next(): Promise<{ key: K; payload: P } | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const key = this.order.shift();
      if (key !== undefined) {
        const entry = this.entries.get(key) as Entry<P>;
        entry.ready = false;
        entry.processing = true;
        const payload = entry.payload as P;
        entry.payload = undefined;
        return { key, payload };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The run of `key` ended; a key added meanwhile is queued again. */
  done(key: K): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.processing = false;
    if (entry.ready) this.enqueue(key);
    else if (!entry.delayed) this.entries.delete(key);
  }

  /** Keys queued or running. */
  get pending(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.ready || entry.processing) count++;
    return count;
  }

  /** Stops handing out keys; waiting next() calls return undefined; delayed keys are dropped. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.delayed?.cancel();
    this.wakeAll();
  }

  private entry(key: K): Entry<P> {
    let entry = this.entries.get(key);
    if (!entry)
      this.entries.set(key, (entry = { payload: undefined, processing: false, ready: false }));
    return entry;
  }

  /**
   * Workers are woken in the event loop's check phase, not at once: the watch messages of
   * one etcd transaction (one per key family) arrive in consecutive I/O callbacks, and a
   * key queued by each of them is then run once, on the whole transaction.
   */
  private enqueue(key: K): void {
    this.order.push(key);
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      for (let ready = this.order.length; ready > 0 && this.waiters.length > 0; ready--)
        this.waiters.shift()?.();
    });
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
