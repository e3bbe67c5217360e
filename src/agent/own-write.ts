import { keys } from '../etcd/keys.js';
import type { HostSnapshot } from '../snapshot/snapshot.js';
import type { OwnWriteWatch } from './liveness.js';
import type { AgentMetrics } from './metrics.js';

/**
 * The liveness key needs proof that the watch delivers: the snapshot must show the agent's
 * own write at `revision`; a silent watch is re-created.
 */
export function ownWriteWatch(
  snapshot: HostSnapshot,
  host: string,
  metrics: AgentMetrics,
): OwnWriteWatch {
  const key = keys.agent(host);
  return {
    confirmOwnWrite: (revision, timeoutMs, signal) =>
      new Promise<boolean>((resolve) => {
        if ((snapshot.host(host).agent?.modRevision ?? 0) >= revision) return resolve(true);
        if (signal?.aborted) return resolve(false);
        const finish = (seen: boolean) => {
          clearTimeout(timer);
          off();
          signal?.removeEventListener('abort', aborted);
          resolve(seen);
        };
        const aborted = () => finish(false);
        const off = snapshot.listeners.onKeys([key], (event) => {
          if (event.type !== 'resync' && event.modRevision >= revision) finish(true);
        });
        const timer = setTimeout(() => finish(false), timeoutMs);
        signal?.addEventListener('abort', aborted, { once: true });
      }),
    restartWatches: () => {
      metrics.watchRestart('silent');
      snapshot.rewatch();
    },
  };
}
