import { FREE, actionSchema, bindPortSchema } from '../etcd/values.js';
import type { BindPort } from '../etcd/values.js';
import type { AgentLayout } from './layout-index.js';
import type { HostKeys } from './host-keys.js';

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
  /** The slot key (`<physnet>/<vhost>`) that holds this port's id, if any. */
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
}

type Decoded = { ok: true; bindPort: BindPort } | { ok: false; reason: string };

function decodeBindPort(raw: string): Decoded {
  let document: unknown;
  try {
    document = JSON.parse(raw);
  } catch {
    return { ok: false, reason: `bind_port is not JSON: ${JSON.stringify(raw.slice(0, 80))}` };
  }
  const result = bindPortSchema.safeParse(document);
  if (result.success) return { ok: true, bindPort: result.data };
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || 'value';
  return { ok: false, reason: `bind_port ${field}: ${issue?.message ?? 'invalid'}` };
}

/**
 * Derives the desired SPP state of the host from its etcd keys (pure). Rules:
 * - action `plug` + valid bind_port on a vhost of the layout → that vhost carries the port;
 *   when two ports claim one vhost, the one holding the vhost's slot wins.
 * - a vhost nobody plugs is `empty` when its slot is free (or held by a port being
 *   unplugged), and `keep` while its slot is held by a port without a (valid) request.
 */
export function deriveDesired(hostKeys: HostKeys, layout: AgentLayout): DesiredState {
  const problems: Problem[] = [];
  const unplugs: UnplugIntent[] = [];
  const claims = new Map<number, Array<{ portId: string; bindPort: BindPort; revision: number }>>();
  const slotOwners = new Map<string, { physnet: string; vhostId: number }>();
  for (const [slotKey, stored] of hostKeys.slots) {
    if (stored.value === FREE) continue;
    const [physnet, vhost] = splitSlotKey(slotKey);
    slotOwners.set(stored.value, { physnet, vhostId: vhost });
  }
  const portIds = new Set([...hostKeys.actions.keys()]);
  for (const portId of portIds) {
    const action = actionSchema.safeParse(hostKeys.actions.get(portId)?.value);
    const stored = hostKeys.bindPorts.get(portId);
    if (!action.success) {
      problems.push({
        portId,
        reason: `unexpected action value ${JSON.stringify(hostKeys.actions.get(portId)?.value)}`,
      });
      continue;
    }
    const decoded: Decoded | undefined = stored ? decodeBindPort(stored.value) : undefined;
    if (action.data === 'unplug') {
      const slot = slotOwners.get(portId);
      if (decoded && !decoded.ok) {
        problems.push({ portId, reason: `cannot unplug: ${decoded.reason}` });
        continue;
      }
      unplugs.push({
        portId,
        ...(decoded?.ok
          ? { vhostId: decoded.bindPort.vhost_id, bindPortRevision: stored?.modRevision }
          : {}),
        ...(slot ? { slot } : {}),
      });
      continue;
    }
    if (!decoded || !stored) {
      problems.push({ portId, reason: 'action is plug but bind_port is missing', transient: true });
      continue;
    }
    if (!decoded.ok) {
      problems.push({ portId, reason: decoded.reason });
      continue;
    }
    const vhostId = decoded.bindPort.vhost_id;
    if (!layout.vhosts.has(vhostId)) {
      problems.push({ portId, vhostId, reason: `vhost ${vhostId} is not in the host's layout` });
      continue;
    }
    const list = claims.get(vhostId) ?? [];
    list.push({ portId, bindPort: decoded.bindPort, revision: stored.modRevision });
    claims.set(vhostId, list);
  }

  const vhosts = new Map<number, DesiredVhost>();
  const plugs: PlugIntent[] = [];
  const unpluggingPorts = new Set(unplugs.map((unplug) => unplug.portId));
  for (const [vhostId, place] of layout.vhosts) {
    const slotValue = hostKeys.slots.get(`${place.physnet}/${vhostId}`)?.value ?? FREE;
    const candidates = claims.get(vhostId) ?? [];
    const winner =
      candidates.length === 1 ? candidates[0] : candidates.find((c) => c.portId === slotValue);
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
        mac: mac.toLowerCase(),
        ...(vlanId !== undefined ? { vlanId } : {}),
      });
      plugs.push({
        portId: winner.portId,
        vhostId,
        bindPortRevision: winner.revision,
        reportedUp: hostKeys.statuses.get(winner.portId)?.value === 'up',
      });
    } else if (candidates.length > 0 || (slotValue !== FREE && !unpluggingPorts.has(slotValue))) {
      vhosts.set(vhostId, { kind: 'keep' });
    } else {
      vhosts.set(vhostId, { kind: 'empty' });
    }
  }
  return { vhosts, plugs, unplugs, problems };
}

function splitSlotKey(slotKey: string): [string, number] {
  const cut = slotKey.lastIndexOf('/');
  return [slotKey.slice(0, cut), Number(slotKey.slice(cut + 1))];
}
