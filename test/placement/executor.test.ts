import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlacementApi } from '../../src/placement/client.js';
import { NotLeaderError, executePlan } from '../../src/placement/executor.js';
import { ServiceError } from '../../src/placement/http.js';
import { vhostInventory } from '../../src/placement/inventory.js';
import type { PlacementOp, PlacementView } from '../../src/placement/plan.js';
import { PlacementReader } from '../../src/placement/reader.js';

/** Records calls; provider writes answer generation + 1, or the error given. */
function recorder(fail?: Error) {
  const calls: string[] = [];
  const api = {
    ensureResourceClass: (name: string) => (calls.push(`class ${name}`), Promise.resolve()),
    ensureTrait: (name: string) => (calls.push(`trait ${name}`), Promise.resolve()),
    createProvider: (p: { uuid: string }) => (calls.push(`create ${p.uuid}`), Promise.resolve(0)),
    setInventories: (uuid: string, generation: number) => {
      calls.push(`inventories ${uuid}@${generation}`);
      return fail ? Promise.reject(fail) : Promise.resolve(generation + 1);
    },
    setTraits: (uuid: string, generation: number) => {
      calls.push(`traits ${uuid}@${generation}`);
      return Promise.resolve(generation + 1);
    },
    deleteProvider: (uuid: string) => (calls.push(`delete ${uuid}`), Promise.resolve()),
  } as unknown as PlacementApi;
  return { api, calls };
}

const VIEW: PlacementView = {
  others: new Map([['cn1', 'root']]),
  ours: [
    {
      uuid: 'p-old',
      name: 'cn1:SPP neutron agent:phys1',
      parentUuid: 'root',
      generation: 7,
      inventories: {},
      traits: [],
      allocated: 0,
    },
  ],
  resourceClassExists: true,
  traits: new Set(),
};

const inventories = { CUSTOM_SPP_VHOST: vhostInventory(2, 0, 0) };
const OPS: PlacementOp[] = [
  { op: 'create_trait', name: 'CUSTOM_PHYSNET_PHYS2' },
  { op: 'set_inventories', uuid: 'p-old', name: 'n1', inventories },
  { op: 'set_traits', uuid: 'p-old', name: 'n1', traits: ['CUSTOM_PHYSNET_PHYS1'] },
  { op: 'create_provider', uuid: 'p-new', name: 'n2', parentUuid: 'root' },
  { op: 'set_inventories', uuid: 'p-new', name: 'n2', inventories },
];

describe('executing a plan', () => {
  it("writes in order, each with the generation of Placement's previous answer", async () => {
    const { api, calls } = recorder();
    const reader = new PlacementReader(api);
    await executePlan(
      { api, reader, fence: { canWrite: () => true }, writeTimeoutMs: 1000 },
      OPS,
      VIEW,
    );
    assert.deepEqual(calls, [
      'trait CUSTOM_PHYSNET_PHYS2',
      'inventories p-old@7',
      'traits p-old@8',
      'create p-new',
      'inventories p-new@0',
    ]);
  });

  it('writes nothing once leadership is not certain for the length of a write', async () => {
    const { api, calls } = recorder();
    const asked: number[] = [];
    let allowed = 2;
    const fence = { canWrite: (ms: number) => (asked.push(ms), allowed-- > 0) };
    await assert.rejects(
      executePlan(
        { api, reader: new PlacementReader(api), fence, writeTimeoutMs: 1500 },
        OPS,
        VIEW,
      ),
      NotLeaderError,
    );
    assert.equal(calls.length, 2);
    assert.deepEqual(asked, [1500, 1500, 1500]);
  });

  it('stops at a generation conflict', async () => {
    const conflict = new ServiceError('409', 409, 'placement.concurrent_update');
    const { api, calls } = recorder(conflict);
    await assert.rejects(
      executePlan(
        {
          api,
          reader: new PlacementReader(api),
          fence: { canWrite: () => true },
          writeTimeoutMs: 1,
        },
        OPS,
        VIEW,
      ),
      (error) => error === conflict,
    );
    assert.deepEqual(calls, ['trait CUSTOM_PHYSNET_PHYS2', 'inventories p-old@7']);
  });
});
