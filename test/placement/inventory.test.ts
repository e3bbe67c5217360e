import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { desiredState, hostCapacity, vhostInventory } from '../../src/placement/inventory.js';

describe('Placement inventory model', () => {
  it("counts each physnet's slots across NICs, used = not None", () => {
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#3#0x3ff00,00:06.0#phys3#1#0x7c0000',
    });
    // vhost ids: phys1 0,1 then phys2 2,3,4 then phys3 5.
    const values = new Map([
      ['phys1/0', 'port-a'],
      ['phys1/1', 'None'],
      ['phys2/2', 'None'],
      ['phys2/3', 'port-b'],
      ['phys2/4', 'port-c'],
      ['phys3/5', 'None'],
      ['phys3/0', 'port-x'], // not a phys3 slot of this layout: ignored
    ]);
    const capacity = hostCapacity(config, (p, id) => values.get(`${p}/${id}`), 'None');
    assert.deepEqual(capacity, [
      { physnet: 'phys1', slots: 2, used: 1 },
      { physnet: 'phys2', slots: 3, used: 2 },
      { physnet: 'phys3', slots: 1, used: 0 },
    ]);
  });

  it('a slot key missing from etcd counts as used (no bind can take it)', () => {
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#2#0xfe' });
    const capacity = hostCapacity(config, (_p, id) => (id === 0 ? 'None' : undefined), 'None');
    assert.deepEqual(capacity, [{ physnet: 'phys1', slots: 2, used: 1 }]);
  });

  it('reserved = used slots that Placement has no allocation for', () => {
    assert.equal(vhostInventory(4, 3, 0).reserved, 3); // three ports bound without Nova
    assert.equal(vhostInventory(4, 3, 1).reserved, 2);
    assert.equal(vhostInventory(4, 1, 3).reserved, 0); // allocated, not bound yet
    assert.equal(vhostInventory(4, 4, 4).reserved, 0);
    assert.deepEqual(vhostInventory(4, 0, 0), {
      total: 4,
      reserved: 0,
      min_unit: 1,
      max_unit: 4,
      step_size: 1,
      allocation_ratio: 1,
    });
  });

  it('capacity offered is slots - max(used, allocated), never negative', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.nat(80), fc.nat(80), (slots, u, a) => {
        const used = Math.min(u, slots);
        const inventory = vhostInventory(slots, used, a);
        assert.ok(inventory.reserved >= 0 && inventory.reserved <= inventory.total);
        const capacity = inventory.total - inventory.reserved - a;
        assert.equal(Math.max(0, capacity), Math.max(0, slots - Math.max(used, a)));
      }),
    );
  });

  it('one provider per host and physnet with slots; unreadable hosts are kept', () => {
    const desired = desiredState(
      [
        {
          host: 'cn1',
          physnets: [
            { physnet: 'phys1', slots: 2, used: 1 },
            { physnet: 'phys2', slots: 0, used: 0 },
          ],
        },
        { host: 'cn2', physnets: [], problem: 'configuration/cn2: value is not JSON' },
      ],
      (host) => `${host}.example`,
    );
    assert.deepEqual(
      desired.providers.map((each) => [each.name, each.computeNode, each.trait, each.slots]),
      [['cn1.example:SPP neutron agent:phys1', 'cn1.example', 'CUSTOM_PHYSNET_PHYS1', 2]],
    );
    assert.deepEqual([...desired.keep], ['cn2.example']);
  });
});
