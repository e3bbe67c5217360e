import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { HostCapacity } from '../../src/placement/inventory.js';
import { desiredState, vhostInventory } from '../../src/placement/inventory.js';
import { physnetTrait, providerName, providerUuid } from '../../src/placement/names.js';
import type { PlacementView, ProviderView } from '../../src/placement/plan.js';
import { planSync } from '../../src/placement/plan.js';
import { applyOps, problemsWith } from './model.js';

const RC = 'CUSTOM_SPP_VHOST';
const identity = (host: string) => host;

function emptyView(computeNodes: Record<string, string>): PlacementView {
  return {
    others: new Map(Object.entries(computeNodes)),
    ours: [],
    resourceClassExists: false,
    traits: new Set(),
  };
}

function provider(
  host: string,
  physnet: string,
  parentUuid: string,
  fields: Partial<ProviderView> = {},
): ProviderView {
  return {
    uuid: providerUuid(host, physnet),
    name: providerName(host, physnet),
    parentUuid,
    generation: 3,
    inventories: {},
    traits: [],
    allocated: 0,
    ...fields,
  };
}

describe('Placement sync plan', () => {
  it('creates class, traits, then each provider with inventory and trait', () => {
    const hosts: HostCapacity[] = [
      {
        host: 'cn1',
        physnets: [
          { physnet: 'phys1', slots: 2, used: 0 },
          { physnet: 'phys2', slots: 4, used: 1 },
        ],
      },
    ];
    const plan = planSync(desiredState(hosts, identity), emptyView({ cn1: 'root-1' }));
    const uuid2 = providerUuid('cn1', 'phys2');
    assert.deepEqual(
      plan.ops.map((op) => op.op),
      [
        'create_resource_class',
        'create_trait',
        'create_trait',
        'create_provider',
        'set_inventories',
        'set_traits',
        'create_provider',
        'set_inventories',
        'set_traits',
      ],
    );
    assert.deepEqual(plan.ops[6], {
      op: 'create_provider',
      uuid: uuid2,
      name: 'cn1:SPP neutron agent:phys2',
      parentUuid: 'root-1',
    });
    assert.deepEqual(plan.ops[7], {
      op: 'set_inventories',
      uuid: uuid2,
      name: 'cn1:SPP neutron agent:phys2',
      inventories: {
        [RC]: {
          total: 4,
          reserved: 1,
          min_unit: 1,
          max_unit: 4,
          step_size: 1,
          allocation_ratio: 1,
        },
      },
    });
    assert.deepEqual(plan.ops[8], {
      op: 'set_traits',
      uuid: uuid2,
      name: 'cn1:SPP neutron agent:phys2',
      traits: ['CUSTOM_PHYSNET_PHYS2'],
    });
    assert.deepEqual(plan.waiting, []);
  });

  it('does nothing for a host whose compute node is not in Placement', () => {
    const hosts = [{ host: 'cn9', physnets: [{ physnet: 'phys1', slots: 2, used: 0 }] }];
    const plan = planSync(desiredState(hosts, identity), emptyView({ cn1: 'root-1' }));
    assert.deepEqual(plan.ops, []);
    assert.deepEqual(plan.waiting, [{ host: 'cn9', computeNode: 'cn9' }]);
  });

  it('updates only reserved when slot use changes outside Nova', () => {
    const hosts = [{ host: 'cn1', physnets: [{ physnet: 'phys1', slots: 4, used: 3 }] }];
    const existing = provider('cn1', 'phys1', 'root-1', {
      inventories: { [RC]: vhostInventory(4, 0, 0), OTHER: vhostInventory(1, 0, 0) },
      traits: ['CUSTOM_PHYSNET_PHYS1', 'CUSTOM_FAST_NIC'],
      allocated: 1,
    });
    const view = { ...emptyView({ cn1: 'root-1' }), ours: [existing], resourceClassExists: true };
    view.traits = new Set(['CUSTOM_PHYSNET_PHYS1']);
    const plan = planSync(desiredState(hosts, identity), view);
    assert.deepEqual(plan.ops, [
      {
        op: 'set_inventories',
        uuid: existing.uuid,
        name: existing.name,
        // 3 used, 1 of them allocated by Nova: 2 reserved; the other class is kept.
        inventories: {
          [RC]: { ...vhostInventory(4, 0, 0), reserved: 2 },
          OTHER: vhostInventory(1, 0, 0),
        },
      },
    ]);
  });

  it('replaces a stale physnet trait but keeps foreign traits', () => {
    const hosts = [{ host: 'cn1', physnets: [{ physnet: 'phys1', slots: 1, used: 0 }] }];
    const existing = provider('cn1', 'phys1', 'root-1', {
      inventories: { [RC]: vhostInventory(1, 0, 0) },
      traits: ['CUSTOM_PHYSNET_OLD', 'HW_NIC_SRIOV'],
    });
    const view: PlacementView = {
      ...emptyView({ cn1: 'root-1' }),
      ours: [existing],
      resourceClassExists: true,
      traits: new Set(['CUSTOM_PHYSNET_PHYS1', 'CUSTOM_PHYSNET_OLD']),
    };
    const plan = planSync(desiredState(hosts, identity), view);
    assert.deepEqual(plan.ops, [
      {
        op: 'set_traits',
        uuid: existing.uuid,
        name: existing.name,
        traits: ['CUSTOM_PHYSNET_PHYS1', 'HW_NIC_SRIOV'],
      },
    ]);
  });

  it('deletes providers of a removed host, pins (all reserved) those with allocations', () => {
    const gone = provider('cn2', 'phys1', 'root-2', {
      inventories: { [RC]: vhostInventory(2, 0, 0) },
    });
    const busy = provider('cn2', 'phys2', 'root-2', {
      inventories: { [RC]: vhostInventory(3, 0, 1) },
      allocated: 1,
    });
    const view: PlacementView = {
      ...emptyView({ cn2: 'root-2' }),
      ours: [gone, busy],
      resourceClassExists: true,
    };
    const plan = planSync(desiredState([], identity), view);
    assert.deepEqual(plan.ops, [
      { op: 'delete_provider', uuid: gone.uuid, name: gone.name },
      {
        op: 'set_inventories',
        uuid: busy.uuid,
        name: busy.name,
        inventories: { [RC]: { ...vhostInventory(3, 0, 0), reserved: 3 } },
      },
    ]);
    assert.deepEqual(plan.pinned, [{ uuid: busy.uuid, name: busy.name, allocated: 1 }]);
  });

  it('leaves the providers of a host with an unreadable layout alone', () => {
    const kept = provider('cn3', 'phys1', 'root-3', {
      inventories: { [RC]: vhostInventory(2, 0, 0) },
    });
    const view: PlacementView = {
      ...emptyView({ cn3: 'root-3' }),
      ours: [kept],
      resourceClassExists: true,
    };
    const hosts = [{ host: 'cn3', physnets: [], problem: 'bad JSON' }];
    assert.deepEqual(planSync(desiredState(hosts, identity), view).ops, []);
  });

  it('re-creates a provider left under an old compute node', () => {
    const hosts = [{ host: 'cn1', physnets: [{ physnet: 'phys1', slots: 1, used: 0 }] }];
    const stale = provider('cn1', 'phys1', 'old-root', {
      inventories: { [RC]: vhostInventory(1, 0, 0) },
      traits: [physnetTrait('phys1')],
    });
    const view: PlacementView = {
      ...emptyView({ cn1: 'new-root' }),
      ours: [stale],
      resourceClassExists: true,
      traits: new Set([physnetTrait('phys1')]),
    };
    const ops = planSync(desiredState(hosts, identity), view).ops.map((op) => op.op);
    assert.deepEqual(ops, ['delete_provider', 'create_provider', 'set_inventories', 'set_traits']);
  });
});

// --- properties -------------------------------------------------------------------------

const HOSTS = ['cn-a', 'cn-b', 'cn-c', 'cn-d'];
const PHYSNETS = ['phys1', 'phys2', 'phys-3'];
const TRAITS = PHYSNETS.map(physnetTrait).concat(['CUSTOM_PHYSNET_OLD']);

const physnetCapacity = fc
  .record({ physnet: fc.constantFrom(...PHYSNETS), slots: fc.nat(6), used: fc.nat(6) })
  .map((each) => ({ ...each, used: Math.min(each.used, each.slots) }));

const hostsArbitrary: fc.Arbitrary<HostCapacity[]> = fc
  .uniqueArray(
    fc.record({
      host: fc.constantFrom(...HOSTS),
      physnets: fc.uniqueArray(physnetCapacity, { selector: (each) => each.physnet, maxLength: 3 }),
      problem: fc.option(fc.constant('unreadable'), { nil: undefined, freq: 6 }),
    }),
    { selector: (each) => each.host, maxLength: 4 },
  )
  .map((hosts) => hosts.map(({ problem, ...rest }) => (problem ? { ...rest, problem } : rest)));

const inventoryArbitrary = fc
  .record({ total: fc.integer({ min: 1, max: 6 }), reserved: fc.nat(6) })
  .map(({ total, reserved }) => ({
    ...vhostInventory(total, 0, 0),
    reserved: Math.min(reserved, total),
  }));

const actualProvider = fc
  .record({
    host: fc.constantFrom(...HOSTS),
    physnet: fc.constantFrom(...PHYSNETS),
    parent: fc.constantFrom('right', 'old', 'none'),
    generation: fc.nat(20),
    inventory: fc.option(inventoryArbitrary, { nil: undefined }),
    other: fc.boolean(),
    traits: fc.subarray([...TRAITS, 'HW_NIC_SRIOV', 'CUSTOM_FAST']),
    allocated: fc.nat(4),
  })
  .map((each): ProviderView => {
    const inventories: ProviderView['inventories'] = {
      ...(each.inventory ? { [RC]: each.inventory } : {}),
      ...(each.other ? { VCPU: vhostInventory(2, 0, 0) } : {}),
    };
    return {
      uuid: providerUuid(each.host, each.physnet),
      name: providerName(each.host, each.physnet),
      parentUuid:
        each.parent === 'right' ? `root-${each.host}` : each.parent === 'old' ? 'old' : null,
      generation: each.generation,
      inventories,
      traits: each.traits,
      // Placement has allocations only against an inventory.
      allocated: each.inventory ? each.allocated : 0,
    };
  });

const viewArbitrary: fc.Arbitrary<PlacementView> = fc
  .record({
    computeNodes: fc.subarray(HOSTS),
    ours: fc.uniqueArray(actualProvider, { selector: (each) => each.name, maxLength: 8 }),
    resourceClass: fc.boolean(),
    traits: fc.subarray(TRAITS),
  })
  .map(({ computeNodes, ours, resourceClass, traits }) => ({
    // A provider's parent exists in Placement: an absent compute node's children hang
    // under an old compute node of another name, if anywhere.
    others: new Map([
      ...computeNodes.map((host) => [host, `root-${host}`] as const),
      ['old-node', 'old'],
    ]),
    ours: ours.map((each) =>
      each.parentUuid?.startsWith('root-') && !computeNodes.includes(each.parentUuid.slice(5))
        ? { ...each, parentUuid: 'old' }
        : each,
    ),
    resourceClassExists: resourceClass || ours.some((each) => each.inventories[RC]),
    traits: new Set([
      ...traits,
      ...ours.flatMap((each) => each.traits.filter((t) => t.startsWith('CUSTOM_'))),
    ]),
  }));

describe('Placement sync plan properties', () => {
  it('applying the plan yields the desired state, and then nothing is planned', () => {
    fc.assert(
      fc.property(hostsArbitrary, viewArbitrary, (hosts, view) => {
        const desired = desiredState(hosts, identity);
        const plan = planSync(desired, view);
        const after = applyOps(view, plan.ops);
        assert.deepEqual(problemsWith(desired, after), []);
        assert.deepEqual(planSync(desired, after).ops, []);
      }),
      { numRuns: 500 },
    );
  });

  it('never touches kept hosts, waiting hosts, or providers with allocations beyond reserving', () => {
    fc.assert(
      fc.property(hostsArbitrary, viewArbitrary, (hosts, view) => {
        const desired = desiredState(hosts, identity);
        const plan = planSync(desired, view);
        const byUuid = new Map(view.ours.map((each) => [each.uuid, each]));
        const waiting = new Set(plan.waiting.map((each) => each.computeNode));
        const wanted = new Set(desired.providers.map((each) => each.name));
        for (const op of plan.ops) {
          if (!('uuid' in op)) continue;
          const computeNode = op.name.split(':')[0] as string;
          assert.ok(!desired.keep.has(computeNode), `${op.op} on kept ${op.name}`);
          if (wanted.has(op.name)) {
            assert.ok(!waiting.has(computeNode), `${op.op} on waiting ${op.name}`);
          }
          const existing = byUuid.get(op.uuid);
          if (existing && existing.allocated > 0) assert.notEqual(op.op, 'delete_provider');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a state that matches plans nothing', () => {
    fc.assert(
      fc.property(hostsArbitrary, fc.subarray(HOSTS), (hosts, computeNodes) => {
        const desired = desiredState(hosts, identity);
        const others = new Map(computeNodes.map((host) => [host, `root-${host}`]));
        const ours = desired.providers
          .filter((each) => others.has(each.computeNode))
          .map((each) =>
            provider(each.computeNode, each.physnet, `root-${each.computeNode}`, {
              inventories: { [RC]: vhostInventory(each.slots, each.used, 0) },
              traits: [each.trait],
            }),
          );
        const view: PlacementView = {
          others,
          ours,
          resourceClassExists: true,
          traits: new Set(TRAITS),
        };
        assert.deepEqual(planSync(desired, view).ops, []);
      }),
    );
  });
});
