import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { buildHost } from '../../src/hosts/admin.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { OriginalBindOutcome, OriginalDriverOptions } from '../../src/lab/original-driver.js';
import { OriginalDriver } from '../../src/lab/original-driver.js';
import { parseCustomLayout } from '../../src/layout/custom.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { computeHost } from '../agent/host-fixture.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';
import { bigHost } from '../layout/big-host.js';

const flat = (physnet: string) => ({ network_type: 'flat', physical_network: physnet });

describe('the original driver stand-in: its etcd operations (real etcd, no agent)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  const host = 'seq-host';

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    // 12 slots on phys1, so that key order ("10" < "2") differs from numeric order.
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#12#0x7ffffff' });
    await buildHost(store, host, config, { force: true });
  });

  after(async () => {
    store?.close();
    await etcd?.dispose();
  });

  test('bind: one request per operation, in the order of SYSTEM.md §4.1, watch opened last', async () => {
    // Slots 0 and 1 (and 10, 11, which sort before 2) taken: the driver tries 2 next.
    for (const slot of [0, 1, 10, 11]) await store.put(keys.vhost(host, 'phys1', slot), `x${slot}`);
    const driver = new OriginalDriver(store, { watchTimeoutMs: 5000 });
    const binding = driver.bindPort({
      host,
      portId: 'p-seq',
      macAddress: 'fa:16:3e:00:00:01',
      segments: [{ network_type: 'vxlan', segmentation_id: 7 }, flat('phys1')],
    });
    await waitFor('the watch on port_status to be open', () =>
      driver.operations.some((op) => op.op === 'watch_once'),
    );
    await store.put(keys.portStatus(host, 'p-seq'), 'up');
    const outcome = await binding;
    assert.deepEqual(outcome, { bound: true, vhostId: 2, socket: '/tmp/sock2' });
    const prefix = '/spp/openstack/';
    assert.deepEqual(
      driver.operations.map(({ op, key }) => `${op} ${key.slice(prefix.length)}`),
      [
        `get configuration/${host}`,
        `get bind_port/${host}/p-seq`,
        `get_prefix vhost/${host}/phys1/`,
        `replace vhost/${host}/phys1/2`,
        `put bind_port/${host}/p-seq`,
        `put action/${host}/p-seq`,
        `watch_once port_status/${host}/p-seq`,
      ],
    );
    // Separate requests: the slot, bind_port and action each got their own revision.
    const [slot, bindPort, action] = await Promise.all([
      store.get(keys.vhost(host, 'phys1', 2)),
      store.get(keys.bindPort(host, 'p-seq')),
      store.get(keys.action(host, 'p-seq')),
    ]);
    assert.equal(slot?.value, 'p-seq');
    assert.equal(bindPort?.value, '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 2}');
    assert.equal(action?.value, 'plug');
    assert.equal(bindPort!.modRevision, slot!.modRevision + 1);
    assert.equal(action!.modRevision, bindPort!.modRevision + 1);
  });

  test('a vlan segment puts vlan_id into bind_port', async () => {
    const driver = new OriginalDriver(store, { watchTimeoutMs: 5000 });
    const binding = driver.bindPort({
      host,
      portId: 'p-vlan',
      macAddress: 'fa:16:3e:00:00:02',
      segments: [{ network_type: 'vlan', physical_network: 'phys1', segmentation_id: 120 }],
    });
    await waitFor('the watch to be open', () =>
      driver.operations.some((op) => op.op === 'watch_once'),
    );
    await store.put(keys.portStatus(host, 'p-vlan'), 'up');
    assert.equal((await binding).bound, true);
    const value = (await store.get(keys.bindPort(host, 'p-vlan')))?.value;
    assert.match(
      value ?? '',
      /^\{"mac_address": "fa:16:3e:00:00:02", "vhost_id": \d+, "vlan_id": 120\}$/,
    );
  });

  test('an up written before the watch is open is missed, and the port is never bound again', async () => {
    const driver = new OriginalDriver(store, {
      watchTimeoutMs: 300,
      beforeWatch: async (request) => {
        await store.put(keys.portStatus(request.host, request.portId), 'up');
      },
    });
    const request = {
      host,
      portId: 'p-missed',
      macAddress: 'fa:16:3e:00:00:03',
      segments: [flat('phys1')],
    };
    assert.deepEqual(await driver.bindPort(request), { bound: false, reason: 'no-up' });
    // Nothing rolled back: slot, bind_port and action stay.
    assert.equal((await store.get(keys.action(host, 'p-missed')))?.value, 'plug');
    const retry = new OriginalDriver(store, { watchTimeoutMs: 300 });
    assert.deepEqual(await retry.bindPort(request), { bound: false, reason: 'already-tried' });
    assert.deepEqual(
      retry.operations.map((op) => op.op),
      ['get', 'get'],
      'the retry stops after reading bind_port',
    );
  });

  test('refusals: no configuration, agent down, no SPP segment, no free slot', async () => {
    const driver = new OriginalDriver(store, { watchTimeoutMs: 300 });
    const base = { portId: 'p-r', macAddress: 'fa:16:3e:00:00:04' };
    const segments = [flat('phys1')];
    assert.deepEqual(await driver.bindPort({ ...base, host: 'no-such-host', segments }), {
      bound: false,
      reason: 'no-spp',
    });
    assert.deepEqual(await driver.bindPort({ ...base, host, segments, agentAlive: false }), {
      bound: false,
      reason: 'agent-down',
    });
    assert.deepEqual(await driver.bindPort({ ...base, host, segments: [flat('physX')] }), {
      bound: false,
      reason: 'no-segment',
    });
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#1#0x1f' });
    await buildHost(store, 'full-host', config, { force: true });
    await store.put(keys.vhost('full-host', 'phys1', 0), 'someone');
    assert.deepEqual(await driver.bindPort({ ...base, host: 'full-host', segments }), {
      bound: false,
      reason: 'no-slot',
    });
  });

  test('unplug writes action = unplug only when the action key exists', async () => {
    const driver = new OriginalDriver(store);
    assert.equal(await driver.unplugPort(host, 'p-seq'), true);
    assert.equal((await store.get(keys.action(host, 'p-seq')))?.value, 'unplug');
    assert.equal(await driver.unplugPort(host, 'p-never'), false);
    assert.equal(await store.get(keys.action(host, 'p-never')), undefined);
  });
});

let macTag = 0;
const TOTAL = 180;

/**
 * The migration scenario of issue 15: the original driver in neutron-server, our agent on
 * the compute host. `workers` callers each bind fresh ports one after another (and unplug
 * each afterwards, as Neutron does when the port is deleted, bound or binding_failed), for
 * `total` binds. The watch timeout is shortened from the original's 20 s to 3 s: our agent
 * answers within milliseconds, so a watch that opened in time sees `up` long before 3 s,
 * and a bind that misses it would miss it at 20 s too (only a re-announce later than 3 s
 * could tell the two apart).
 */
async function bindMany(
  etcd: EtcdServer,
  node: ComputeHostFixture,
  run: { label: string; workers: number; total: number; options?: OriginalDriverOptions },
): Promise<{ bound: number; lost: string[] }> {
  const { label, workers, total } = run;
  const tag = (macTag++).toString(16).padStart(2, '0');
  let issued = 0;
  let bound = 0;
  const lost: string[] = [];
  const worker = async (index: number) => {
    const store = etcd.connectStore();
    const driver = new OriginalDriver(store, { watchTimeoutMs: 3000, ...run.options });
    const physnet = index % 2 === 0 ? 'phys0' : 'phys1';
    try {
      while (issued < total) {
        const n = issued++;
        const portId = `${label}-p${n}`;
        const outcome: OriginalBindOutcome = await driver.bindPort({
          host: node.host,
          portId,
          macAddress: `fa:16:3e:${tag}:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
          segments: [flat(physnet)],
        });
        if (outcome.bound) bound++;
        else {
          // Was it the race? The agent had answered: port_status is up.
          const status = (await store.get(keys.portStatus(node.host, portId)))?.value;
          lost.push(`${portId} (${outcome.reason}, port_status ${status ?? 'absent'})`);
        }
        await driver.unplugPort(node.host, portId);
        await waitFor(
          `unplug of ${portId} completed`,
          async () => (await store.get(keys.bindPort(node.host, portId))) === undefined,
          15_000,
        );
      }
    } finally {
      store.close();
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, index) => worker(index)));
  return { bound, lost };
}

describe('the original driver with our agent (real agent process, emulator, etcd)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let node: ComputeHostFixture;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    // 32 vhosts on each of phys0 and phys1 (a forwarder-less layout, to fit the cores):
    // 16 callers per physnet always find a free slot, so only the race can lose a bind.
    const big = bigHost(2, 32);
    const { config } = planHostLayout({
      mappings: big.mappings,
      custom: { layout: parseCustomLayout(big.yaml, 'big.yaml'), file: 'big.yaml' },
    });
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'mixed-1', config });
    await node.startAgent();
  });

  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  const assertAllBound = async (
    t: { diagnostic: (message: string) => void },
    run: { label: string; workers: number; total: number; options?: OriginalDriverOptions },
  ): Promise<void> => {
    const { workers, total } = run;
    const { bound, lost } = await bindMany(etcd, node, run);
    t.diagnostic(
      `${run.label}: concurrency ${workers}: ${bound} of ${total} bound, ${lost.length} lost${lost.length > 0 ? `: ${lost.slice(0, 8).join(', ')}${lost.length > 8 ? ', ...' : ''}` : ''}`,
    );
    const slots = await store.getPrefix(keys.hostPrefix('vhost', node.host));
    assert.ok(
      slots.kvs.every((kv) => kv.value === FREE),
      'every slot is free again after the unplugs',
    );
    assert.deepEqual(lost, [], `binds lost at concurrency ${workers}`);
    assert.equal(bound, total);
  };

  // Our agent can answer before the original driver's watch is open, at any concurrency
  // (SYSTEM.md §4.1): it re-announces `up` for requests without our service's marker.
  for (const workers of [1, 8, 32]) {
    test(`concurrency ${workers}: every bind is bound`, async (t) => {
      await assertAllBound(t, { label: `c${workers}`, workers, total: TOTAL });
    });
  }

  // The worst case, made deterministic: every watch opens only after the agent's up.
  test('a driver whose watch opens after the agent answered still binds', async (t) => {
    await assertAllBound(t, {
      label: 'late',
      workers: 8,
      total: 16,
      options: {
        beforeWatch: async ({ host, portId }) => {
          await waitFor(`port_status of ${portId} = up`, async () => {
            return (await store.get(keys.portStatus(host, portId)))?.value === 'up';
          });
        },
      },
    });
  });
});
