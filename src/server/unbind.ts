import type { Logger } from 'pino';
import type { Condition, EtcdStore, Operation, Read } from '../etcd/store.js';
import { FREE } from '../etcd/values.js';
import { keys } from '../etcd/keys.js';
import { hostFromKvs } from '../snapshot/read.js';
import type { HostSnapshot } from '../snapshot/snapshot.js';
import { valueOf } from '../snapshot/model.js';
import type { PortView } from './bind/plan.js';
import { portKeyNames, portKeysOf, unchanged } from './bind/plan.js';
import type { BinderMetrics } from './metrics.js';

export type UnbindResult = 'unplug_requested' | 'already_pending' | 'cleaned' | 'not_found';

export interface UnbindOutcome {
  port_id: string;
  host: string;
  result: UnbindResult;
  detail: string;
}

const UNBIND_DETAILS: Record<UnbindResult, (host: string, portId: string) => string> = {
  unplug_requested: (host, portId) =>
    `the SPP agent on host ${host} will unplug port ${portId} and free its slot`,
  already_pending: (_host, portId) => `an unplug of port ${portId} is already requested`,
  cleaned: (host, portId) =>
    `port ${portId} had keys but no bind_port on host ${host}; they were removed and its slot freed`,
  not_found: (host, portId) => `port ${portId} has nothing on host ${host}`,
};

/** What taking a port off a host needs: nothing, or one guarded transaction. */
export type UnplugPlan =
  | { kind: 'none'; result: 'already_pending' | 'not_found' }
  | {
      kind: 'txn';
      result: 'unplug_requested' | 'cleaned';
      conditions: Condition[];
      operations: Operation[];
    };

/**
 * How to take a port off a host as `view` shows it (pure): with a bind_port the agent is
 * asked to unplug (it frees the slot and removes the keys); without one nothing can be in
 * SPP, so leftovers (action, status, slots held) are removed at once.
 */
export function planUnplug(view: PortView): UnplugPlan {
  const { portId } = view;
  const k = portKeyNames(view.host.host, portId);
  const port = portKeysOf(view);
  const held = view.host.slotsHeldBy(portId);
  if (!port.bindPort && !port.action && !port.status && !port.plugRequest && held.length === 0) {
    return { kind: 'none', result: 'not_found' };
  }
  if (port.bindPort) {
    if (valueOf(port.action) === 'unplug') return { kind: 'none', result: 'already_pending' };
    return {
      kind: 'txn',
      result: 'unplug_requested',
      conditions: [unchanged(k.bindPort, port.bindPort), unchanged(k.action, port.action)],
      // The marker only tells our agent not to re-announce a plug; an original agent would
      // leave it behind after the unplug, so it goes with the request.
      operations: [
        { put: k.action, value: 'unplug' },
        ...(port.plugRequest ? [{ delete: k.plugRequest }] : []),
      ],
    };
  }
  return {
    kind: 'txn',
    result: 'cleaned',
    conditions: [
      unchanged(k.bindPort, undefined),
      unchanged(k.action, port.action),
      unchanged(k.status, port.status),
      ...held.map((slot): Condition => ({ key: slot.key, equals: portId })),
    ],
    operations: [
      ...(port.action ? [{ delete: k.action }] : []),
      ...(port.status ? [{ delete: k.status }] : []),
      ...(port.plugRequest ? [{ delete: k.plugRequest }] : []),
      ...held.map((slot): Operation => ({ put: slot.key, value: FREE })),
    ],
  };
}

/** The reads an unbind plans from: the port's keys and the host's slots. */
export function unbindReads(host: string, portId: string): Read[] {
  const k = portKeyNames(host, portId);
  return [
    { get: k.bindPort },
    { get: k.action },
    { get: k.status },
    { getPrefix: keys.hostPrefix('vhost', host) },
  ];
}

const MAX_ATTEMPTS = 10;

/** Requests unplugs (idempotent; unknown ports are fine). */
export class Unbinder {
  constructor(
    private readonly store: EtcdStore,
    private readonly snapshot: HostSnapshot,
    private readonly logger: Logger,
    private readonly metrics: BinderMetrics,
  ) {}

  async unbind(portId: string, host: string): Promise<UnbindOutcome> {
    let requests = 0;
    const reads = unbindReads(host, portId);
    const fresh = async (): Promise<PortView> => {
      requests++;
      this.metrics.etcdRequest('read');
      const read = await this.store.read(reads);
      return { host: hostFromKvs(host, read.kvs), portId, revision: read.revision };
    };
    // The common case (a bound port) is planned from the snapshot: one guarded transaction.
    // Every other case is decided on a fresh read.
    let view: PortView | undefined =
      this.snapshot.status === 'synced'
        ? { host: this.snapshot.host(host), portId, revision: this.snapshot.revision }
        : undefined;
    const port = view && portKeysOf(view);
    if (!view || !port?.bindPort || valueOf(port.action) === 'unplug') view = await fresh();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const plan = planUnplug(view);
      if (plan.kind === 'txn') {
        requests++;
        this.metrics.etcdRequest('txn');
        const result = await this.store.transaction(plan.conditions, plan.operations, reads);
        if (!result.succeeded) {
          view = { host: hostFromKvs(host, result.kvs), portId, revision: result.revision };
          continue;
        }
      }
      this.metrics.unbind(plan.result);
      this.logger.info(
        { host, port_id: portId, result: plan.result, etcd_requests: requests },
        'unbind',
      );
      return {
        port_id: portId,
        host,
        result: plan.result,
        detail: UNBIND_DETAILS[plan.result](host, portId),
      };
    }
    throw new Error(`port ${portId} on host ${host} kept changing during unbind`);
  }
}
