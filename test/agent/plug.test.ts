import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import { WIRE_MAC, egressOf, frame } from './frames.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';
import type { PortRequest } from './requests.js';
import { requestPlug, requestUnplug, waitForUnplugged, waitForUp } from './requests.js';

// Default layout: phys1 = phy:0 with vhost 0,1 (client 1); phys2 = phy:1 with vhost 2,3 (client 2).
const FLAT: PortRequest = {
  portId: 'p-flat',
  physnet: 'phys1',
  vhostId: 1,
  mac: 'fa:16:3e:00:00:01',
};
const VLAN: PortRequest = {
  portId: 'p-vlan',
  physnet: 'phys2',
  vhostId: 2,
  mac: 'fa:16:3e:00:00:02',
  vlanId: 100,
};
const SENTINEL: PortRequest = {
  portId: 'p-sentinel',
  physnet: 'phys1',
  vhostId: 0,
  mac: 'fa:16:3e:00:00:03',
};

describe('agent plugs and unplugs ports (real etcd, emulator, agent process)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let node: ComputeHostFixture;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'compute-1' });
    await node.startAgent();
  });

  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  test('start-up builds every component of the layout, creating forward_<v>_tx as merge', async () => {
    const status = await waitFor('components built', async () => {
      const s = await node.status(1);
      return s.components.some((c) => c.name === 'merger') ? s : undefined;
    });
    const byName = new Map(status.components.map((c) => [c.name, c]));
    assert.equal(byName.get('forward_0_tx')?.type, 'merge');
    assert.equal(byName.get('forward_0_rx')?.type, 'forward');
    assert.equal(byName.get('classifier')?.type, 'classifier_mac');
    assert.deepEqual(
      byName.get('classifier')?.tx_port?.map((p) => p.port),
      ['ring:0', 'ring:2'],
    );
    assert.deepEqual(
      byName.get('merger')?.rx_port?.map((p) => p.port),
      ['ring:1', 'ring:3'],
    );
    assert.deepEqual(status.classifier_table, []);
  });

  test('flat plug: classifier entry for the MAC, frames reach the vhost and the wire', async () => {
    await requestPlug(store, node.host, FLAT);
    await waitForUp(store, node.host, FLAT.portId);
    const status = await node.status(1);
    assert.deepEqual(status.classifier_table, [
      { type: 'mac', value: 'FA:16:3E:00:00:01', port: 'ring:2' },
    ]);
    const toVm = node.emulator.inject('phy:0', frame(FLAT.mac, WIRE_MAC));
    assert.deepEqual(egressOf(toVm), [['vhost:1', frame(FLAT.mac, WIRE_MAC).toString('hex')]]);
    const fromVm = node.emulator.inject('vhost:1', frame(WIRE_MAC, FLAT.mac));
    assert.deepEqual(egressOf(fromVm), [['phy:0', frame(WIRE_MAC, FLAT.mac).toString('hex')]]);
  });

  test('VLAN plug: tag removed towards the VM, added towards the wire', async () => {
    await requestPlug(store, node.host, VLAN);
    await waitForUp(store, node.host, VLAN.portId);
    const status = await node.status(2);
    assert.deepEqual(status.classifier_table, [
      { type: 'vlan', value: '100/FA:16:3E:00:00:02', port: 'ring:4' },
    ]);
    const merger = status.components.find((c) => c.name === 'merger');
    assert.deepEqual(merger?.rx_port?.find((p) => p.port === 'ring:5')?.vlan, {
      operation: 'add',
      id: 100,
      pcp: 0,
    });
    const toVm = node.emulator.inject('phy:1', frame(VLAN.mac, WIRE_MAC, 100));
    assert.deepEqual(egressOf(toVm), [['vhost:2', frame(VLAN.mac, WIRE_MAC).toString('hex')]]);
    const fromVm = node.emulator.inject('vhost:2', frame(WIRE_MAC, VLAN.mac));
    assert.deepEqual(egressOf(fromVm), [['phy:1', frame(WIRE_MAC, VLAN.mac, 100).toString('hex')]]);
    // Untagged or wrongly tagged frames to the MAC do not reach the VM.
    assert.deepEqual(node.emulator.inject('phy:1', frame(VLAN.mac, WIRE_MAC)), []);
    assert.deepEqual(node.emulator.inject('phy:1', frame(VLAN.mac, WIRE_MAC, 101)), []);
  });

  test('a repeated plug request changes nothing in SPP', async () => {
    const before = JSON.stringify(await node.status(2));
    await store.put(keys.action(node.host, VLAN.portId), 'plug');
    // The agent works through requests in order: once a later plug is up, the repeat was seen.
    await requestPlug(store, node.host, SENTINEL);
    await waitForUp(store, node.host, SENTINEL.portId);
    assert.equal(JSON.stringify(await node.status(2)), before);
    assert.equal((await store.get(keys.portStatus(node.host, VLAN.portId)))?.value, 'up');
    assert.equal(
      node.agent?.logs.filter((l) => l.msg === 'spp-ctl request failed; will retry').length,
      0,
    );
  });

  test('unplug of both ports: SPP cleaned, slots freed, keys removed', async () => {
    await requestUnplug(store, node.host, FLAT.portId);
    await requestUnplug(store, node.host, VLAN.portId);
    await requestUnplug(store, node.host, SENTINEL.portId);
    await waitForUnplugged(store, node.host, SENTINEL);
    await waitForUnplugged(store, node.host, FLAT);
    await waitForUnplugged(store, node.host, VLAN);
    assert.deepEqual((await node.status(1)).classifier_table, []);
    const vf2 = await node.status(2);
    assert.deepEqual(vf2.classifier_table, []);
    const merger = vf2.components.find((c) => c.name === 'merger');
    assert.equal(merger?.rx_port?.find((p) => p.port === 'ring:5')?.vlan?.operation, 'none');
    assert.deepEqual(node.emulator.inject('phy:0', frame(FLAT.mac, WIRE_MAC)), []);
  });

  test('the agent keeps a liveness record in etcd and removes it on SIGTERM, exiting 0', async () => {
    const record = await store.get(keys.agent(node.host));
    assert.ok(record, 'agent key present');
    const parsed = JSON.parse(record.value) as {
      host: string;
      physnets: Record<string, { vhosts: number[] }>;
    };
    assert.equal(parsed.host, node.host);
    assert.deepEqual(parsed.physnets, { phys1: { vhosts: [0, 1] }, phys2: { vhosts: [2, 3] } });
    assert.notEqual(record.lease, '0');
    const agent = node.agent;
    assert.ok(agent);
    const exit = await agent.stop('SIGTERM');
    node.agent = undefined;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(await store.get(keys.agent(node.host)), undefined);
  });
});
