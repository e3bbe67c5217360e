import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { keys } from '../../src/etcd/keys.js';
import { FREE } from '../../src/etcd/values.js';
import { buildHost, deleteHostKeys } from '../../src/hosts/admin.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { waitFor } from '../harness/wait.js';
import type { PlacementLab, RunningSync } from './harness.js';
import {
  RC,
  allocate,
  candidateHosts,
  novaComputeNode,
  runSync,
  sppProviders,
  startLab,
  syncOptions,
} from './harness.js';

const PHYS1 = 'CUSTOM_PHYSNET_PHYS1';
const PHYS2 = 'CUSTOM_PHYSNET_PHYS2';

let lab: PlacementLab;
let sync: RunningSync;
let registry: Registry;
const roots = new Map<string, string>();

async function host(name: string, mappings: string): Promise<void> {
  await buildHost(lab.store, name, planHostLayout({ mappings }).config, { force: true });
}

/** What a bind does to the slot (the binding service's claim), without Nova. */
async function claim(hostName: string, physnet: string, vhostId: number): Promise<string> {
  const port = randomUUID();
  assert.ok(await lab.store.compareAndSwap(keys.vhost(hostName, physnet, vhostId), FREE, port));
  return port;
}

async function release(hostName: string, physnet: string, vhostId: number, port: string) {
  assert.ok(await lab.store.compareAndSwap(keys.vhost(hostName, physnet, vhostId), port, FREE));
}

async function inventoryOf(name: string) {
  return (await sppProviders(lab.admin)).get(name);
}

before(async () => {
  lab = await startLab();
  // cn1: phys1 vhosts 0-1, phys2 vhosts 2-3; cn2: phys2 vhost 0; cn3: phys1 vhosts 0-1.
  await host('cn1', '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02');
  await host('cn2', '00:04.0#phys2#1#0x3e');
  await host('cn3', '00:04.0#phys1#2#0xfe');
  for (const name of ['cn1', 'cn2', 'cn3']) roots.set(name, await novaComputeNode(lab.admin, name));
  registry = new Registry();
  sync = runSync(syncOptions(lab.placement.url), { store: lab.store, registry });
});

after(async () => {
  await sync?.stop();
  await lab?.close();
});

describe('SPP inventory in a real Placement', () => {
  it('creates a provider per host and physnet under its compute node', async () => {
    const providers = await waitFor('four SPP providers', async () => {
      const found = await sppProviders(lab.admin);
      return (
        found.size === 4 && [...found.values()].every((each) => each.traits.length > 0) && found
      );
    });
    assert.deepEqual(
      [...providers.values()]
        .map((each) => [each.name, each.parent, each.total, each.reserved, each.traits])
        .sort(),
      [
        ['cn1:SPP neutron agent:phys1', roots.get('cn1'), 2, 0, [PHYS1]],
        ['cn1:SPP neutron agent:phys2', roots.get('cn1'), 2, 0, [PHYS2]],
        ['cn2:SPP neutron agent:phys2', roots.get('cn2'), 1, 0, [PHYS2]],
        ['cn3:SPP neutron agent:phys1', roots.get('cn3'), 2, 0, [PHYS1]],
      ],
    );
    const metrics = await registry.metrics();
    assert.match(metrics, /^spp_placement_leader 1$/m);
    assert.match(metrics, /^spp_placement_providers 4$/m);
    assert.equal(sync.service.status().state, 'in_sync');
  });

  it('allocation candidates for a phys2 slot are the hosts with a free phys2 slot', async () => {
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1', 'cn2']);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS1), ['cn1', 'cn3']);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2, 2), ['cn1']);
  });

  it('a host whose slots Nova allocated is no longer a candidate; its bound port is not counted twice', async () => {
    const providers = await sppProviders(lab.admin);
    const cn2 = providers.get('cn2:SPP neutron agent:phys2')?.uuid as string;
    const instance = randomUUID();
    await allocate(lab.admin, instance, {
      [roots.get('cn2') as string]: { VCPU: 1, MEMORY_MB: 512 },
      [cn2]: { [RC]: 1 },
    });
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1']);
    // Without any etcd change, the periodic sync sees the allocation (its generation moved).
    await waitFor('the sync to see the allocation', () => {
      const entry = sync.service.status().providers.find((each) => each.host === 'cn2');
      return entry?.used === 0 && entry.allocated === 1;
    });
    // The instance's port binds: the slot is used in etcd and allocated in Placement.
    await claim('cn2', 'phys2', 0);
    await waitFor('the sync to see the bound port', () => {
      const status = sync.service.status();
      const entry = status.providers.find((each) => each.host === 'cn2');
      return entry?.used === 1 && entry.allocated === 1;
    });
    assert.equal((await inventoryOf('cn2:SPP neutron agent:phys2'))?.reserved, 0);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1']);
  });

  it('slots taken by ports bound without Nova are reserved, and freed again', async () => {
    const a = await claim('cn1', 'phys2', 2);
    await waitFor('one reserved phys2 slot on cn1', async () => {
      return (await inventoryOf('cn1:SPP neutron agent:phys2'))?.reserved === 1;
    });
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1']);
    const b = await claim('cn1', 'phys2', 3);
    await waitFor('cn1 phys2 fully reserved', async () => {
      return (await inventoryOf('cn1:SPP neutron agent:phys2'))?.reserved === 2;
    });
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), []);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS1), ['cn1', 'cn3']);
    await release('cn1', 'phys2', 2, a);
    await release('cn1', 'phys2', 3, b);
    await waitFor('cn1 phys2 free again', async () => {
      return (await inventoryOf('cn1:SPP neutron agent:phys2'))?.reserved === 0;
    });
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1']);
  });

  it('host destroy removes its providers, and only those', async () => {
    await deleteHostKeys(lab.store, 'cn3');
    await waitFor('cn3 provider gone', async () => {
      return !(await sppProviders(lab.admin)).has('cn3:SPP neutron agent:phys1');
    });
    const names = (await lab.admin.listProviders()).map((each) => each.name);
    assert.ok(names.includes('cn3'), 'the compute node stays');
    assert.deepEqual([...(await sppProviders(lab.admin)).keys()].sort(), [
      'cn1:SPP neutron agent:phys1',
      'cn1:SPP neutron agent:phys2',
      'cn2:SPP neutron agent:phys2',
    ]);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS1), ['cn1']);
  });

  it('a host without compute node waits, and gets its inventory once Nova registers it', async () => {
    await host('cn4', '00:04.0#phys2#2#0x3fe');
    await waitFor('cn4 listed as waiting', () =>
      sync.service.status().waiting_hosts.some((each) => each.host === 'cn4'),
    );
    assert.equal((await sppProviders(lab.admin)).has('cn4:SPP neutron agent:phys2'), false);
    assert.ok(
      sync.logs.some(
        (line) => line.host === 'cn4' && /no compute-node resource provider/.test(String(line.msg)),
      ),
    );
    const root = await novaComputeNode(lab.admin, 'cn4');
    const provider = await waitFor(
      'cn4 provider',
      async () => (await sppProviders(lab.admin)).get('cn4:SPP neutron agent:phys2'),
      15_000,
    );
    assert.equal(provider.parent, root);
    assert.equal(provider.total, 2);
    assert.deepEqual(await candidateHosts(lab.admin, PHYS2), ['cn1', 'cn4']);
  });

  it('logs each Placement write once, with host and physnet', () => {
    const creates = sync.logs.filter((line) => line.operation === 'create_provider');
    assert.deepEqual(creates.map((line) => `${String(line.host)}/${String(line.physnet)}`).sort(), [
      'cn1/phys1',
      'cn1/phys2',
      'cn2/phys2',
      'cn3/phys1',
      'cn4/phys2',
    ]);
  });
});
