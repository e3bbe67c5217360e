import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import type { LabHost, ServiceClient } from '../../src/lab/stack.js';
import { LabStack, twoNicMappings } from '../../src/lab/stack.js';
import type { ProcessStatus } from '../../src/spp/status.js';
import { WIRE_MAC, egressOf, frame } from '../agent/frames.js';
import { waitFor } from '../harness/wait.js';
import { flatSegment, newPort, vlanSegment } from './harness.js';

// Both hosts: phys1 = NIC 0 (spp_vf 1, phy:0) with vhosts 0,1; phys2 = NIC 1 (spp_vf 2, phy:1)
// with vhosts 2,3. In the default layout vhost v is fed by ring:2v and feeds ring:2v+1.
const MAPPINGS = twoNicMappings(4);
const BIND_TIMEOUT_S = 2;

interface BindAnswer {
  bound: boolean;
  reason?: string;
  detail?: string;
  vhost_id?: number;
  vif_details?: { vhostuser_socket: string };
}

describe('binding service with real agents, SPP emulators and etcd', () => {
  let stack: LabStack;
  let client: ServiceClient;
  let store: EtcdStore;
  let h1: LabHost;
  let h2: LabHost;

  before(async () => {
    stack = await LabStack.start({
      hosts: [
        { name: 'compute-1', mappings: MAPPINGS },
        { name: 'compute-2', mappings: MAPPINGS },
      ],
      bindTimeoutS: BIND_TIMEOUT_S,
      syncGraceS: 0,
      agentIni: {
        spp: { reconcile_interval: '0.5', retry_max_interval: '0.5', agent_liveness_ttl: '2' },
      },
      startConcurrency: 2,
    });
    client = stack.client!;
    store = stack.store!;
    h1 = stack.host('compute-1');
    h2 = stack.host('compute-2');
  });

  after(async () => {
    await stack?.stop();
  });

  const bind = async (
    port: { id: string; mac: string },
    host: string,
    segment: unknown,
  ): Promise<BindAnswer> => {
    const answer = await client.post<BindAnswer>('/v1/ml2/bind', {
      port: { id: port.id, mac_address: port.mac },
      host,
      segments: [segment],
    });
    assert.equal(answer.status, 200);
    return answer.body;
  };

  const unbind = async (portId: string, host: string) => {
    const answer = await client.post<{ result: string }>('/v1/ml2/unbind', {
      port_id: portId,
      host,
    });
    assert.equal(answer.status, 200);
    return answer.body.result;
  };

  const classifier = (status: ProcessStatus) => status.classifier_table ?? [];
  const holds = async (host: LabHost, clientId: number, mac: string) =>
    classifier(await host.vfStatus(clientId)).some((entry) =>
      entry.value.toLowerCase().endsWith(mac),
    );

  const slotFreed = (host: string, physnet: string, vhostId: number, portId: string) =>
    waitFor(
      `slot ${physnet}/${vhostId} of ${host} freed and ${portId}'s keys removed`,
      async () => {
        const slot = await store.get(keys.vhost(host, physnet, vhostId));
        const left = await Promise.all(
          [keys.bindPort, keys.action, keys.portStatus].map((key) => store.get(key(host, portId))),
        );
        return slot?.value === FREE && left.every((kv) => kv === undefined);
      },
    );

  test('flat bind: the answer names the vhost, SPP classifies the MAC to it, frames flow', async () => {
    const port = newPort();
    const answer = await bind(port, 'compute-1', flatSegment('phys1'));
    assert.equal(answer.bound, true, answer.detail);
    const vhost = answer.vhost_id as number;
    assert.ok(vhost === 0 || vhost === 1, `a phys1 vhost, got ${vhost}`);
    assert.equal(answer.vif_details?.vhostuser_socket, `/tmp/sock${vhost}`);
    assert.deepEqual(classifier(await h1.vfStatus(1)), [
      { type: 'mac', value: port.mac.toUpperCase(), port: `ring:${2 * vhost}` },
    ]);
    assert.equal((await store.get(keys.vhost('compute-1', 'phys1', vhost)))?.value, port.id);
    const toVm = h1.emulator.inject('phy:0', frame(port.mac, WIRE_MAC));
    assert.deepEqual(
      toVm.map((e) => e.port),
      [`vhost:${vhost}`],
    );
    assert.equal(await unbind(port.id, 'compute-1'), 'unplug_requested');
    await slotFreed('compute-1', 'phys1', vhost, port.id);
    assert.deepEqual(classifier(await h1.vfStatus(1)), []);
  });

  test('VLAN bind: classifier entry on the VLAN, merger adds the tag, classifier port strips it', async () => {
    const port = newPort();
    const answer = await bind(port, 'compute-2', vlanSegment(300, 'phys2'));
    assert.equal(answer.bound, true, answer.detail);
    const vhost = answer.vhost_id as number;
    assert.ok(vhost === 2 || vhost === 3, `a phys2 vhost, got ${vhost}`);
    const status = await h2.vfStatus(2);
    assert.deepEqual(classifier(status), [
      { type: 'vlan', value: `300/${port.mac.toUpperCase()}`, port: `ring:${2 * vhost}` },
    ]);
    const merger = status.components.find((c) => c.name === 'merger');
    assert.deepEqual(merger?.rx_port?.find((p) => p.port === `ring:${2 * vhost + 1}`)?.vlan, {
      operation: 'add',
      id: 300,
      pcp: 0,
    });
    const classifierComponent = status.components.find((c) => c.name === 'classifier');
    assert.equal(
      classifierComponent?.tx_port?.find((p) => p.port === `ring:${2 * vhost}`)?.vlan?.operation,
      'del',
    );
    const fromVm = h2.emulator.inject(`vhost:${vhost}`, frame(WIRE_MAC, port.mac));
    assert.deepEqual(egressOf(fromVm), [['phy:1', frame(WIRE_MAC, port.mac, 300).toString('hex')]]);
    assert.equal(await unbind(port.id, 'compute-2'), 'unplug_requested');
    await slotFreed('compute-2', 'phys2', vhost, port.id);
    assert.deepEqual(classifier(await h2.vfStatus(2)), []);
  });

  test('agent killed mid-bind: timeout, clean rollback; after a restart the port binds', async () => {
    const port = newPort();
    // The agent's classifier call hangs long enough to kill the agent in the middle of it.
    h1.emulator.addFault({ remaining: 1, match: '/v1/vfs/1/classifier_table', delayMs: 1000 });
    const pending = bind(port, 'compute-1', flatSegment('phys1'));
    await waitFor('the agent inside its classifier call', async () => {
      const response = await fetch(`${h1.emulator.url}/_emulator/faults`);
      const body = (await response.json()) as { faults: unknown[] };
      return body.faults.length === 0;
    });
    await h1.stopAgent('SIGKILL');
    const answer = await pending;
    assert.equal(answer.bound, false);
    assert.equal(answer.reason, 'timeout', answer.detail);
    // Rolled back: every slot free, no key of the port left.
    const snapshot = await store.read([
      { getPrefix: keys.hostPrefix('vhost', 'compute-1') },
      { get: keys.bindPort('compute-1', port.id) },
      { get: keys.action('compute-1', port.id) },
      { get: keys.portStatus('compute-1', port.id) },
    ]);
    assert.deepEqual(
      snapshot.kvs.map((kv) => [kv.key, kv.value]),
      [0, 1, 2, 3].map((v) => [keys.vhost('compute-1', v < 2 ? 'phys1' : 'phys2', v), FREE]),
    );

    // The hung call went through after the agent died: SPP carries a MAC no port owns.
    await waitFor('the hung classifier call applied', () => holds(h1, 1, port.mac));

    // Without an agent the host refuses binds once the liveness lease is gone.
    await waitFor(
      'agent liveness key expired',
      async () => !(await store.get(keys.agent('compute-1'))),
    );
    const refused = await bind(newPort(), 'compute-1', flatSegment('phys1'));
    assert.equal(refused.reason, 'agent_down');

    await h1.startAgent();
    // The classifier entry the dead agent's call left in SPP belongs to no port: removed.
    await waitFor('stale classifier entry removed', async () => !(await holds(h1, 1, port.mac)));
    const again = await bind(port, 'compute-1', flatSegment('phys1'));
    assert.equal(again.bound, true, again.detail);
    assert.deepEqual(classifier(await h1.vfStatus(1)), [
      {
        type: 'mac',
        value: port.mac.toUpperCase(),
        port: `ring:${2 * (again.vhost_id as number)}`,
      },
    ]);
    assert.equal(await unbind(port.id, 'compute-1'), 'unplug_requested');
    await slotFreed('compute-1', 'phys1', again.vhost_id as number, port.id);
  });

  test('host change A to B: unplugged from A (SPP and etcd), plugged on B', async () => {
    const port = newPort();
    const onA = await bind(port, 'compute-1', flatSegment('phys1'));
    assert.equal(onA.bound, true, onA.detail);
    assert.ok(await holds(h1, 1, port.mac));
    // Neutron moves the port: unbind on the old host, bind on the new one.
    assert.equal(await unbind(port.id, 'compute-1'), 'unplug_requested');
    const onB = await bind(port, 'compute-2', flatSegment('phys1'));
    assert.equal(onB.bound, true, onB.detail);
    assert.ok(await holds(h2, 1, port.mac));
    await slotFreed('compute-1', 'phys1', onA.vhost_id as number, port.id);
    assert.equal(await holds(h1, 1, port.mac), false);
    assert.equal(
      (await store.get(keys.vhost('compute-2', 'phys1', onB.vhost_id as number)))?.value,
      port.id,
    );
    assert.equal(await unbind(port.id, 'compute-2'), 'unplug_requested');
    await slotFreed('compute-2', 'phys1', onB.vhost_id as number, port.id);
  });

  test('full sync: unplugs what Neutron no longer has, plugs what etcd lost', async () => {
    const kept = newPort();
    const stray = newPort();
    const missing = newPort();
    const keptAnswer = await bind(kept, 'compute-2', vlanSegment(400, 'phys2'));
    const strayAnswer = await bind(stray, 'compute-2', flatSegment('phys1'));
    assert.equal(keptAnswer.bound && strayAnswer.bound, true);
    const listed = (port: { id: string; mac: string }, host: string, segment: unknown) => ({
      id: port.id,
      host,
      mac_address: port.mac,
      segment,
    });
    const answer = await client.post<{
      unplug_requested: Array<{ port_id: string }>;
      plug_requested: Array<{ port_id: string; vhost_id: number }>;
      errors: unknown[];
    }>('/v1/ml2/sync', {
      ports: [
        listed(kept, 'compute-2', vlanSegment(400, 'phys2')),
        listed(missing, 'compute-1', vlanSegment(500, 'phys2')),
      ],
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(
      answer.body.unplug_requested.map((u) => u.port_id),
      [stray.id],
    );
    assert.deepEqual(
      answer.body.plug_requested.map((p) => p.port_id),
      [missing.id],
    );
    assert.deepEqual(answer.body.errors, []);
    // etcd → SPP, both ways: the stray port leaves compute-2, the missing one reaches compute-1.
    await slotFreed('compute-2', 'phys1', strayAnswer.vhost_id as number, stray.id);
    assert.equal(await holds(h2, 1, stray.mac), false);
    await waitFor(
      'the missing port up on compute-1',
      async () => (await store.get(keys.portStatus('compute-1', missing.id)))?.value === 'up',
    );
    const vhost = answer.body.plug_requested[0]?.vhost_id as number;
    assert.deepEqual(classifier(await h1.vfStatus(2)), [
      { type: 'vlan', value: `500/${missing.mac.toUpperCase()}`, port: `ring:${2 * vhost}` },
    ]);
    // The port Neutron still has is untouched.
    assert.ok(await holds(h2, 2, kept.mac));
    assert.equal((await store.get(keys.portStatus('compute-2', kept.id)))?.value, 'up');
  });
});
