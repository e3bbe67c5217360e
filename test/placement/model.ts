import type { DesiredState } from '../../src/placement/inventory.js';
import type { PlacementOp, PlacementView, ProviderView } from '../../src/placement/plan.js';

const RC = 'CUSTOM_SPP_VHOST';

/**
 * What Placement does with each operation, with the checks Placement makes (the trait and
 * resource class must exist, names are unique, the parent must exist, a provider with
 * allocations cannot be deleted, the generation moves on each provider write). Throws where
 * Placement would answer with an error, so a plan in the wrong order fails.
 */
export function applyOps(view: PlacementView, ops: readonly PlacementOp[]): PlacementView {
  let resourceClassExists = view.resourceClassExists;
  const traits = new Set(view.traits);
  const ours = new Map<string, ProviderView>(view.ours.map((each) => [each.uuid, { ...each }]));
  const parents = new Set(view.others.values());
  const find = (uuid: string): ProviderView => {
    const provider = ours.get(uuid);
    if (!provider) throw new Error(`404: no provider ${uuid}`);
    return provider;
  };
  for (const op of ops) {
    switch (op.op) {
      case 'create_resource_class':
        resourceClassExists = true;
        break;
      case 'create_trait':
        traits.add(op.name);
        break;
      case 'create_provider':
        if ([...ours.values()].some((each) => each.name === op.name) || ours.has(op.uuid)) {
          throw new Error(`409: provider ${op.name} exists`);
        }
        if (!parents.has(op.parentUuid)) throw new Error(`400: no parent ${op.parentUuid}`);
        ours.set(op.uuid, {
          uuid: op.uuid,
          name: op.name,
          parentUuid: op.parentUuid,
          generation: 0,
          inventories: {},
          traits: [],
          allocated: 0,
        });
        break;
      case 'set_inventories': {
        const provider = find(op.uuid);
        if (op.inventories[RC] && !resourceClassExists) throw new Error('400: no resource class');
        if (provider.allocated > 0 && !op.inventories[RC]) throw new Error('409: inventory in use');
        ours.set(op.uuid, {
          ...provider,
          inventories: op.inventories,
          generation: provider.generation + 1,
        });
        break;
      }
      case 'set_traits': {
        const provider = find(op.uuid);
        for (const trait of op.traits) {
          if (trait.startsWith('CUSTOM_') && !traits.has(trait)) {
            throw new Error(`400: no trait ${trait}`);
          }
        }
        ours.set(op.uuid, { ...provider, traits: op.traits, generation: provider.generation + 1 });
        break;
      }
      case 'delete_provider':
        if (find(op.uuid).allocated > 0) throw new Error('409: provider has allocations');
        ours.delete(op.uuid);
        break;
    }
  }
  return { others: view.others, ours: [...ours.values()], resourceClassExists, traits };
}

/**
 * Whether `view` is what `desired` asks for, written from the rules rather than the planner:
 * every desired provider whose compute node exists is there under it, with inventory total =
 * slots, reserved = max(0, used - allocated), and exactly one physnet trait, its own; every
 * other provider of ours is gone, kept for an unreadable host, or (allocated) fully reserved.
 */
export function problemsWith(desired: DesiredState, view: PlacementView): string[] {
  const problems: string[] = [];
  const byName = new Map(view.ours.map((each) => [each.name, each]));
  for (const want of desired.providers) {
    const parent = view.others.get(want.computeNode);
    const have = byName.get(want.name);
    if (parent === undefined) continue;
    if (!have) {
      problems.push(`${want.name} missing`);
      continue;
    }
    if (have.parentUuid !== parent) {
      if (have.allocated === 0) problems.push(`${want.name} under the wrong parent`);
      continue;
    }
    const inventory = have.inventories[RC];
    const reserved = Math.max(0, want.used - have.allocated);
    if (!inventory || inventory.total !== want.slots || inventory.reserved !== reserved) {
      problems.push(`${want.name} inventory ${JSON.stringify(inventory)}`);
    } else if (inventory.max_unit !== want.slots || inventory.min_unit !== 1) {
      problems.push(`${want.name} units ${JSON.stringify(inventory)}`);
    }
    const physnetTraits = have.traits.filter((each) => each.startsWith('CUSTOM_PHYSNET_'));
    if (physnetTraits.length !== 1 || physnetTraits[0] !== want.trait) {
      problems.push(`${want.name} traits ${have.traits.join(',')}`);
    }
  }
  const wanted = new Set(desired.providers.map((each) => each.name));
  for (const have of view.ours) {
    if (wanted.has(have.name)) continue;
    const computeNode = have.name.split(':')[0] as string;
    if (desired.keep.has(computeNode)) continue;
    const inventory = have.inventories[RC];
    if (have.allocated === 0) problems.push(`${have.name} should be gone`);
    else if (inventory && inventory.reserved !== inventory.total) {
      problems.push(`${have.name} pinned but not fully reserved`);
    }
  }
  return problems;
}
