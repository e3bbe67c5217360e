import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { EtcdStore, WatchEvent } from '../etcd/store.js';
import { WatchResyncNeeded } from '../etcd/store.js';
import { Backoff, sleep } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import type { Change, HostKeys } from './host-keys.js';
import { hostWatchPrefixes } from './host-keys.js';
import type { AgentMetrics } from './metrics.js';

export interface EtcdSyncHandlers {
  /** Keys of the host changed (already applied to HostKeys). */
  changed(changes: Change[]): void;
  /** HostKeys was replaced by a fresh read: everything must be reconsidered. */
  reloaded(): void;
}

/**
 * Keeps HostKeys equal to etcd: one read of all the host's prefixes at one revision, then a
 * watch per prefix from the next revision. Each watch resumes after its last event across
 * disconnects; a watch etcd cancels (compaction) triggers a full re-read. The agent's own
 * liveness key is watched too, so `confirmOwnWrite` can prove the watch stream still delivers.
 */
export class EtcdSync {
  private generation: AbortController | undefined;
  private readonly resume = new Map<string, number>();
  private ownKeyRevision = 0;
  private ownKeyWaiters: Array<{ revision: number; resolve: (seen: boolean) => void }> = [];
  private resyncRequested = false;
  private wake: (() => void) | undefined;
  private etcdFailing = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly hostKeys: HostKeys,
    private readonly handlers: EtcdSyncHandlers,
    private readonly logger: Logger,
    private readonly metrics: AgentMetrics,
    private readonly retryMaxMs: number,
  ) {}

  private get prefixes(): string[] {
    return [...hostWatchPrefixes(this.hostKeys.host), keys.agent(this.hostKeys.host)];
  }

  /** Reads everything (retrying until etcd answers or `signal` aborts); returns the revision. */
  async load(signal: AbortSignal): Promise<number | undefined> {
    const backoff = new Backoff(100, this.retryMaxMs);
    while (!signal.aborted) {
      try {
        const snapshot = await this.store.getPrefixes(hostWatchPrefixes(this.hostKeys.host));
        this.hostKeys.reset(snapshot.kvs);
        this.resume.clear();
        for (const prefix of this.prefixes) this.resume.set(prefix, snapshot.revision + 1);
        if (this.etcdFailing) this.logger.info({}, 'etcd reachable again');
        this.etcdFailing = false;
        return snapshot.revision;
      } catch (error) {
        if (!this.etcdFailing) {
          this.logger.warn(
            { err: errorMessage(error) },
            'cannot read the host keys from etcd; retrying',
          );
        }
        this.etcdFailing = true;
        await sleep(backoff.next(), signal);
      }
    }
    return undefined;
  }

  /** Watches until `signal` aborts, restarting watches when asked to or when etcd cancels them. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const generation = new AbortController();
      this.generation = generation;
      const stop = () => generation.abort();
      signal.addEventListener('abort', stop, { once: true });
      const loops = this.prefixes.map((prefix) => this.watchPrefix(prefix, generation.signal));
      await Promise.race([...loops, new Promise<void>((resolve) => (this.wake = resolve))]);
      generation.abort();
      await Promise.allSettled(loops);
      signal.removeEventListener('abort', stop);
      if (signal.aborted) break;
      if (this.resyncRequested) {
        this.resyncRequested = false;
        this.metrics.watchRestart('resync');
        const revision = await this.load(signal);
        if (revision === undefined) break;
        this.logger.info({ revision }, 'host keys re-read; watching again');
        this.handlers.reloaded();
      }
    }
    for (const waiter of this.ownKeyWaiters) waiter.resolve(false);
    this.ownKeyWaiters = [];
  }

  /** Re-creates every watch from where it stopped (a silent watch stream). */
  restartWatches(): void {
    this.metrics.watchRestart('silent');
    this.generation?.abort();
    this.wake?.();
  }

  /** Resolves true once the watch has delivered the agent key at `revision` (or later). */
  confirmOwnWrite(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.ownKeyRevision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { revision, resolve: (seen: boolean) => resolve(seen) };
      this.ownKeyWaiters.push(waiter);
      setTimeout(() => {
        this.ownKeyWaiters = this.ownKeyWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs).unref();
    });
  }

  private async watchPrefix(prefix: string, signal: AbortSignal): Promise<void> {
    const from = this.resume.get(prefix) ?? 1;
    try {
      for await (const batch of this.store.watch(prefix, from, signal)) {
        let last = from - 1;
        const changes: Change[] = [];
        for (const event of batch.events) {
          last = Math.max(last, event.modRevision);
          if (prefix === keys.agent(this.hostKeys.host)) this.ownKeyEvent(event);
          else {
            const change = this.hostKeys.apply(event);
            if (change) changes.push(change);
          }
        }
        this.resume.set(prefix, Math.max(this.resume.get(prefix) ?? 0, last + 1));
        if (changes.length > 0) this.handlers.changed(changes);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof WatchResyncNeeded) {
        this.logger.warn(
          { prefix, err: error.message },
          'etcd cancelled a watch; re-reading the host',
        );
      } else {
        this.logger.warn({ prefix, err: errorMessage(error) }, 'watch failed; re-reading the host');
      }
      this.resyncRequested = true;
    }
  }

  private ownKeyEvent(event: WatchEvent): void {
    if (event.key !== keys.agent(this.hostKeys.host)) return;
    this.ownKeyRevision = Math.max(this.ownKeyRevision, event.modRevision);
    const [ready, waiting] = partition(
      this.ownKeyWaiters,
      (w) => w.revision <= this.ownKeyRevision,
    );
    this.ownKeyWaiters = waiting;
    for (const waiter of ready) waiter.resolve(true);
  }
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
