import { keys } from '../../etcd/keys.js';
import type { Condition, Operation } from '../../etcd/store.js';
import type { BindPort } from '../../etcd/values.js';
import { FREE, PLUG_REQUEST_MARKER, encodeJson } from '../../etcd/values.js';
import type { HostState, PortKeys, Slot, Stored } from '../../snapshot/model.js';
import { heldBy, isUp, valueOf } from '../../snapshot/model.js';

/** One port on one host as a request saw it, at `revision`. */
export interface PortView {
  host: HostState;
  portId: string;
  revision: number;
}

export function portKeysOf(view: PortView): PortKeys {
  return view.host.ports.get(view.portId) ?? { portId: view.portId };
}

/** The etcd keys of one port on one host. */
export function portKeyNames(host: string, portId: string) {
  return {
    bindPort: keys.bindPort(host, portId),
    action: keys.action(host, portId),
    status: keys.portStatus(host, portId),
    /** Our marker: this plug request is the service's (the agent need not re-announce `up`). */
    plugRequest: keys.plugRequest(host, portId),
  };
}

/** The marker write that goes with every plug request this service makes. */
function markRequest(k: ReturnType<typeof portKeyNames>): Operation {
  return { put: k.plugRequest, value: PLUG_REQUEST_MARKER };
}

/** Guard "this key is still exactly as I read it" (absent stays absent). */
export function unchanged(key: string, entry: Stored | undefined): Condition {
  return entry ? { key, modRevision: entry.modRevision } : { key, absent: true };
}

/** What the port should be bound as: the chosen physnet, VLAN and the (normalised) MAC. */
export interface Wanted {
  macAddress: string;
  physnet: string;
  /** VLAN id on vlan segments; undefined on flat. */
  vlanId?: number;
}

/** The bind_port value for a slot, encoded as the original driver does. */
export function bindPortValue(wanted: Wanted, vhostId: number): string {
  const value: BindPort = { mac_address: wanted.macAddress, vhost_id: vhostId };
  if (wanted.vlanId !== undefined) value.vlan_id = wanted.vlanId;
  return encodeJson(value);
}

export type Plan =
  /** The port is plugged as wanted: answer at once. */
  | { kind: 'bound'; vhostId: number; slotKey: string }
  /** A plug as wanted is already requested: just wait for `up`. */
  | {
      kind: 'wait';
      vhostId: number;
      slotKey: string;
      bindPortRevision: number;
      bindPortValue: string;
    }
  /** One transaction makes the port's keys as wanted; `claim` names a newly taken slot. */
  | {
      kind: 'write';
      vhostId: number;
      slotKey: string;
      claim?: string;
      /** The bind_port value the transaction writes (absent: it keeps the existing one). */
      writesBindPort?: string;
      conditions: Condition[];
      operations: Operation[];
    }
  /**
   * The agent is unplugging an earlier binding of the port: wait until it is done.
   * `orphan`: no bind_port is left, so it may be a leftover no agent will ever process.
   */
  | { kind: 'await-unplug'; orphan: boolean }
  /** The port is plugged differently (MAC, VLAN or physnet): unplug first, then bind again. */
  | { kind: 'request-unplug'; conditions: Condition[]; operations: Operation[] }
  | { kind: 'no-free-slot'; detail: string };

export interface PlanContext {
  /** `<physnet>/<vhost id>` of the slots the host's layout defines: only these are handed out. */
  layoutSlots: ReadonlySet<string>;
  /** Slot keys this process is claiming right now. */
  avoid: { has(key: string): boolean };
  /** Chooses among free slots (ascending vhost id); the first by default. */
  pick?: (free: readonly Slot[]) => Slot;
  /** An `unplug` without bind_port is a leftover: replace it. */
  unplugLeftover?: boolean;
}

function freeAndListed(slot: Slot, wanted: Wanted, context: PlanContext): boolean {
  return (
    slot.holder.free &&
    slot.physnet === wanted.physnet &&
    context.layoutSlots.has(`${slot.physnet}/${slot.vhostId}`) &&
    !context.avoid.has(slot.key)
  );
}

/** The slots `portId` holds besides `mine`, to be given back in the same transaction. */
function freeing(slots: readonly Slot[], portId: string) {
  return {
    conditions: slots.map((slot): Condition => ({ key: slot.key, equals: portId })),
    operations: slots.map((slot): Operation => ({ put: slot.key, value: FREE })),
  };
}

/**
 * Decides the next step of a bind from what was read (pure). The port's keys, its slots and
 * the host's free slots decide; every write is guarded by exactly what was read.
 */
export function planBind(view: PortView, wanted: Wanted, context: PlanContext): Plan {
  const { portId } = view;
  const k = portKeyNames(view.host.host, portId);
  const port = portKeysOf(view);
  const bindPort = valueOf(port.bindPort);
  const held = view.host.slotsHeldBy(portId);
  const action = valueOf(port.action);

  if (action === 'unplug' && port.bindPort) return { kind: 'await-unplug', orphan: false };
  if (action === 'unplug' && !context.unplugLeftover) return { kind: 'await-unplug', orphan: true };

  const mine = (bindPort && held.find((slot) => slot.vhostId === bindPort.vhost_id)) ?? held[0];
  const extras = freeing(
    held.filter((slot) => slot !== mine),
    portId,
  );
  if (mine && port.bindPort && bindPort) {
    const matches =
      bindPort.vhost_id === mine.vhostId &&
      mine.physnet === wanted.physnet &&
      bindPort.mac_address === wanted.macAddress &&
      bindPort.vlan_id === wanted.vlanId;
    if (!matches) {
      // Plugged (or being plugged) with other details: the agent must undo that first.
      return {
        kind: 'request-unplug',
        conditions: [unchanged(k.bindPort, port.bindPort), unchanged(k.action, port.action)],
        operations: [{ put: k.action, value: 'unplug' }],
      };
    }
    if (action === 'plug' && isUp(port.status)) {
      return { kind: 'bound', vhostId: mine.vhostId, slotKey: mine.key };
    }
    if (action === 'plug') {
      return {
        kind: 'wait',
        vhostId: mine.vhostId,
        slotKey: mine.key,
        bindPortRevision: port.bindPort.modRevision,
        bindPortValue: port.bindPort.raw,
      };
    }
    // Keys as wanted but no plug request (or an odd one): request the plug again.
    return {
      kind: 'write',
      vhostId: mine.vhostId,
      slotKey: mine.key,
      conditions: [
        { key: mine.key, equals: portId },
        unchanged(k.bindPort, port.bindPort),
        unchanged(k.action, port.action),
        unchanged(k.status, port.status),
        ...extras.conditions,
      ],
      operations: [
        { put: k.action, value: 'plug' },
        markRequest(k),
        ...(port.status ? [{ delete: k.status }] : []),
        ...extras.operations,
      ],
    };
  }
  return planFreshWrite(view, wanted, context, mine);
}

/**
 * The port has no usable binding on this host: at most leftovers (a slot without bind_port,
 * keys without a slot, an unreadable bind_port), which one transaction replaces.
 */
function planFreshWrite(
  view: PortView,
  wanted: Wanted,
  context: PlanContext,
  mine: Slot | undefined,
): Plan {
  const { portId } = view;
  const k = portKeyNames(view.host.host, portId);
  const port = portKeysOf(view);
  const held = view.host.slotsHeldBy(portId);
  const portGuards: Condition[] = [
    unchanged(k.bindPort, port.bindPort),
    unchanged(k.action, port.action),
    unchanged(k.status, port.status),
  ];
  const statusCleanup: Operation[] = port.status ? [{ delete: k.status }] : [];
  const target = mine && mine.physnet === wanted.physnet ? mine : undefined;
  const chosen = target ?? pickFree(view, wanted, context);
  if (!chosen) {
    const total = view.host.sortedSlots().filter((slot) => slot.physnet === wanted.physnet).length;
    return {
      kind: 'no-free-slot',
      detail: `all ${total} vhost slot(s) of physical network ${wanted.physnet} on host ${view.host.host} are in use`,
    };
  }
  const released = freeing(
    held.filter((slot) => slot !== chosen),
    portId,
  );
  const value = bindPortValue(wanted, chosen.vhostId);
  return {
    kind: 'write',
    vhostId: chosen.vhostId,
    slotKey: chosen.key,
    ...(target ? {} : { claim: chosen.key }),
    writesBindPort: value,
    conditions: [
      target ? { key: chosen.key, equals: portId } : { key: chosen.key, equals: FREE },
      ...portGuards,
      ...released.conditions,
    ],
    operations: [
      ...(target ? [] : [{ put: chosen.key, value: portId }]),
      { put: k.bindPort, value },
      { put: k.action, value: 'plug' },
      markRequest(k),
      ...statusCleanup,
      ...released.operations,
    ],
  };
}

function pickFree(view: PortView, wanted: Wanted, context: PlanContext): Slot | undefined {
  const free = view.host.sortedSlots().filter((slot) => freeAndListed(slot, wanted, context));
  if (free.length === 0) return undefined;
  return context.pick ? context.pick(free) : free[0];
}

/** The id holding a slot (undefined when free or unusable). */
export const slotHolder = (slot: Slot): string | undefined => heldBy(slot.holder);
