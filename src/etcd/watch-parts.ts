import type { IWatchResponse, Watcher } from 'etcd3';
import { DeadlineExceeded } from '../util/deadline.js';
import type { WatchBatch, WatchEvent } from './store.js';

/** A watch response as a batch of our events (undefined when it carries none, e.g. progress). */
export function toBatch(response: IWatchResponse): WatchBatch | undefined {
  const events: WatchEvent[] = response.events.map((event) => ({
    type: event.type === 'Delete' ? 'delete' : 'put',
    key: event.kv.key.toString(),
    value: event.kv.value.toString(),
    modRevision: Number(event.kv.mod_revision),
    lease: event.kv.lease,
  }));
  return events.length > 0 ? { revision: Number(response.header.revision), events } : undefined;
}

/**
 * Watch creation has a deadline too: a (re)created watch that etcd has not confirmed within
 * `ms` sits on a stream nobody answers (a black-holed member). `missed` is called then (the
 * store drops the stream so that the watch is re-created on a fresh one, and tells its
 * caller it is not watching). Armed at creation and at every disconnect, until stop().
 */
export function creationDeadline(
  watcher: Watcher,
  ms: number,
  missed: (error: Error) => void,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => {
      if (!stopped) missed(new DeadlineExceeded(`etcd watch not created within ${ms} ms`));
    }, ms);
  };
  arm();
  watcher.on('connected', () => clearTimeout(timer));
  watcher.on('disconnected', arm);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
