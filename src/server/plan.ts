import { keys, parseKey } from '../etcd/keys.js';
import type { Condition, KeyValue, Operation, Read } from '../etcd/store.js';
import type { BindPort } from '../etcd/values.js';
import { FREE, bindPortSchema, encodeJson } from '../etcd/values.js';

/** A Neutron network segment as ML2 hands it to bind_port. */
export interface Segment {
  id: string;
  network_type: string;
  physical_network?: string | null;
  segmentation_id?: number | null;
}

/** One vhost slot key as read from etcd. */
export interface SlotView {
  key: string;
  physnet: string;
  vhostId: number;
  /** Port id holding it, or null when free (`None`). */
  portId: string | null;
  modRevision: number;
}

/** What one request read about one port on one host (and the host around it). */
export interface PortView {
  host: string;
  portId: string;
  revision: number;
  config?: KeyValue;
  agent?: KeyValue;
  slots: SlotView[];
  bindPort?: KeyValue;
  action?: KeyValue;
  status?: KeyValue;
}

/** The reads of one bind, in one etcd request: host config, agent, slots, the port's keys. */
export function portReads(host: string, portId: string): Read[] {
  return [
    { get: keys.configuration(host) },
    { get: keys.agent(host) },
    { getPrefix: keys.hostPrefix('vhost', host) },
    { get: keys.bindPort(host, portId) },
    { get: keys.action(host, portId) },
    { get: keys.portStatus(host, portId) },
  ];
}

/** Sorts what `portReads` returned into a PortView (keys are recognised, not positional). */
export function portView(
  host: string,
  portId: string,
  revision: number,
  kvs: KeyValue[],
): PortView {
  const view: PortView = { host, portId, revision, slots: [] };
  for (const kv of kvs) addToView(view, kv);
  view.slots.sort((a, b) => a.vhostId - b.vhostId);
  return view;
}

/** Adds one key of the host to a view; keys of other hosts or ports are ignored. */
export function addToView(view: PortView, kv: KeyValue): void {
  const parsed = parseKey(kv.key);
  if (!parsed || parsed.host !== view.host) return;
  switch (parsed.kind) {
    case 'configuration':
      view.config = kv;
      break;
    case 'agent':
      view.agent = kv;
      break;
    case 'vhost':
      view.slots.push({
        key: kv.key,
        physnet: parsed.physnet,
        vhostId: parsed.vhostId,
        portId: kv.value === FREE ? null : kv.value,
        modRevision: kv.modRevision,
      });
      break;
    case 'bind_port':
      if (parsed.portId === view.portId) view.bindPort = kv;
      break;
    case 'action':
      if (parsed.portId === view.portId) view.action = kv;
      break;
    case 'port_status':
      if (parsed.portId === view.portId) view.status = kv;
      break;
    default:
      break;
  }
}

/** Guard "this key is still exactly as I read it" (absent stays absent). */
export function unchanged(key: string, kv: KeyValue | undefined): Condition {
  return kv ? { key, modRevision: kv.modRevision } : { key, absent: true };
}

/** bind_port's value, or undefined when absent or unreadable (then it is rewritten). */
export function decodeBindPort(kv: KeyValue | undefined): BindPort | undefined {
  if (!kv) return undefined;
  try {
    const result = bindPortSchema.safeParse(JSON.parse(kv.value));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** What the port should be bound as: the chosen segment and the MAC. */
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
  | { kind: 'wait'; vhostId: number; slotKey: string; bindPortRevision: number }
  /** One transaction makes the port's keys as wanted; `claim` names a newly taken slot. */
  | {
      kind: 'write';
      vhostId: number;
      slotKey: string;
      claim?: string;
      conditions: Condition[];
      operations: Operation[];
    }
  /** The agent is unplugging an earlier binding of the port: wait until it is done. */
  | {
      kind: 'await-unplug';
      /**
       * No bind_port is left: either the agent is between its deletes, or a leftover no
       * agent will ever process. Wait briefly, then plan with `unplugLeftover`.
       */
      orphan: boolean;
    }
  /** The port is plugged differently (MAC, VLAN or physnet): unplug first, then bind again. */
  | { kind: 'request-unplug'; conditions: Condition[]; operations: Operation[] }
  | { kind: 'no-free-slot'; detail: string };

/**
 * Decides the next step of a bind from what was read. Pure: `avoid` are slot keys this
 * process is claiming right now, `pick` chooses among free slots (ascending vhost id).
 */
export function planBind(
  view: PortView,
  wanted: Wanted,
  avoid: { has(key: string): boolean },
  pick: (free: SlotView[]) => SlotView = (free) => free[0] as SlotView,
  options: { unplugLeftover?: boolean } = {},
): Plan {
  const { host, portId } = view;
  const bpKey = keys.bindPort(host, portId);
  const actionKey = keys.action(host, portId);
  const statusKey = keys.portStatus(host, portId);
  const bindPort = decodeBindPort(view.bindPort);
  const held = view.slots.filter((slot) => slot.portId === portId);
  const action = view.action?.value;
  const up = view.status?.value === 'up';

  if (action === 'unplug' && view.bindPort) return { kind: 'await-unplug', orphan: false };
  if (action === 'unplug' && !options.unplugLeftover) return { kind: 'await-unplug', orphan: true };

  const mine = (bindPort && held.find((slot) => slot.vhostId === bindPort.vhost_id)) ?? held[0];
  const matches =
    mine !== undefined &&
    bindPort !== undefined &&
    bindPort.vhost_id === mine.vhostId &&
    mine.physnet === wanted.physnet &&
    bindPort.mac_address.toLowerCase() === wanted.macAddress.toLowerCase() &&
    bindPort.vlan_id === wanted.vlanId;
  const extraHeld = held.filter((slot) => slot !== mine);
  const freeExtras = (): { conditions: Condition[]; operations: Operation[] } => ({
    conditions: extraHeld.map((slot) => ({ key: slot.key, equals: portId })),
    operations: extraHeld.map((slot) => ({ put: slot.key, value: FREE })),
  });

  if (matches && mine && view.bindPort) {
    if (action === 'plug' && up) return { kind: 'bound', vhostId: mine.vhostId, slotKey: mine.key };
    if (action === 'plug') {
      return {
        kind: 'wait',
        vhostId: mine.vhostId,
        slotKey: mine.key,
        bindPortRevision: view.bindPort.modRevision,
      };
    }
    // Keys as wanted but no plug request (or an odd one): request the plug again.
    const extras = freeExtras();
    return {
      kind: 'write',
      vhostId: mine.vhostId,
      slotKey: mine.key,
      conditions: [
        { key: mine.key, equals: portId },
        unchanged(bpKey, view.bindPort),
        unchanged(actionKey, view.action),
        unchanged(statusKey, view.status),
        ...extras.conditions,
      ],
      operations: [
        { put: actionKey, value: 'plug' },
        ...(view.status ? [{ delete: statusKey }] : []),
        ...extras.operations,
      ],
    };
  }

  if (mine && view.bindPort && bindPort) {
    // Plugged (or being plugged) with other details: the agent must undo that first.
    return {
      kind: 'request-unplug',
      conditions: [unchanged(bpKey, view.bindPort), unchanged(actionKey, view.action)],
      operations: [{ put: actionKey, value: 'unplug' }],
    };
  }

  // From here the port has no usable binding on this host: at most leftovers (a slot
  // without bind_port, keys without a slot, an unreadable bind_port), which are replaced.
  const portGuards: Condition[] = [
    unchanged(bpKey, view.bindPort),
    unchanged(actionKey, view.action),
    unchanged(statusKey, view.status),
  ];
  const statusCleanup: Operation[] = view.status ? [{ delete: statusKey }] : [];
  if (mine && mine.physnet === wanted.physnet) {
    const extras = freeExtras();
    return {
      kind: 'write',
      vhostId: mine.vhostId,
      slotKey: mine.key,
      conditions: [{ key: mine.key, equals: portId }, ...portGuards, ...extras.conditions],
      operations: [
        { put: bpKey, value: bindPortValue(wanted, mine.vhostId) },
        { put: actionKey, value: 'plug' },
        ...statusCleanup,
        ...extras.operations,
      ],
    };
  }
  const free = view.slots.filter(
    (slot) => slot.physnet === wanted.physnet && slot.portId === null && !avoid.has(slot.key),
  );
  if (free.length === 0) {
    const total = view.slots.filter((slot) => slot.physnet === wanted.physnet).length;
    return {
      kind: 'no-free-slot',
      detail: `all ${total} vhost slot(s) of physical network ${wanted.physnet} on host ${host} are in use`,
    };
  }
  const chosen = pick(free);
  return {
    kind: 'write',
    vhostId: chosen.vhostId,
    slotKey: chosen.key,
    claim: chosen.key,
    conditions: [
      { key: chosen.key, equals: FREE },
      ...portGuards,
      ...held.map((slot) => ({ key: slot.key, equals: portId })),
    ],
    operations: [
      { put: chosen.key, value: portId },
      { put: bpKey, value: bindPortValue(wanted, chosen.vhostId) },
      { put: actionKey, value: 'plug' },
      ...statusCleanup,
      ...held.map((slot) => ({ put: slot.key, value: FREE })),
    ],
  };
}

/** The host's physical networks served by SPP, from its configuration. */
export function selectSegment(
  segments: Segment[],
  physnets: ReadonlySet<string>,
): { segment: Segment; physnet: string; vlanId?: number } | undefined {
  for (const segment of segments) {
    const type = segment.network_type.toLowerCase();
    const physnet = segment.physical_network;
    if (!physnet || !physnets.has(physnet)) continue;
    if (type === 'flat') return { segment, physnet };
    if (type === 'vlan') {
      const vlanId = segment.segmentation_id;
      if (typeof vlanId === 'number' && vlanId >= 1 && vlanId <= 4094) {
        return { segment, physnet, vlanId };
      }
    }
  }
  return undefined;
}
