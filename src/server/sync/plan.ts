import type { Condition, Operation } from '../../etcd/store.js';
import type { HostState } from '../../snapshot/model.js';
import { heldBy } from '../../snapshot/model.js';
import type { HostFacts } from '../bind/decide.js';
import { hostFacts, selectSegment } from '../bind/decide.js';
import type { Plan, PortView, Wanted } from '../bind/plan.js';
import { planBind, portKeysOf } from '../bind/plan.js';
import type { Segment } from '../bind/types.js';
import { planUnplug } from '../unbind.js';

/** A port Neutron has bound through this driver, as the full sync lists it (MAC normalised). */
export interface SyncPort {
  id: string;
  host: string;
  mac_address: string;
  segment: Segment;
}

export interface SyncEntry {
  port_id: string;
  host: string;
  vhost_id?: number;
  reason: string;
  detail: string;
}

export type SyncCategory = 'unplug_requested' | 'cleaned' | 'plug_requested' | 'skipped' | 'errors';

/** A change the sync makes: one guarded transaction, reported under `category` when it holds. */
export interface SyncAction {
  host: string;
  portId: string;
  category: 'unplug_requested' | 'cleaned' | 'plug_requested';
  entry: SyncEntry;
  conditions: Condition[];
  operations: Operation[];
  /** A slot newly claimed by this action. */
  claim?: string;
}

export interface SyncPlan {
  /** What needs no etcd write: ports left alone and ports that cannot be repaired. */
  findings: Array<{ category: 'skipped' | 'errors'; entry: SyncEntry }>;
  /** Per host, in order. */
  actions: SyncAction[];
}

export interface SyncInput {
  hosts: ReadonlyMap<string, HostState>;
  revision: number;
  /** Neutron's bound ports. */
  ports: readonly SyncPort[];
  /** A bind of (host, port) is running in this process. */
  isBinding(host: string, portId: string): boolean;
  /** Milliseconds since a key written at `revision` was written (a lower bound). */
  ageOf(revision: number): number;
  graceMs: number;
  /** Slot keys claimed right now by binds of this process. */
  reserved: { has(key: string): boolean };
}

function entry(
  host: string,
  portId: string,
  reason: string,
  detail: string,
  vhostId?: number,
): SyncEntry {
  return {
    port_id: portId,
    host,
    ...(vhostId !== undefined ? { vhost_id: vhostId } : {}),
    reason,
    detail,
  };
}

/** Every port id a host's keys mention: slot holders and ports with keys. */
function portIdsOf(host: HostState): Set<string> {
  const ids = new Set(host.ports.keys());
  for (const slot of host.slots.values()) {
    const holder = heldBy(slot.holder);
    if (holder !== undefined) ids.add(holder);
  }
  return ids;
}

function lastChange(view: PortView): number {
  const port = portKeysOf(view);
  return Math.max(
    port.bindPort?.modRevision ?? 0,
    port.action?.modRevision ?? 0,
    port.status?.modRevision ?? 0,
    ...view.host.slotsHeldBy(view.portId).map((slot) => slot.modRevision),
  );
}

/**
 * The full sync as a plan (pure): what etcd has and Neutron does not is unplugged (or its
 * leftovers cleaned); what Neutron has bound and etcd lacks (or has differently) gets a slot
 * and a plug request. Ports with a bind running here, or changed within the grace period,
 * are left alone: they may be binding right now, after Neutron's list was taken.
 */
export function planSync(input: SyncInput): SyncPlan {
  const plan: SyncPlan = { findings: [], actions: [] };
  const wanted = new Map(input.ports.map((port) => [`${port.host}\u0000${port.id}`, port]));
  const hostNames = new Set([...input.hosts.keys(), ...input.ports.map((port) => port.host)]);
  for (const hostName of [...hostNames].sort()) {
    const host = input.hosts.get(hostName);
    if (host) planStale(host, wanted, input, plan);
    planRepairs(hostName, host, input, plan);
  }
  return plan;
}

function planStale(
  host: HostState,
  wanted: Map<string, SyncPort>,
  input: SyncInput,
  plan: SyncPlan,
): void {
  const name = host.host;
  for (const portId of [...portIdsOf(host)].sort()) {
    if (wanted.has(`${name}\u0000${portId}`)) continue;
    if (input.isBinding(name, portId)) {
      plan.findings.push({
        category: 'skipped',
        entry: entry(name, portId, 'binding', 'a bind of this port is running'),
      });
      continue;
    }
    const view: PortView = { host, portId, revision: input.revision };
    const age = input.ageOf(lastChange(view));
    if (age < input.graceMs) {
      const detail = `its keys changed ${Math.round(age / 1000)} s ago (grace ${input.graceMs / 1000} s); it may be binding`;
      plan.findings.push({ category: 'skipped', entry: entry(name, portId, 'recent', detail) });
      continue;
    }
    const unplug = planUnplug(view);
    const why = 'Neutron does not have this port bound on this host';
    if (unplug.kind === 'none') {
      if (unplug.result === 'already_pending') {
        plan.findings.push({
          category: 'skipped',
          entry: entry(name, portId, 'unplug_pending', 'its unplug is pending'),
        });
      }
      continue;
    }
    plan.actions.push({
      host: name,
      portId,
      category: unplug.result,
      entry: entry(
        name,
        portId,
        'not_in_neutron',
        unplug.result === 'cleaned' ? `${why}; no bind_port` : why,
      ),
      conditions: unplug.conditions,
      operations: unplug.operations,
    });
  }
}

function planRepairs(
  hostName: string,
  host: HostState | undefined,
  input: SyncInput,
  plan: SyncPlan,
): void {
  // Slots this plan claims are taken for the ports after it.
  const claimed = new Set<string>();
  const avoid = { has: (key: string) => claimed.has(key) || input.reserved.has(key) };
  for (const port of input.ports) {
    if (port.host !== hostName) continue;
    const repair = repairOne(port, host, input, avoid);
    if (repair && 'action' in repair) {
      if (repair.action.claim) claimed.add(repair.action.claim);
      plan.actions.push(repair.action);
    } else if (repair) plan.findings.push(repair.finding);
  }
}

type Repair = { action: SyncAction } | { finding: SyncPlan['findings'][number] } | undefined;

/** Where Neutron's bound port should be, or why it cannot be repaired on its host. */
function repairTarget(
  port: SyncPort,
  host: HostState | undefined,
  input: SyncInput,
):
  { finding: SyncPlan['findings'][number] } | { view: PortView; wanted: Wanted; facts: HostFacts } {
  const { host: name, id: portId } = port;
  const error = (reason: string, detail: string) => ({
    finding: { category: 'errors' as const, entry: entry(name, portId, reason, detail) },
  });
  const config = host?.configuration;
  if (!host || !config)
    return error('not_spp_host', `host ${name} has no SPP configuration in etcd`);
  if (!config.ok) return error('error', config.problem);
  const facts = hostFacts(config.value);
  const selected = selectSegment([port.segment], facts.physnets);
  if (!selected) {
    return error(
      'no_segment',
      `segment ${port.segment.id} is not a flat or vlan segment on a physical network SPP serves on host ${name}`,
    );
  }
  const wanted: Wanted = {
    macAddress: port.mac_address,
    physnet: selected.physnet,
    ...(selected.vlanId !== undefined ? { vlanId: selected.vlanId } : {}),
  };
  return { view: { host, portId, revision: input.revision }, wanted, facts };
}

/** The sync's answer to what planBind chose for a port Neutron has bound. */
function repairOf(chosen: Plan, name: string, portId: string): Repair {
  const finding = (category: 'skipped' | 'errors', reason: string, detail: string): Repair => ({
    finding: { category, entry: entry(name, portId, reason, detail) },
  });
  switch (chosen.kind) {
    case 'bound':
    case 'wait':
      return undefined;
    case 'await-unplug':
      return finding(
        'skipped',
        'unplug_pending',
        'Neutron has it bound but an unplug is pending; it is plugged again by a later sync',
      );
    case 'no-free-slot':
      return finding('errors', 'no_free_vhost', chosen.detail);
    case 'request-unplug':
      return {
        action: {
          host: name,
          portId,
          category: 'unplug_requested',
          entry: entry(
            name,
            portId,
            'mismatch',
            'plugged with another MAC, VLAN or physical network than Neutron has; it is plugged again by a later sync',
          ),
          conditions: chosen.conditions,
          operations: chosen.operations,
        },
      };
    case 'write':
      return {
        action: {
          host: name,
          portId,
          category: 'plug_requested',
          entry: entry(
            name,
            portId,
            'missing_in_etcd',
            `Neutron has it bound; plug requested on vhost ${chosen.vhostId}`,
            chosen.vhostId,
          ),
          conditions: chosen.conditions,
          operations: chosen.operations,
          ...(chosen.claim ? { claim: chosen.claim } : {}),
        },
      };
  }
}

function repairOne(
  port: SyncPort,
  host: HostState | undefined,
  input: SyncInput,
  avoid: { has(key: string): boolean },
): Repair {
  const { host: name, id: portId } = port;
  if (input.isBinding(name, portId)) {
    return {
      finding: {
        category: 'skipped',
        entry: entry(name, portId, 'binding', 'a bind of this port is running'),
      },
    };
  }
  const target = repairTarget(port, host, input);
  if ('finding' in target) return target;
  const keys = portKeysOf(target.view);
  // An unplug request without bind_port that is older than the grace period is a leftover.
  const unplugLeftover =
    !keys.bindPort &&
    keys.action?.raw === 'unplug' &&
    input.ageOf(keys.action.modRevision) >= input.graceMs;
  const chosen = planBind(target.view, target.wanted, {
    layoutSlots: target.facts.slots,
    avoid,
    unplugLeftover,
  });
  return repairOf(chosen, name, portId);
}
