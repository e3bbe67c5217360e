import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { TapRequest } from '../../src/lab/tap-requests.js';
import { requestTapPlug, requestTapUnplug } from '../../src/lab/tap-requests.js';
import { AgentCalls } from '../emulator/agent-rest.js';
import { waitFor } from '../harness/wait.js';
import { WIRE_MAC, frame } from './frames.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';
import type { PortRequest } from './requests.js';
import { requestPlug, requestUnplug, waitForUnplugged, waitForUp } from './requests.js';

// phys1 = phy:0, vhosts 0, 1 (spp_vf 1); phys2 = phy:1, vhosts 2, 3 (spp_vf 2);
// spp_mirror = client 3, mirror_0 on ring:8/ring:9, mirror_1 on ring:10/ring:11.
const SOURCE: PortRequest = {
  portId: 'p-src',
  physnet: 'phys1',
  vhostId: 0,
  mac: 'fa:16:3e:00:00:10',
};
const SERVICE: PortRequest = {
  portId: 'p-svc',
  physnet: 'phys1',
  vhostId: 1,
  mac: 'fa:16:3e:00:00:11',
};
const VLAN_SOURCE: PortRequest = {
  portId: 'p-vsrc',
  physnet: 'phys2',
  vhostId: 2,
  mac: 'fa:16:3e:00:00:12',
  vlanId: 100,
};

const hex = (bytes: Buffer) => bytes.toString('hex');

describe('agent carries out tap flows (real etcd, emulator with spp_mirror, agent process)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let node: ComputeHostFixture;
  let baseline: string;

  const vfComponents = async () =>
    JSON.stringify(await Promise.all([1, 2].map(async (id) => (await node.status(id)).components)));
  const towardsVm = (port: PortRequest) =>
    node.emulator
      .inject(`phy:${port.physnet === 'phys1' ? 0 : 1}`, frame(port.mac, WIRE_MAC, port.vlanId))
      .map((out) => out.port)
      .sort();
  const fromVm = (port: PortRequest) =>
    node.emulator
      .inject(`vhost:${port.vhostId}`, frame(WIRE_MAC, port.mac))
      .map((out) => out.port)
      .sort();
  const changes = () =>
    (node.emulator.recorded ?? [])
      .filter((request) => request.method !== 'GET')
      .map((request) => `${request.path} ${JSON.stringify(request.body)}`);
  const waitTapUp = (flowId: string) =>
    waitFor(`tap_status of ${flowId} = up`, async () =>
      (await store.get(keys.tapStatus(node.host, flowId)))?.value === 'up' ? true : undefined,
    );
  const waitTapGone = (flowId: string, mirrors: number[]) =>
    waitFor(`tap flow ${flowId} unplugged`, async () => {
      const left = await Promise.all(
        [keys.tapInfo, keys.tapAction, keys.tapStatus].map((key) =>
          store.get(key(node.host, flowId)),
        ),
      );
      const slots = await Promise.all(mirrors.map((m) => store.get(keys.mirror(node.host, m))));
      return left.every((kv) => kv === undefined) && slots.every((kv) => kv?.value === FREE)
        ? true
        : undefined;
    });
  const port = (component: string, action: string, ring: string, dir: string) =>
    `/components/${component}/ports ${JSON.stringify({ action, port: ring, dir })}`;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'tap-1', mirror: '2#0x70000' });
    await node.startAgent();
    for (const p of [SOURCE, SERVICE, VLAN_SOURCE]) {
      await requestPlug(store, node.host, p);
      await waitForUp(store, node.host, p.portId);
    }
    baseline = await vfComponents();
  });

  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  test("IN: frames towards the source VM are copied to the service VM; the calls are the original's", async () => {
    node.emulator.recorded = [];
    const tap: TapRequest = {
      flowId: 'tf-in',
      sourcePort: SOURCE.portId,
      servicePort: SERVICE.portId,
      direction: 'IN',
    };
    const { mirrorIn } = await requestTapPlug(store, node.host, tap);
    assert.equal(mirrorIn, 0);
    await waitTapUp(tap.flowId);
    assert.deepEqual(
      changes().map((c) => c.replace(/^\/v1\/(vfs|mirrors)\/(\d)/, '$1/$2')),
      [
        `vfs/1${port('forward_1_tx', 'attach', 'ring:8', 'rx')}`,
        `mirrors/3${port('mirror_0', 'attach', 'ring:8', 'tx')}`,
        `vfs/1${port('forward_0_tx', 'attach', 'ring:9', 'rx')}`,
        `mirrors/3${port('mirror_0', 'attach', 'ring:9', 'tx')}`,
        `vfs/1${port('forward_0_tx', 'detach', 'ring:0', 'rx')}`,
        `mirrors/3${port('mirror_0', 'attach', 'ring:0', 'rx')}`,
      ],
    );
    assert.deepEqual(towardsVm(SOURCE), ['vhost:0', 'vhost:1']);
    assert.deepEqual(fromVm(SOURCE), ['phy:0']);
    assert.deepEqual(towardsVm(SERVICE), ['vhost:1']);

    node.emulator.recorded = [];
    await requestTapUnplug(store, node.host, tap.flowId);
    await waitTapGone(tap.flowId, [0]);
    assert.deepEqual(
      changes().map((c) => c.replace(/^\/v1\/(vfs|mirrors)\/(\d)/, '$1/$2')),
      [
        `mirrors/3${port('mirror_0', 'detach', 'ring:0', 'rx')}`,
        `vfs/1${port('forward_0_tx', 'attach', 'ring:0', 'rx')}`,
        `mirrors/3${port('mirror_0', 'detach', 'ring:9', 'tx')}`,
        `vfs/1${port('forward_0_tx', 'detach', 'ring:9', 'rx')}`,
        `mirrors/3${port('mirror_0', 'detach', 'ring:8', 'tx')}`,
        `vfs/1${port('forward_1_tx', 'detach', 'ring:8', 'rx')}`,
      ],
    );
    assert.deepEqual(towardsVm(SOURCE), ['vhost:0']);
    assert.equal(await vfComponents(), baseline, 'the wiring exactly as before');
    node.emulator.recorded = undefined;
  });

  test('OUT across NICs on a VLAN source: frames from the source VM are copied, untagged', async () => {
    const tap: TapRequest = {
      flowId: 'tf-out',
      sourcePort: VLAN_SOURCE.portId,
      servicePort: SERVICE.portId,
      direction: 'OUT',
    };
    await requestTapPlug(store, node.host, tap);
    await waitTapUp(tap.flowId);
    const out = node.emulator.inject('vhost:2', frame(WIRE_MAC, VLAN_SOURCE.mac));
    assert.deepEqual(out.map((o) => [o.port, hex(o.frame)]).sort(), [
      ['phy:1', hex(frame(WIRE_MAC, VLAN_SOURCE.mac, 100))],
      ['vhost:1', hex(frame(WIRE_MAC, VLAN_SOURCE.mac))],
    ]);
    assert.deepEqual(towardsVm(VLAN_SOURCE), ['vhost:2']);
    await requestTapUnplug(store, node.host, tap.flowId);
    await waitTapGone(tap.flowId, [0]);
    assert.deepEqual(fromVm(VLAN_SOURCE), ['phy:1']);
    assert.equal(await vfComponents(), baseline);
  });

  test('BOTH survives restarts of spp_mirror and spp_vf (re-wired by the reconcile pass)', async () => {
    const tap: TapRequest = {
      flowId: 'tf-both',
      sourcePort: SOURCE.portId,
      servicePort: SERVICE.portId,
      direction: 'BOTH',
    };
    node.emulator.recorded = [];
    await requestTapPlug(store, node.host, tap);
    await waitTapUp(tap.flowId);
    assert.equal(changes().length, 12);
    assert.deepEqual(towardsVm(SOURCE), ['vhost:0', 'vhost:1']);
    assert.deepEqual(fromVm(SOURCE), ['phy:0', 'vhost:1']);

    const gets = (node.emulator.recorded ?? []).filter((r) => r.method === 'GET').length;
    console.log(
      `# figure: spp-ctl calls per BOTH tap plug: ${changes().length} PUT (+ ${gets} GET while waiting, incl. timer passes) (node --test dist/test/agent/taps.test.js)`,
    );

    // An agent restart with the tap wired changes nothing in SPP.
    node.emulator.recorded = [];
    const agent = node.agent;
    assert.ok(agent);
    await agent.stop();
    node.agent = undefined;
    await node.startAgent();
    assert.deepEqual(changes(), [], 'no spp-ctl change after the restart');
    assert.equal((await store.get(keys.tapStatus(node.host, tap.flowId)))?.value, 'up');
    node.emulator.recorded = undefined;

    node.emulator.restartProcess(3);
    await waitFor('copies again after the spp_mirror restart', () =>
      towardsVm(SOURCE).length === 2 && fromVm(SOURCE).length === 2 ? true : undefined,
    );
    node.emulator.restartProcess(1);
    await waitFor('copies again after the spp_vf restart', () =>
      towardsVm(SOURCE).length === 2 && fromVm(SOURCE).length === 2 ? true : undefined,
    );
    assert.deepEqual(towardsVm(SOURCE), ['vhost:0', 'vhost:1']);
    assert.deepEqual(towardsVm(SERVICE), ['vhost:1']);

    await requestTapUnplug(store, node.host, tap.flowId);
    await waitTapGone(tap.flowId, [0, 1]);
    assert.deepEqual(towardsVm(SOURCE), ['vhost:0']);
    assert.deepEqual(fromVm(SOURCE), ['phy:0']);
    await waitFor('spp_vf 1 wired as before', async () =>
      (await vfComponents()) === baseline ? true : undefined,
    );
  });

  test('unplugging the source port of an active tap tears the tap down first; a new port there is not copied', async () => {
    const tap: TapRequest = {
      flowId: 'tf-src',
      sourcePort: SOURCE.portId,
      servicePort: SERVICE.portId,
      direction: 'BOTH',
    };
    await requestTapPlug(store, node.host, tap);
    await waitTapUp(tap.flowId);
    await requestUnplug(store, node.host, SOURCE.portId);
    await waitForUnplugged(store, node.host, SOURCE);
    const mirror = await node.status(3, 'mirrors');
    assert.deepEqual(
      mirror.components.map((c) => [c.name, c.rx_port?.length, c.tx_port?.length]),
      [
        ['mirror_0', 0, 0],
        ['mirror_1', 0, 0],
      ],
    );
    const next: PortRequest = { ...SOURCE, portId: 'p-next', mac: 'fa:16:3e:00:00:20' };
    await requestPlug(store, node.host, next);
    await waitForUp(store, node.host, next.portId);
    assert.deepEqual(towardsVm(next), ['vhost:0']);
    assert.deepEqual(fromVm(next), ['phy:0']);
    // The flow's keys stay (Neutron deletes the flow); its mirrors are not wired again.
    await requestTapUnplug(store, node.host, tap.flowId);
    await waitTapGone(tap.flowId, [0, 1]);
    await requestUnplug(store, node.host, next.portId);
    await waitForUnplugged(store, node.host, next);
  });

  test('a tap left in SPP without keys in etcd (e.g. by the original agent) is torn down before a new port uses the vhost', async () => {
    const agent = node.agent;
    assert.ok(agent);
    await agent.stop();
    node.agent = undefined;
    // The original's tap-in of vhost 0 (no port now) to the service VM on vhost 1.
    const calls = new AgentCalls(node.emulator.url);
    await calls.attach(1, 'forward_1_tx', 'ring:8', 'rx');
    await calls.attach(3, 'mirror_0', 'ring:8', 'tx', undefined, 'mirrors');
    await calls.attach(1, 'forward_0_tx', 'ring:9', 'rx');
    await calls.attach(3, 'mirror_0', 'ring:9', 'tx', undefined, 'mirrors');
    await calls.detach(1, 'forward_0_tx', 'ring:0', 'rx');
    await calls.attach(3, 'mirror_0', 'ring:0', 'rx', undefined, 'mirrors');
    const agentAgain = await node.startAgent();
    const next: PortRequest = { ...SOURCE, portId: 'p-after-stale', mac: 'fa:16:3e:00:00:30' };
    await requestPlug(store, node.host, next);
    await waitForUp(store, node.host, next.portId);
    assert.deepEqual(towardsVm(next), ['vhost:0']);
    assert.ok(agentAgain.logs.some((line) => line.msg === 'tap wiring etcd does not have removed'));
    await requestUnplug(store, node.host, next.portId);
    await waitForUnplugged(store, node.host, next);
  });
});
