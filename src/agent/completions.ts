import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { Condition, EtcdStore, Operation } from '../etcd/store.js';
import { FREE } from '../etcd/values.js';
import type { HostState } from '../snapshot/model.js';
import { isUp } from '../snapshot/model.js';
import { errorMessage } from '../util/errors.js';
import type { PlugIntent, UnplugIntent } from './desired.js';
import type { AgentMetrics } from './metrics.js';

/** A completion this agent wrote, until its snapshot shows it (only the watch writes that). */
interface Written {
  action: 'plug' | 'unplug';
  bindPortRevision: number | undefined;
  /** Revision of the completion's transaction (infinite while it is in flight). */
  revision: number;
}

/**
 * The agent's answers in etcd, each a guarded transaction: `up` for a plugged port (only if
 * its request is still the one the agent carried out), and the end of an unplug (slot freed,
 * the port's keys deleted, only if nothing changed meanwhile). The agent never writes its
 * own copy of the keys: it remembers what it wrote until the watch delivers it, so the same
 * completion is not sent twice, and a slot re-claimed meanwhile is never mistaken as free.
 */
export class Completions {
  private readonly written = new Map<string, Written>();
  /** When the agent first saw each pending request (for latency figures). */
  private readonly seenAt = new Map<string, number>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly store: EtcdStore,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly metrics: AgentMetrics,
    /** Told of every `up` written (the re-announce of requests of the original driver). */
    private readonly onUp: (
      portId: string,
      bindPortRevision: number,
      revision: number,
    ) => void = () => undefined,
  ) {}

  /** A request of `portId` changed now (for the latency of its completion). */
  noteSeen(portId: string, pending: boolean): void {
    if (!pending) this.seenAt.delete(portId);
    else if (!this.seenAt.has(portId)) this.seenAt.set(portId, performance.now());
  }

  /**
   * Drops memories of completions the snapshot now shows, or that a newer request replaced.
   * A family of keys may show a transaction before another does (one watch each), so a
   * completion counts as shown only when all of it is: `up` seen, or every key gone.
   */
  prune(host: HostState): void {
    for (const [portId, written] of this.written) {
      const port = host.ports.get(portId);
      const newer = [port?.bindPort, port?.action, port?.status].some(
        (entry) => entry !== undefined && entry.modRevision > written.revision,
      );
      const shown = written.action === 'plug' ? isUp(port?.status) : port === undefined;
      if (!port || shown || newer) this.written.delete(portId);
    }
  }

  /** Reports `up`; false when etcd could not be reached (retry later). */
  reportUp(plug: PlugIntent): Promise<boolean> {
    if (plug.reportedUp || this.isWritten(plug.portId, 'plug', plug.bindPortRevision))
      return Promise.resolve(true);
    return this.track(this.writeUp(plug));
  }

  /** Frees the slot and removes the port's keys; false when etcd could not be reached. */
  finishUnplug(unplug: UnplugIntent): Promise<boolean> {
    if (this.isWritten(unplug.portId, 'unplug', unplug.bindPortRevision))
      return Promise.resolve(true);
    return this.track(this.writeUnplug(unplug));
  }

  /** Waits for completions in flight (shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** The same completion is written already (an unplug is one whatever keys are left of it). */
  private isWritten(
    portId: string,
    action: Written['action'],
    revision: number | undefined,
  ): boolean {
    const written = this.written.get(portId);
    if (written?.action !== action) return false;
    return action === 'unplug' || written.bindPortRevision === revision;
  }

  private track(work: Promise<boolean>): Promise<boolean> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
    return work;
  }

  private async writeUp(plug: PlugIntent): Promise<boolean> {
    const { portId } = plug;
    const sent: Written = {
      action: 'plug',
      bindPortRevision: plug.bindPortRevision,
      revision: Infinity,
    };
    this.written.set(portId, sent);
    try {
      const result = await this.store.transaction(
        [
          { key: keys.action(this.host, portId), equals: 'plug' },
          { key: keys.bindPort(this.host, portId), modRevision: plug.bindPortRevision },
        ],
        [{ put: keys.portStatus(this.host, portId), value: 'up' }],
      );
      this.settled(portId, sent, result);
      if (result.succeeded) {
        this.logDone('plug', portId, plug.vhostId);
        this.onUp(portId, plug.bindPortRevision, result.revision);
      }
      return true;
    } catch (error) {
      this.settled(portId, sent, undefined);
      this.logger.warn(
        { port_id: portId, vhost_id: plug.vhostId, err: errorMessage(error) },
        'cannot report the port up in etcd; will retry',
      );
      return false;
    }
  }

  private async writeUnplug(unplug: UnplugIntent): Promise<boolean> {
    const { portId } = unplug;
    const bindPortKey = keys.bindPort(this.host, portId);
    const conditions: Condition[] = [
      { key: keys.action(this.host, portId), equals: 'unplug' },
      unplug.bindPortRevision !== undefined
        ? { key: bindPortKey, modRevision: unplug.bindPortRevision }
        : { key: bindPortKey, absent: true },
    ];
    const operations: Operation[] = [
      { delete: bindPortKey },
      { delete: keys.action(this.host, portId) },
      { delete: keys.portStatus(this.host, portId) },
      { delete: keys.plugRequest(this.host, portId) },
    ];
    if (unplug.slot) {
      const slotKey = keys.vhost(this.host, unplug.slot.physnet, unplug.slot.vhostId);
      conditions.push({ key: slotKey, equals: portId });
      operations.push({ put: slotKey, value: FREE });
    }
    const sent: Written = {
      action: 'unplug',
      bindPortRevision: unplug.bindPortRevision,
      revision: Infinity,
    };
    this.written.set(portId, sent);
    try {
      const result = await this.store.transaction(conditions, operations);
      this.settled(portId, sent, result);
      if (result.succeeded) this.logDone('unplug', portId, unplug.vhostId);
      return true;
    } catch (error) {
      this.settled(portId, sent, undefined);
      this.logger.warn(
        { port_id: portId, vhost_id: unplug.vhostId, err: errorMessage(error) },
        'cannot complete the unplug in etcd; will retry',
      );
      return false;
    }
  }

  /** A completion's answer: remembered until the snapshot shows it, forgotten if it did not apply. */
  private settled(
    portId: string,
    sent: Written,
    result: { succeeded: boolean; revision: number } | undefined,
  ): void {
    if (this.written.get(portId) !== sent) return;
    if (result?.succeeded) sent.revision = result.revision;
    else this.written.delete(portId);
  }

  private logDone(action: 'plug' | 'unplug', portId: string, vhostId: number | undefined): void {
    const seen = this.seenAt.get(portId);
    this.seenAt.delete(portId);
    const seconds = seen === undefined ? 0 : (performance.now() - seen) / 1000;
    this.metrics.portAction(action, 'ok', seconds);
    this.logger.info(
      { port_id: portId, vhost_id: vhostId, action, duration_ms: Math.round(seconds * 10000) / 10 },
      action === 'plug' ? 'port plugged' : 'port unplugged',
    );
  }
}
