import { keys } from '../../etcd/keys.js';
import type { Condition, Operation } from '../../etcd/store.js';
import { FREE, encodeJson } from '../../etcd/values.js';
import type { TapInfo } from '../../etcd/values.js';
import type { HostState } from '../../snapshot/model.js';
import { heldBy, isUp, valueOf } from '../../snapshot/model.js';
import { unchanged } from '../bind/plan.js';

/** Tap flow decisions of the binding service (SYSTEM.md §3.4, §5.3.1), pure. */

export type TapDirection = 'IN' | 'OUT' | 'BOTH';

export interface TapFlowRequest {
  flowId: string;
  sourcePort: string;
  servicePort: string;
  direction: TapDirection;
}

export type TapRefusal =
  | 'not_spp_port'
  | 'cross_host'
  | 'same_port'
  | 'no_mirror'
  | 'no_free_mirror'
  | 'conflict'
  | 'busy';

/** Where a port is bound by SPP: the host whose bind_port names it. */
export function hostOfPort(hosts: Iterable<HostState>, portId: string): string | undefined {
  for (const host of hosts) if (host.ports.get(portId)?.bindPort?.ok) return host.host;
  return undefined;
}

/** The tap_info value, byte for byte as the original TaaS driver writes it (Python json.dumps). */
export function tapInfoValue(info: TapInfo): string {
  return encodeJson({
    service_port: info.service_port,
    source_port: info.source_port,
    mirror_in: info.mirror_in,
    mirror_out: info.mirror_out,
  });
}

export type CreatePlan =
  | { kind: 'refuse'; reason: TapRefusal; detail: string }
  /** Already requested with the same content: wait for (or report) its `up`. */
  | { kind: 'wait'; info: TapInfo; infoRevision: number; up: boolean }
  | {
      kind: 'write';
      info: TapInfo;
      conditions: Condition[];
      operations: Operation[];
    };

function sameInfo(a: TapInfo, b: Omit<TapInfo, 'mirror_in' | 'mirror_out'>, dir: TapDirection) {
  return (
    a.source_port === b.source_port &&
    a.service_port === b.service_port &&
    (a.mirror_in !== null) === (dir !== 'OUT') &&
    (a.mirror_out !== null) === (dir !== 'IN')
  );
}

/**
 * How to create a tap flow on `host` as it stands: refuse (with why), wait for an identical
 * request already there (a retry), or one transaction taking the lowest free mirror slots
 * (CAS `None` → flow id; one for IN or OUT, two for BOTH, tap-in's first) and writing
 * tap_info and tap_action `plug`, all guarded by what was read.
 */
/** The answer to a create for a flow whose keys already exist: a retry, or a refusal. */
function existingFlow(host: HostState, request: TapFlowRequest): CreatePlan | undefined {
  const { flowId } = request;
  const tap = host.taps.get(flowId);
  if (!tap?.info && !tap?.action) return undefined;
  const wanted = { source_port: request.sourcePort, service_port: request.servicePort };
  const info = valueOf(tap.info);
  const action = valueOf(tap.action);
  if (info && action === 'plug' && sameInfo(info, wanted, request.direction) && tap.info) {
    return { kind: 'wait', info, infoRevision: tap.info.modRevision, up: isUp(tap.status) };
  }
  if (action === 'unplug') {
    return {
      kind: 'refuse',
      reason: 'busy',
      detail: `tap flow ${flowId} is being unplugged on host ${host.host}; retry once it is gone`,
    };
  }
  return {
    kind: 'refuse',
    reason: 'conflict',
    detail: `tap flow ${flowId} already exists on host ${host.host} with other ports or direction`,
  };
}

/** The lowest free mirror slots the flow needs (tap-in's first), or why there are none. */
function freeMirrors(host: HostState, request: TapFlowRequest) {
  const configured = valueOf(host.configuration)?.mirror?.length ?? 0;
  if (configured === 0) {
    return {
      kind: 'refuse' as const,
      reason: 'no_mirror' as const,
      detail: `host ${host.host} has no spp_mirror (its layout has no mirrors)`,
    };
  }
  const need = request.direction === 'BOTH' ? 2 : 1;
  const free = [...host.mirrors.values()]
    .filter(
      (slot) =>
        slot.mirrorId < configured && (slot.holder.free || heldBy(slot.holder) === request.flowId),
    )
    .sort((a, b) => a.mirrorId - b.mirrorId);
  if (free.length < need) {
    const used = [...host.mirrors.values()].filter((slot) => !slot.holder.free).length;
    return {
      kind: 'refuse' as const,
      reason: 'no_free_mirror' as const,
      detail: `host ${host.host} has no free mirror for a ${request.direction} tap flow (${need} needed, ${used} of ${configured} in use)`,
    };
  }
  return free.slice(0, need);
}

/**
 * How to create a tap flow on `host` as it stands: refuse (with why), wait for an identical
 * request already there (a retry), or one transaction taking the lowest free mirror slots
 * (CAS `None` → flow id; one for IN or OUT, two for BOTH, tap-in's first) and writing
 * tap_info and tap_action `plug`, all guarded by what was read.
 */
export function planTapCreate(host: HostState, request: TapFlowRequest): CreatePlan {
  const existing = existingFlow(host, request);
  if (existing) return existing;
  const taken = freeMirrors(host, request);
  if (!Array.isArray(taken)) return taken;
  const { flowId } = request;
  const k = tapKeyNames(host.host, flowId);
  const status = host.taps.get(flowId)?.status;
  const mirrorIn = request.direction === 'OUT' ? null : (taken[0]?.mirrorId ?? null);
  const mirrorOut =
    request.direction === 'IN'
      ? null
      : (taken[request.direction === 'BOTH' ? 1 : 0]?.mirrorId ?? null);
  const info: TapInfo = {
    source_port: request.sourcePort,
    service_port: request.servicePort,
    mirror_in: mirrorIn,
    mirror_out: mirrorOut,
  };
  return {
    kind: 'write',
    info,
    conditions: [
      ...taken.map((slot): Condition => ({ key: slot.key, modRevision: slot.modRevision })),
      unchanged(k.info, undefined),
      unchanged(k.action, undefined),
      unchanged(k.status, status),
    ],
    operations: [
      ...taken.map((slot): Operation => ({ put: slot.key, value: flowId })),
      { put: k.info, value: tapInfoValue(info) },
      { put: k.action, value: 'plug' },
      ...(status ? [{ delete: k.status } as Operation] : []),
    ],
  };
}

export function tapKeyNames(host: string, flowId: string) {
  return {
    info: keys.tapInfo(host, flowId),
    action: keys.tapAction(host, flowId),
    status: keys.tapStatus(host, flowId),
  };
}

/**
 * Undoing a create that got no `up` in time: the slots go back to `None` and the keys go,
 * only if no `up` arrived and nothing else changed the request meanwhile.
 */
export function planTapRollback(
  host: string,
  flowId: string,
  infoRevision: number,
  slots: ReadonlyArray<{ key: string }>,
): { conditions: Condition[]; operations: Operation[] } {
  const k = tapKeyNames(host, flowId);
  return {
    conditions: [
      { key: k.info, modRevision: infoRevision },
      { key: k.action, equals: 'plug' },
      { key: k.status, absent: true },
      ...slots.map((slot): Condition => ({ key: slot.key, equals: flowId })),
    ],
    operations: [
      ...slots.map((slot): Operation => ({ put: slot.key, value: FREE })),
      { delete: k.info },
      { delete: k.action },
    ],
  };
}

export type DeleteResult = 'unplug_requested' | 'already_pending' | 'cleaned' | 'not_found';

export type DeletePlan =
  | { kind: 'none'; result: 'already_pending' | 'not_found' }
  | {
      kind: 'txn';
      result: 'unplug_requested' | 'cleaned';
      conditions: Condition[];
      operations: Operation[];
    };

/**
 * Deleting a tap flow on `host`: with a tap_action the agent is asked to unplug (it tears
 * the tap down, frees the slots, removes the keys); without one nothing can be wired, so
 * leftovers (tap_info, tap_status, slots held) are removed at once.
 */
export function planTapDelete(host: HostState, flowId: string): DeletePlan {
  const k = tapKeyNames(host.host, flowId);
  const tap = host.taps.get(flowId);
  const held = [...host.mirrors.values()].filter((slot) => heldBy(slot.holder) === flowId);
  if (!tap && held.length === 0) return { kind: 'none', result: 'not_found' };
  if (tap?.action) {
    if (valueOf(tap.action) === 'unplug') return { kind: 'none', result: 'already_pending' };
    return {
      kind: 'txn',
      result: 'unplug_requested',
      conditions: [unchanged(k.action, tap.action)],
      operations: [{ put: k.action, value: 'unplug' }],
    };
  }
  return {
    kind: 'txn',
    result: 'cleaned',
    conditions: [
      unchanged(k.action, undefined),
      unchanged(k.info, tap?.info),
      unchanged(k.status, tap?.status),
      ...held.map((slot): Condition => ({ key: slot.key, equals: flowId })),
    ],
    operations: [
      ...(tap?.info ? [{ delete: k.info } as Operation] : []),
      ...(tap?.status ? [{ delete: k.status } as Operation] : []),
      ...held.map((slot): Operation => ({ put: slot.key, value: FREE })),
    ],
  };
}

/** The host whose etcd keys (tap keys or a mirror slot) name the flow. */
export function hostOfFlow(hosts: Iterable<HostState>, flowId: string): string | undefined {
  for (const host of hosts) {
    if (host.taps.has(flowId)) return host.host;
    for (const slot of host.mirrors.values()) if (heldBy(slot.holder) === flowId) return host.host;
  }
  return undefined;
}

/** Every tap flow the host's keys name (tap keys or a mirror slot), with its latest revision. */
export function flowRevisions(host: HostState): Map<string, number> {
  const ids = new Map<string, number>();
  const note = (id: string, revision: number) => ids.set(id, Math.max(ids.get(id) ?? 0, revision));
  for (const tap of host.taps.values())
    for (const entry of [tap.info, tap.action, tap.status])
      if (entry) note(tap.flowId, entry.modRevision);
  for (const slot of host.mirrors.values()) {
    const holder = heldBy(slot.holder);
    if (holder !== undefined) note(holder, slot.modRevision);
  }
  return ids;
}
