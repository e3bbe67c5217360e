import type { Logger } from 'pino';
import type { EtcdStore } from '../etcd/store.js';
import type { HostState } from '../snapshot/model.js';
import { heldBy } from '../snapshot/model.js';
import { HostSnapshot } from '../snapshot/snapshot.js';
import type { CapacitySource, HostCapacity } from './inventory.js';
import { hostCapacity } from './inventory.js';

const FREE_MARK = '\u0000free';

/** A host's capacity from its typed state: slots free, held, or unusable (counted as held). */
function capacityOf(host: HostState): HostCapacity | undefined {
  const config = host.configuration;
  if (!config) return undefined;
  if (!config.ok) return { host: host.host, physnets: [], problem: config.problem };
  const values = new Map<string, string>();
  for (const slot of host.slots.values()) {
    values.set(
      `${slot.physnet}/${slot.vhostId}`,
      slot.holder.free ? FREE_MARK : (heldBy(slot.holder) ?? slot.raw),
    );
  }
  return {
    host: host.host,
    physnets: hostCapacity(
      config.value,
      (physnet, id) => values.get(`${physnet}/${id}`),
      FREE_MARK,
    ),
  };
}

/**
 * The hosts' layouts and slot use for Placement, from the host snapshot: the binding
 * service's own (shared), or one of its own (`run` keeps it) when used alone.
 */
export class SnapshotCapacitySource implements CapacitySource {
  private readonly snapshot: HostSnapshot;
  private readonly owned: boolean;
  /** The problem last logged per host, so that each is logged once, not per sync. */
  private readonly problemsLogged = new Map<string, string>();

  constructor(
    source: HostSnapshot | EtcdStore,
    private readonly logger: Logger,
  ) {
    this.owned = !(source instanceof HostSnapshot);
    this.snapshot =
      source instanceof HostSnapshot ? source : new HostSnapshot(source, 'all', logger);
  }

  current(): HostCapacity[] | undefined {
    if (this.snapshot.status === 'loading') return undefined;
    const hosts = [...this.snapshot.hosts()]
      .map(capacityOf)
      .filter((host): host is HostCapacity => host !== undefined)
      .sort((a, b) => a.host.localeCompare(b.host));
    this.logProblems(hosts);
    return hosts;
  }

  private logProblems(hosts: readonly HostCapacity[]): void {
    const seen = new Set<string>();
    for (const { host, problem } of hosts) {
      if (problem === undefined) continue;
      seen.add(host);
      if (this.problemsLogged.get(host) === problem) continue;
      this.problemsLogged.set(host, problem);
      this.logger.warn({ host, problem }, 'host left out of Placement: its layout is unreadable');
    }
    for (const host of this.problemsLogged.keys()) {
      if (!seen.has(host)) this.problemsLogged.delete(host);
    }
  }

  onChange(listener: () => void): () => void {
    const offChanges = this.snapshot.listeners.onChanges((changes, relisted) => {
      if (
        relisted ||
        changes.some((change) => change.kind === 'configuration' || change.kind === 'vhost')
      ) {
        listener();
      }
    });
    const offStatus = this.snapshot.listeners.onStatus((status) => {
      if (status === 'synced') listener();
    });
    return () => {
      offChanges();
      offStatus();
    };
  }

  /** Keeps an owned snapshot until `signal` aborts (nothing to do for a shared one). */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.owned) return;
    if (!(await this.snapshot.load(signal))) return;
    await this.snapshot.run(signal);
  }
}
