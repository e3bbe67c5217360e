import type { Logger } from 'pino';
import { keys } from '../../etcd/keys.js';
import type { Condition, EtcdStore, Operation } from '../../etcd/store.js';
import { FREE } from '../../etcd/values.js';
import type { HostState } from '../../snapshot/model.js';
import { isUp } from '../../snapshot/model.js';
import { errorMessage } from '../../util/errors.js';
import type { TapPlugIntent, TapUnplugIntent } from './desired.js';

/**
 * The agent's answers for tap flows, each a guarded transaction (SYSTEM.md §5.3.1):
 * `tap_status = up` only while the request is still the one carried out (tap_action plug,
 * tap_info unchanged); the end of an unplug frees the flow's mirror slots (only those still
 * holding its id) and deletes tap_info, tap_action and tap_status. What was written is
 * remembered until the snapshot shows it, so one answer is not sent twice.
 */
export class TapCompletions {
  private readonly written = new Map<string, { action: 'plug' | 'unplug'; revision: number }>();

  constructor(
    private readonly store: EtcdStore,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly onDone: (action: 'plug' | 'unplug') => void = () => undefined,
  ) {}

  prune(host: HostState): void {
    for (const [flowId, written] of this.written) {
      const tap = host.taps.get(flowId);
      const newer = [tap?.info, tap?.action].some(
        (entry) => entry !== undefined && entry.modRevision > written.revision,
      );
      const shown = written.action === 'plug' ? isUp(tap?.status) : tap === undefined;
      if (!tap || shown || newer) this.written.delete(flowId);
    }
  }

  async reportUp(plug: TapPlugIntent, calls: number): Promise<boolean> {
    if (plug.reportedUp || this.written.get(plug.flowId)?.action === 'plug') return true;
    const { flowId } = plug;
    const sent = { action: 'plug' as const, revision: Infinity };
    this.written.set(flowId, sent);
    try {
      const result = await this.store.transaction(
        [
          { key: keys.tapAction(this.host, flowId), equals: 'plug' },
          { key: keys.tapInfo(this.host, flowId), modRevision: plug.infoRevision },
        ],
        [{ put: keys.tapStatus(this.host, flowId), value: 'up' }],
      );
      if (result.succeeded) {
        sent.revision = result.revision;
        this.onDone('plug');
        this.logger.info(
          {
            tap_flow_id: flowId,
            source_port: plug.sourcePort,
            service_port: plug.servicePort,
            mirrors: plug.mirrors,
            calls,
          },
          'tap plugged',
        );
      } else this.written.delete(flowId);
      return true;
    } catch (error) {
      this.written.delete(flowId);
      this.logger.warn(
        { tap_flow_id: flowId, err: errorMessage(error) },
        'cannot report the tap up in etcd; will retry',
      );
      return false;
    }
  }

  async finishUnplug(unplug: TapUnplugIntent): Promise<boolean> {
    const { flowId } = unplug;
    if (this.written.get(flowId)?.action === 'unplug') return true;
    const infoKey = keys.tapInfo(this.host, flowId);
    const conditions: Condition[] = [
      { key: keys.tapAction(this.host, flowId), equals: 'unplug' },
      unplug.infoRevision !== undefined
        ? { key: infoKey, modRevision: unplug.infoRevision }
        : { key: infoKey, absent: true },
    ];
    const operations: Operation[] = [];
    for (const mirrorId of unplug.slots) {
      const slotKey = keys.mirror(this.host, mirrorId);
      conditions.push({ key: slotKey, equals: flowId });
      operations.push({ put: slotKey, value: FREE });
    }
    operations.push(
      { delete: infoKey },
      { delete: keys.tapAction(this.host, flowId) },
      { delete: keys.tapStatus(this.host, flowId) },
    );
    const sent = { action: 'unplug' as const, revision: Infinity };
    this.written.set(flowId, sent);
    try {
      const result = await this.store.transaction(conditions, operations);
      if (result.succeeded) {
        sent.revision = result.revision;
        this.onDone('unplug');
        this.logger.info({ tap_flow_id: flowId, mirrors: unplug.slots }, 'tap unplugged');
      } else this.written.delete(flowId);
      return true;
    } catch (error) {
      this.written.delete(flowId);
      this.logger.warn(
        { tap_flow_id: flowId, err: errorMessage(error) },
        'cannot complete the tap unplug in etcd; will retry',
      );
      return false;
    }
  }
}
