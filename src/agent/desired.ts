import type { BindPort } from '../etcd/values.js';
import type { HostState, PortKeys } from '../snapshot/model.js';
import { heldBy, isUp } from '../snapshot/model.js';
import type { AgentLayout } from './layout-index.js';

/** What one vhost should carry, according to etcd. */
export type DesiredVhost =
  | { kind: 'carry'; portId: string; mac: string; vlanId?: number }
  /** Nothing wants this vhost: whatever SPP has on it is unplugged. */
  | { kind: 'empty' }
  /** Someone is mid-way (slot taken, request not written yet, or a broken request): hands off. */
  | { kind: 'keep' };

/** A port etcd asks to plug (action `plug` with a usable bind_port). */
export interface PlugIntent {
  portId: string;
  vhostId: number;
  bindPortRevision: number;
  reportedUp: boolean;
}

/** A port etcd asks to unplug. Without a usable bind_port the vhost is unknown. */
export interface UnplugIntent {
  portId: string;
  vhostId?: number;
  bindPortRevision?: number;
  /** The slot that holds this port's id, if any. */
  slot?: { physnet: string; vhostId: number };
}

/** A request the agent cannot act on; it is logged and its keys are left in place. */
export interface Problem {
  portId: string;
  vhostId?: number;
  reason: string;
  /** May be a watch-ordering artefact (action seen before its bind_port): report only if it lasts. */
  transient?: boolean;
}

export interface DesiredState {
  vhosts: Map<number, DesiredVhost>;
  plugs: PlugIntent[];
  unplugs: UnplugIntent[];
  problems: Problem[];
  /** Ports that are the source or service of a tap etcd wants (set with the taps, taps/desired.ts). */
  tapPorts?: ReadonlySet<string>;
}

interface Claim {
  portId: string;
  bindPort: BindPort;
  revision: number;
}

/** Where each port id holds a slot. */
function slotOwners(host: HostState): Map<string, { physnet: string; vhostId: number }> {
  const owners = new Map<string, { physnet: string; vhostId: number }>();
  for (const slot of host.slots.values()) {
    const holder = heldBy(slot.holder);
    if (holder !== undefined) owners.set(holder, { physnet: slot.physnet, vhostId: slot.vhostId });
  }
  return owners;
}

type Classified =
  | { kind: 'plug'; claim: Claim }
  | { kind: 'unplug'; unplug: UnplugIntent }
  | { kind: 'problem'; problem: Problem };

/** What one port's keys ask of the agent. */
function classify(
  port: PortKeys,
  layout: AgentLayout,
  owners: ReturnType<typeof slotOwners>,
): Classified | undefined {
  const { portId, action, bindPort } = port;
  if (!action) return undefined;
  if (!action.ok) {
    return {
      kind: 'problem',
      problem: { portId, reason: `unexpected action value ${JSON.stringify(action.raw)}` },
    };
  }
  if (action.value === 'unplug') {
    if (bindPort && !bindPort.ok) {
      return { kind: 'problem', problem: { portId, reason: `cannot unplug: ${bindPort.problem}` } };
    }
    const slot = owners.get(portId);
    return {
      kind: 'unplug',
      unplug: {
        portId,
        ...(bindPort?.ok
          ? { vhostId: bindPort.value.vhost_id, bindPortRevision: bindPort.modRevision }
          : {}),
        ...(slot ? { slot } : {}),
      },
    };
  }
  if (!bindPort) {
    return {
      kind: 'problem',
      problem: { portId, reason: 'action is plug but bind_port is missing', transient: true },
    };
  }
  if (!bindPort.ok) return { kind: 'problem', problem: { portId, reason: bindPort.problem } };
  const vhostId = bindPort.value.vhost_id;
  if (!layout.vhosts.has(vhostId)) {
    return {
      kind: 'problem',
      problem: { portId, vhostId, reason: `vhost ${vhostId} is not in the host's layout` },
    };
  }
  return {
    kind: 'plug',
    claim: { portId, bindPort: bindPort.value, revision: bindPort.modRevision },
  };
}

/** Every port's request, sorted into problems, unplugs and claims on vhosts. */
function classifyPorts(host: HostState, layout: AgentLayout) {
  const problems: Problem[] = [];
  const unplugs: UnplugIntent[] = [];
  const claims = new Map<number, Claim[]>();
  const owners = slotOwners(host);
  for (const port of host.ports.values()) {
    const classified = classify(port, layout, owners);
    if (!classified) continue;
    if (classified.kind === 'problem') problems.push(classified.problem);
    else if (classified.kind === 'unplug') unplugs.push(classified.unplug);
    else {
      const vhostId = classified.claim.bindPort.vhost_id;
      claims.set(vhostId, [...(claims.get(vhostId) ?? []), classified.claim]);
    }
  }
  return { problems, unplugs, claims };
}

/**
 * Derives the desired SPP state of the host from its etcd keys (pure). Rules:
 * - action `plug` + valid bind_port on a vhost of the layout → that vhost carries the port;
 *   when two ports claim one vhost, the one holding the vhost's slot wins; when none holds
 *   it, neither is plugged (the vhost is kept as it is) and both are reported.
 * - a vhost nobody plugs is `empty` when its slot is free (or held by a port being
 *   unplugged), and `keep` while its slot is held by a port without a (valid) request.
 * - an unknown action value is a problem of that port only; other ports are unaffected.
 */
export function deriveDesired(host: HostState, layout: AgentLayout): DesiredState {
  const { problems, unplugs, claims } = classifyPorts(host, layout);
  const vhosts = new Map<number, DesiredVhost>();
  const plugs: PlugIntent[] = [];
  const unplugging = new Set(unplugs.map((unplug) => unplug.portId));
  const slots = new Map([...host.slots.values()].map((s) => [`${s.physnet}/${s.vhostId}`, s]));
  for (const [vhostId, place] of layout.vhosts) {
    const slot = slots.get(`${place.physnet}/${vhostId}`);
    const holder = slot ? heldBy(slot.holder) : undefined;
    const taken = slot !== undefined && !slot.holder.free;
    const candidates = claims.get(vhostId) ?? [];
    const winner =
      candidates.length === 1 ? candidates[0] : candidates.find((c) => c.portId === holder);
    for (const loser of candidates) {
      if (loser === winner) continue;
      problems.push({
        portId: loser.portId,
        vhostId,
        reason: winner
          ? `vhost ${vhostId} is already taken by port ${winner.portId}`
          : `several ports claim vhost ${vhostId} and none holds its slot`,
      });
    }
    if (winner) {
      const { mac_address: mac, vlan_id: vlanId } = winner.bindPort;
      vhosts.set(vhostId, {
        kind: 'carry',
        portId: winner.portId,
        mac,
        ...(vlanId !== undefined ? { vlanId } : {}),
      });
      plugs.push({
        portId: winner.portId,
        vhostId,
        bindPortRevision: winner.revision,
        reportedUp: isUp(host.ports.get(winner.portId)?.status),
      });
    } else if (
      candidates.length > 0 ||
      (taken && (holder === undefined || !unplugging.has(holder)))
    ) {
      vhosts.set(vhostId, { kind: 'keep' });
    } else {
      vhosts.set(vhostId, { kind: 'empty' });
    }
  }
  return { vhosts, plugs, unplugs, problems };
}
