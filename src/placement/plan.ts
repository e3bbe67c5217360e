import type { DesiredProvider, DesiredState, InventoryRecord } from './inventory.js';
import { sameInventory, vhostInventory } from './inventory.js';
import { VHOST_RESOURCE_CLASS, isPhysnetTrait, parseProviderName } from './names.js';

/** One of our providers as Placement has it. */
export interface ProviderView {
  uuid: string;
  name: string;
  parentUuid: string | null;
  generation: number;
  inventories: Readonly<Record<string, InventoryRecord>>;
  traits: readonly string[];
  /** Slots of our resource class allocated to consumers (Nova instances). */
  allocated: number;
}

/** What the sync knows of Placement when it plans. */
export interface PlacementView {
  /** Uuid by name of the providers that are not ours; compute nodes are looked up here. */
  others: ReadonlyMap<string, string>;
  /** Providers named like ours (`<compute node>:SPP neutron agent:<physnet>`). */
  ours: readonly ProviderView[];
  resourceClassExists: boolean;
  /** The custom physnet traits that exist. */
  traits: ReadonlySet<string>;
}

export type PlacementOp =
  | { op: 'create_resource_class'; name: string }
  | { op: 'create_trait'; name: string }
  | { op: 'create_provider'; uuid: string; name: string; parentUuid: string }
  | {
      op: 'set_inventories';
      uuid: string;
      name: string;
      inventories: Record<string, InventoryRecord>;
    }
  | { op: 'set_traits'; uuid: string; name: string; traits: string[] }
  | { op: 'delete_provider'; uuid: string; name: string };

export interface SyncPlan {
  ops: PlacementOp[];
  /** Hosts whose compute-node provider is not in Placement (yet): nothing is done for them. */
  waiting: Array<{ host: string; computeNode: string }>;
  /**
   * Providers that should go but still carry allocations (Placement refuses to delete them):
   * their slots are all reserved, so nothing new lands there, until the allocations go.
   */
  pinned: Array<{ uuid: string; name: string; allocated: number }>;
}

/** Our traits on a provider: the physnet's, plus any non-physnet traits already there. */
function wantedTraits(current: readonly string[], trait: string): string[] {
  return [...new Set([...current.filter((each) => !isPhysnetTrait(each)), trait])].sort();
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  return left.size === new Set(b).size && b.every((each) => left.has(each));
}

function planExisting(
  desired: DesiredProvider,
  existing: ProviderView,
  parentUuid: string,
  plan: SyncPlan,
): void {
  const { uuid, name } = existing;
  const ops = plan.ops;
  if (existing.parentUuid !== parentUuid) {
    // The compute node was re-created; ours still hangs under the old one (or under none).
    if (existing.allocated > 0) {
      plan.pinned.push({ uuid, name, allocated: existing.allocated });
      return;
    }
    ops.push({ op: 'delete_provider', uuid, name });
    planNew(desired, parentUuid, ops);
    return;
  }
  const inventory = vhostInventory(desired.slots, desired.used, existing.allocated);
  if (!sameInventory(existing.inventories[VHOST_RESOURCE_CLASS], inventory)) {
    const inventories = { ...existing.inventories, [VHOST_RESOURCE_CLASS]: inventory };
    ops.push({ op: 'set_inventories', uuid, name, inventories });
  }
  const traits = wantedTraits(existing.traits, desired.trait);
  if (!sameSet(existing.traits, traits)) ops.push({ op: 'set_traits', uuid, name, traits });
}

function planNew(desired: DesiredProvider, parentUuid: string, ops: PlacementOp[]): void {
  const { uuid, name } = desired;
  ops.push({ op: 'create_provider', uuid, name, parentUuid });
  const inventory = vhostInventory(desired.slots, desired.used, 0);
  ops.push({
    op: 'set_inventories',
    uuid,
    name,
    inventories: { [VHOST_RESOURCE_CLASS]: inventory },
  });
  ops.push({ op: 'set_traits', uuid, name, traits: [desired.trait] });
}

function planRemoval(existing: ProviderView, plan: SyncPlan): void {
  const { uuid, name } = existing;
  if (existing.allocated <= 0) {
    plan.ops.push({ op: 'delete_provider', uuid, name });
    return;
  }
  plan.pinned.push({ uuid, name, allocated: existing.allocated });
  const current = existing.inventories[VHOST_RESOURCE_CLASS];
  if (current && current.reserved !== current.total) {
    const inventories = {
      ...existing.inventories,
      [VHOST_RESOURCE_CLASS]: { ...current, reserved: current.total },
    };
    plan.ops.push({ op: 'set_inventories', uuid, name, inventories });
  }
}

/** Missing resource class and traits first: providers cannot refer to them before. */
function planVocabulary(placeable: DesiredProvider[], actual: PlacementView): PlacementOp[] {
  const ops: PlacementOp[] = [];
  if (placeable.length > 0 && !actual.resourceClassExists) {
    ops.push({ op: 'create_resource_class', name: VHOST_RESOURCE_CLASS });
  }
  const traits = new Set(placeable.map((provider) => provider.trait));
  for (const trait of [...traits].sort()) {
    if (!actual.traits.has(trait)) ops.push({ op: 'create_trait', name: trait });
  }
  return ops;
}

/**
 * The Placement calls that turn `actual` into `desired`: create the resource class and
 * traits, create each missing provider under its compute node with inventory and trait,
 * correct inventories (total = slots, reserved = used slots without allocation) and traits,
 * delete the providers of removed hosts and physnets. A matching state plans nothing.
 */
export function planSync(desired: DesiredState, actual: PlacementView): SyncPlan {
  const plan: SyncPlan = { ops: [], waiting: [], pinned: [] };
  const byName = new Map(actual.ours.map((provider) => [provider.name, provider]));
  const placeable: DesiredProvider[] = [];
  const waitingHosts = new Set<string>();
  for (const provider of desired.providers) {
    if (actual.others.has(provider.computeNode)) placeable.push(provider);
    else if (!waitingHosts.has(provider.host)) {
      waitingHosts.add(provider.host);
      plan.waiting.push({ host: provider.host, computeNode: provider.computeNode });
    }
  }
  plan.ops.push(...planVocabulary(placeable, actual));
  for (const provider of placeable) {
    const parentUuid = actual.others.get(provider.computeNode) as string;
    const existing = byName.get(provider.name);
    if (existing) planExisting(provider, existing, parentUuid, plan);
    else planNew(provider, parentUuid, plan.ops);
  }
  const wanted = new Set(desired.providers.map((provider) => provider.name));
  for (const existing of actual.ours) {
    if (wanted.has(existing.name)) continue;
    const computeNode = parseProviderName(existing.name)?.computeNode;
    if (computeNode !== undefined && desired.keep.has(computeNode)) continue;
    planRemoval(existing, plan);
  }
  return plan;
}
