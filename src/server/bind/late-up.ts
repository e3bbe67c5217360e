import type { Logger } from 'pino';
import type { EtcdStore } from '../../etcd/store.js';
import { FREE } from '../../etcd/values.js';
import type { HostSnapshot } from '../../snapshot/snapshot.js';
import { errorMessage } from '../../util/errors.js';
import { portKeyNames } from './plan.js';

/** How long a rolled-back bind is remembered, to undo an agent's late `up`. */
const LATE_UP_MEMORY_MS = 10 * 60_000;

export interface RolledBack {
  host: string;
  portId: string;
  slotKey: string;
  bindPortValue: string;
  /** Revision of the rollback: an `up` written after it is late. */
  revision: number;
  until: number;
}

/**
 * Remembers binds that were rolled back and undoes an agent's `up` that arrives after the
 * rollback (the original agent writes it unconditionally): the port is put back on its slot
 * with an unplug request, so the agent removes it from SPP and cleans up; if the slot is
 * taken by now, the stray status is removed. Undos run in the background; stop() awaits them.
 */
export class LateUps {
  private readonly entries = new Map<string, RolledBack>();
  private readonly running = new Set<Promise<void>>();
  private off: (() => void) | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly logger: Logger,
  ) {}

  start(snapshot: HostSnapshot): void {
    this.off = snapshot.listeners.onChanges((changes) => {
      for (const change of changes) {
        if (change.kind !== 'port_status' || change.type !== 'put') continue;
        const entry = this.entries.get(change.key);
        if (!entry || change.modRevision <= entry.revision) continue;
        if (snapshot.host(change.host).ports.get(change.portId)?.status?.raw !== 'up') continue;
        this.entries.delete(change.key);
        this.track(this.undo(entry, change.modRevision));
      }
    });
  }

  remember(entry: Omit<RolledBack, 'until'>): void {
    const now = Date.now();
    for (const [key, old] of this.entries) if (old.until < now) this.entries.delete(key);
    this.entries.set(portKeyNames(entry.host, entry.portId).status, {
      ...entry,
      until: now + LATE_UP_MEMORY_MS,
    });
  }

  async stop(): Promise<void> {
    this.off?.();
    await Promise.allSettled([...this.running]);
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  private async undo(entry: RolledBack, statusRevision: number): Promise<void> {
    const k = portKeyNames(entry.host, entry.portId);
    const log = { host: entry.host, port_id: entry.portId, slot: entry.slotKey };
    const portUntouched = [
      { key: k.bindPort, absent: true } as const,
      { key: k.action, absent: true } as const,
      { key: k.status, modRevision: statusRevision },
    ];
    try {
      const reclaim = await this.store.transaction(
        [{ key: entry.slotKey, equals: FREE }, ...portUntouched],
        [
          { put: entry.slotKey, value: entry.portId },
          { put: k.bindPort, value: entry.bindPortValue },
          { put: k.action, value: 'unplug' },
        ],
      );
      if (reclaim.succeeded) {
        this.logger.warn(log, 'agent reported up after the bind was rolled back; unplug requested');
        return;
      }
      const drop = await this.store.transaction(portUntouched, [{ delete: k.status }]);
      if (drop.succeeded) {
        this.logger.error(
          log,
          'agent reported up after the bind was rolled back and the slot is in use again; removed the stray port_status, SPP may still carry the port',
        );
      }
    } catch (error) {
      this.logger.error({ ...log, err: errorMessage(error) }, 'could not undo a late up');
    }
  }
}
