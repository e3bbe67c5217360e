import type { HostConfig } from '../layout/schema.js';
import { physnetTrait, providerName, providerUuid } from './names.js';

/** Vhost slots of one physical network on one host (etcd `vhost/<host>/<physnet>/*`). */
export interface PhysnetCapacity {
  physnet: string;
  /** Slots the host's layout gives the physnet. */
  slots: number;
  /** Slots not free: holding a port id (or missing from etcd, so no bind can take them). */
  used: number;
}

/** One SPP host's capacity, as the inventory sync needs it. */
export interface HostCapacity {
  host: string;
  physnets: PhysnetCapacity[];
  /**
   * Set when the host's layout could not be read (a malformed value): its providers are left
   * as they are until it can, rather than removed as if the host were gone.
   */
  problem?: string;
}

/** Where the sync gets the hosts from: the etcd adapter now, the shared host snapshot later. */
export interface CapacitySource {
  /** Every SPP host; undefined until the first complete read. */
  current(): HostCapacity[] | undefined;
  /** Called after every change of `current()`; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/**
 * A host's capacity from its layout and the values of its slot keys (`None` = free):
 * vhost ids are numbered across the host's NICs in order, as `host build` writes them.
 */
export function hostCapacity(
  config: HostConfig,
  slotValue: (physnet: string, vhostId: number) => string | undefined,
  free: string,
): PhysnetCapacity[] {
  const byPhysnet = new Map<string, PhysnetCapacity>();
  let vhostId = 0;
  for (const vf of config.vf) {
    let entry = byPhysnet.get(vf.physical_network);
    if (!entry) {
      entry = { physnet: vf.physical_network, slots: 0, used: 0 };
      byPhysnet.set(vf.physical_network, entry);
    }
    for (let i = 0; i < vf.num_vhost; i++, vhostId++) {
      entry.slots++;
      if (slotValue(vf.physical_network, vhostId) !== free) entry.used++;
    }
  }
  return [...byPhysnet.values()];
}

/** A resource provider networking-spp wants in Placement: one per (host, physnet). */
export interface DesiredProvider {
  uuid: string;
  name: string;
  host: string;
  /** Name of the host's compute-node provider (Nova's hypervisor name). */
  computeNode: string;
  physnet: string;
  trait: string;
  slots: number;
  used: number;
}

export interface DesiredState {
  providers: DesiredProvider[];
  /** Compute nodes whose host layout is unreadable: their providers are not touched. */
  keep: ReadonlySet<string>;
}

/** The providers that `hosts` call for; physnets without slots get none. */
export function desiredState(
  hosts: readonly HostCapacity[],
  computeNodeOf: (host: string) => string,
): DesiredState {
  const providers: DesiredProvider[] = [];
  const keep = new Set<string>();
  for (const host of hosts) {
    const computeNode = computeNodeOf(host.host);
    if (host.problem !== undefined) {
      keep.add(computeNode);
      continue;
    }
    for (const physnet of host.physnets) {
      if (physnet.slots <= 0) continue;
      providers.push({
        uuid: providerUuid(computeNode, physnet.physnet),
        name: providerName(computeNode, physnet.physnet),
        host: host.host,
        computeNode,
        physnet: physnet.physnet,
        trait: physnetTrait(physnet.physnet),
        slots: physnet.slots,
        used: Math.min(physnet.used, physnet.slots),
      });
    }
  }
  return { providers, keep };
}

/** One inventory record as Placement stores it. */
export interface InventoryRecord {
  total: number;
  reserved: number;
  min_unit: number;
  max_unit: number;
  step_size: number;
  allocation_ratio: number;
}

/**
 * The vhost-slot inventory of a provider. Slots in use that Placement has no allocation for
 * (ports bound without Nova asking for the resource) are `reserved`, so that the capacity
 * Placement offers is `slots - max(used, allocated)`: what is really free, whether a slot's
 * port came through Nova or not.
 */
export function vhostInventory(slots: number, used: number, allocated: number): InventoryRecord {
  const reserved = Math.max(0, Math.min(slots, used - allocated));
  return {
    total: slots,
    reserved,
    min_unit: 1,
    max_unit: slots,
    step_size: 1,
    allocation_ratio: 1,
  };
}

export function sameInventory(a: InventoryRecord | undefined, b: InventoryRecord): boolean {
  return (
    a !== undefined &&
    a.total === b.total &&
    a.reserved === b.reserved &&
    a.min_unit === b.min_unit &&
    a.max_unit === b.max_unit &&
    a.step_size === b.step_size &&
    a.allocation_ratio === b.allocation_ratio
  );
}
