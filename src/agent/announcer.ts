import type { Logger } from 'pino';
import type { EtcdStore } from '../etcd/store.js';
import type { HostSnapshot } from '../snapshot/snapshot.js';
import { errorMessage } from '../util/errors.js';
import type { AnnouncedPort } from './announce.js';
import { needsReannounce, nextAnnounceAt, reannounceTransaction } from './announce.js';

interface Scheduled {
  port: AnnouncedPort;
  firstUpAt: number;
  timer: NodeJS.Timeout;
}

/**
 * Re-announces `up` for plug requests the original driver wrote (no marker of our service),
 * on the schedule of announce.ts, so that its watch, opened only after its request was
 * written, sees an `up` (SYSTEM.md §4.1). Each re-announce is a guarded transaction; a
 * failed guard (the port changed) ends that port's schedule.
 */
export class Announcer {
  private readonly scheduled = new Map<string, Scheduled>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;
  /** Re-announces written since start (for the figures of the extra writes). */
  written = 0;

  constructor(
    private readonly store: EtcdStore,
    private readonly snapshot: HostSnapshot,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The agent just wrote `up` for `portId` at `statusRevision`, for that bind_port revision. */
  reportedUp(portId: string, bindPortRevision: number, statusRevision: number): void {
    if (this.stopped) return;
    const keys = this.snapshot.host(this.host).ports.get(portId);
    const action = keys?.action;
    if (
      !action?.ok ||
      !needsReannounce({ action: action.value, marked: keys?.plugRequest !== undefined })
    ) {
      return;
    }
    this.cancel(portId);
    const port: AnnouncedPort = {
      host: this.host,
      portId,
      bindPortRevision,
      actionRevision: action.modRevision,
      statusRevision,
    };
    this.schedule(port, this.now());
  }

  /** Ports with a re-announce still to come. */
  get pending(): number {
    return this.scheduled.size;
  }

  /** Stops every schedule and waits for re-announces in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const portId of [...this.scheduled.keys()]) this.cancel(portId);
    await Promise.allSettled([...this.inflight]);
  }

  private cancel(portId: string): void {
    const entry = this.scheduled.get(portId);
    if (entry) clearTimeout(entry.timer);
    this.scheduled.delete(portId);
  }

  private schedule(port: AnnouncedPort, firstUpAt: number): void {
    const at = nextAnnounceAt(firstUpAt, this.now());
    if (at === undefined || this.stopped) {
      this.scheduled.delete(port.portId);
      return;
    }
    const timer = setTimeout(
      () => this.track(this.announce(port, firstUpAt)),
      Math.max(0, at - this.now()),
    );
    timer.unref();
    this.scheduled.set(port.portId, { port, firstUpAt, timer });
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async announce(port: AnnouncedPort, firstUpAt: number): Promise<void> {
    if (this.scheduled.get(port.portId)?.port !== port) return;
    const { conditions, operations } = reannounceTransaction(port);
    try {
      const result = await this.store.transaction(conditions, operations);
      if (!result.succeeded) {
        this.scheduled.delete(port.portId);
        return;
      }
      this.written++;
      this.schedule({ ...port, statusRevision: result.revision }, firstUpAt);
    } catch (error) {
      // etcd unreachable for a moment: try at the next time of the schedule.
      this.logger.debug(
        { port_id: port.portId, err: errorMessage(error) },
        'cannot re-announce up',
      );
      this.schedule(port, firstUpAt);
    }
  }
}
