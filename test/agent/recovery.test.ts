import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { Etcd3 } from 'etcd3';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';
import { WIRE_MAC, frame } from './frames.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';
import type { PortRequest } from './requests.js';
import {
  explainFailure,
  requestPlug,
  requestUnplug,
  waitForUnplugged,
  waitForUp,
} from './requests.js';

// Default layout of computeHost(): phys1 = phy:0, vhosts 0,1 (vf 1); phys2 = phy:1, vhosts 2,3 (vf 2).
function flatPort(portId: string, vhostId = 0): PortRequest {
  return { portId, physnet: 'phys1', vhostId, mac: `fa:16:3e:00:01:0${vhostId}` };
}
function vlanPort(portId: string, vhostId = 2, vlanId = 200): PortRequest {
  return { portId, physnet: 'phys2', vhostId, mac: `fa:16:3e:00:02:0${vhostId}`, vlanId };
}

const SPP_FAILED = 'spp-ctl request failed; will retry';
const SKIPPED = 'request skipped; its keys are left in etcd';

/** The classifier table of spp_vf `clientId` as its MAC values (with VLAN id prefix if any). */
async function classified(node: ComputeHostFixture, clientId: number): Promise<string[]> {
  return ((await node.status(clientId)).classifier_table ?? []).map((entry) => entry.value);
}

/** Where a frame sent from the wire to `port`'s MAC leaves SPP. */
function fromWire(node: ComputeHostFixture, nic: number, port: PortRequest): string[] {
  return node.emulator
    .inject(`phy:${nic}`, frame(port.mac, WIRE_MAC, port.vlanId))
    .map((egress) => egress.port);
}

describe('agent recovery and robustness (real etcd, emulator, agent process)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  const nodes: ComputeHostFixture[] = [];

  async function host(
    name: string,
    options: Partial<Parameters<typeof computeHost>[0]> = {},
  ): Promise<ComputeHostFixture> {
    const node = await computeHost({ store, etcd: etcd.endpoint, host: name, ...options });
    nodes.push(node);
    return node;
  }

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
  });

  after(async () => {
    for (const node of nodes) await node.stop();
    store?.close();
    await etcd?.dispose();
  });

  test('an agent restarted with ports plugged leaves SPP as it is and keeps serving', async () => {
    const node = await host('restart-1');
    await node.startAgent();
    const flat = flatPort('rs-flat');
    const vlan = vlanPort('rs-vlan');
    await requestPlug(store, node.host, flat);
    await requestPlug(store, node.host, vlan);
    await waitForUp(store, node.host, flat.portId);
    await waitForUp(store, node.host, vlan.portId);
    const before = [JSON.stringify(await node.status(1)), JSON.stringify(await node.status(2))];

    assert.deepEqual(await node.agent?.stop(), { code: 0, signal: null });
    const agent = await node.startAgent();
    const late = flatPort('rs-late', 1);
    await requestPlug(store, node.host, late);
    await waitForUp(store, node.host, late.portId);

    assert.deepEqual((await classified(node, 1)).sort(), [
      'FA:16:3E:00:01:00',
      'FA:16:3E:00:01:01',
    ]);
    assert.equal(JSON.stringify(await node.status(2)), before[1]);
    assert.deepEqual(fromWire(node, 1, vlan), ['vhost:2']);
    assert.equal(agent.logs.filter((line) => line.msg === SPP_FAILED).length, 0);
    assert.equal(agent.logs.filter((line) => line.msg === 'components built').length, 0);
  });

  test('a plug requested while the agent was down is done at start-up', async () => {
    const node = await host('restart-2');
    await node.startAgent();
    await node.agent?.stop();
    const port = vlanPort('rs-offline', 3, 300);
    await requestPlug(store, node.host, port);
    await node.startAgent();
    await waitForUp(store, node.host, port.portId);
    assert.deepEqual(fromWire(node, 1, port), ['vhost:3']);
  });

  test('etcd restarted while plugs are in flight: nothing is lost', async () => {
    const node = await host('etcd-restart');
    const agent = await node.startAgent();
    const first = flatPort('er-1', 0);
    const second = vlanPort('er-2', 2, 120);
    await requestPlug(store, node.host, first);
    await etcd.stop();
    await etcd.start();
    await requestPlug(store, node.host, second);
    const explained = <T>(wait: Promise<T>) => explainFailure(wait, store, node.host, agent.logs);
    await explained(waitForUp(store, node.host, first.portId, 20_000));
    await explained(waitForUp(store, node.host, second.portId, 20_000));
    await requestUnplug(store, node.host, first.portId);
    await explained(waitForUnplugged(store, node.host, first, 20_000));
    assert.deepEqual(fromWire(node, 1, second), ['vhost:2']);
    assert.deepEqual(fromWire(node, 0, first), []);
    assert.equal(agent.child.exitCode, null, 'agent still running');
  });

  test('cut off from etcd while its history is compacted: the agent re-reads and catches up', async () => {
    const [etcdHost = '', etcdPort = ''] = etcd.endpoint.split(':');
    const proxy = await TcpProxy.start(etcdHost, Number(etcdPort));
    try {
      const node = await host('partition', { etcd: proxy.endpoint });
      const agent = await node.startAgent();
      const first = flatPort('pt-1', 0);
      await requestPlug(store, node.host, first);
      await waitForUp(store, node.host, first.portId);

      proxy.cut();
      const second = vlanPort('pt-2', 3, 130);
      await requestPlug(store, node.host, second);
      await requestUnplug(store, node.host, first.portId);
      const latest = await store.put('/spp/openstack/test/noise', 'x');
      await (store.client as Etcd3).kv.compact({ revision: String(latest), physical: true });
      proxy.restore();

      await waitForUp(store, node.host, second.portId, 20_000);
      await waitForUnplugged(store, node.host, first, 20_000);
      assert.ok(
        agent.logs.some(
          (line) => line.msg === 'etcd cancelled a watch (history compacted); re-reading',
        ),
        'the compacted watch was noticed',
      );
      assert.deepEqual(fromWire(node, 1, second), ['vhost:3']);
      assert.deepEqual(fromWire(node, 0, first), []);
    } finally {
      await proxy.stop();
    }
  });

  test('a restarted spp_vf is rebuilt and its ports re-plugged by the reconcile pass', async () => {
    const node = await host('vf-restart');
    const agent = await node.startAgent();
    const port = flatPort('vr-1', 1);
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId);
    const before = await node.status(1);

    const builds = () => agent.logs.filter((line) => line.msg === 'components built').length;
    const buildsBefore = builds();
    node.emulator.restartProcess(1);
    const after = await waitFor('spp_vf 1 rebuilt with its port', async () => {
      const status = await node.status(1);
      return status.classifier_table?.length === 1 ? status : undefined;
    });
    assert.equal(builds(), buildsBefore + 1, 'spp_vf 1 was built again');
    assert.deepEqual(after.classifier_table, before.classifier_table);
    assert.deepEqual(
      after.components.map((c) => c.name).sort(),
      before.components.map((c) => c.name).sort(),
    );
    assert.deepEqual(fromWire(node, 0, port), ['vhost:1']);
  });

  test('a plug right after an unnoticed spp_vf restart rebuilds the process and plugs', async () => {
    const node = await host('vf-restart-plug');
    // No timer pass during the test: only the plug request can reveal the restart.
    const agent = await node.startAgent({ spp: { reconcile_interval: '600' } });
    const first = flatPort('vp-1', 0);
    await requestPlug(store, node.host, first);
    await waitForUp(store, node.host, first.portId);

    node.emulator.restartProcess(1);
    const second = flatPort('vp-2', 1);
    await requestPlug(store, node.host, second);
    await waitForUp(store, node.host, second.portId);
    await waitFor('both ports classified again', async () =>
      (await classified(node, 1)).length === 2 ? true : undefined,
    );
    assert.deepEqual((await classified(node, 1)).sort(), [
      'FA:16:3E:00:01:00',
      'FA:16:3E:00:01:01',
    ]);
    assert.deepEqual(fromWire(node, 0, first), ['vhost:0']);
    assert.deepEqual(fromWire(node, 0, second), ['vhost:1']);
    assert.ok(
      agent.logs.some((line) => line.msg === SPP_FAILED),
      'the stale view failed once',
    );
  });

  test('spp-ctl failing for a while: the agent survives, logs once, and completes the plug', async () => {
    const node = await host('spp-faults');
    const agent = await node.startAgent();
    node.emulator.addFault({ remaining: 10, status: 500, body: 'spp_vf is busy' });
    const port = vlanPort('sf-1', 2, 150);
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId, 20_000);
    assert.deepEqual(fromWire(node, 1, port), ['vhost:2']);
    const failures = agent.logs.filter((line) => line.msg === SPP_FAILED);
    assert.ok(failures.length >= 1, 'the failure was logged');
    assert.ok(failures.length <= 4, `logged once per process, got ${failures.length} lines`);
    await waitFor('recovery logged', () =>
      agent.logs.some((line) => line.msg === 'spp-ctl requests succeed again'),
    );
  });

  test('spp-ctl hanging: requests time out and the plug completes afterwards', async () => {
    const node = await host('spp-hang');
    const agent = await node.startAgent({ spp: { spp_ctl_timeout: '0.3' } });
    // spp-ctl serves one request at a time, so each hung request also holds up the next ones.
    node.emulator.addFault({ remaining: 2, delayMs: 1500 });
    const port = flatPort('sh-1', 0);
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId, 20_000);
    assert.ok(
      agent.logs.some((line) => line.msg === SPP_FAILED && /timed out/.test(String(line.err))),
    );
    assert.deepEqual(fromWire(node, 0, port), ['vhost:0']);
  });

  test('malformed requests are logged with the port id and skipped; their keys stay', async () => {
    const node = await host('malformed');
    const agent = await node.startAgent();
    const bad = [
      { portId: 'bad-json', bindPort: '{"mac_address": ', action: 'plug' },
      { portId: 'bad-mac', bindPort: '{"mac_address": "xyz", "vhost_id": 1}', action: 'plug' },
      {
        portId: 'bad-vhost',
        bindPort: '{"mac_address": "fa:16:3e:00:09:09", "vhost_id": 42}',
        action: 'plug',
      },
      {
        portId: 'bad-action',
        bindPort: '{"mac_address": "fa:16:3e:00:09:0a", "vhost_id": 1}',
        action: 'replug',
      },
    ];
    for (const entry of bad) {
      await store.put(keys.bindPort(node.host, entry.portId), entry.bindPort);
      await store.put(keys.action(node.host, entry.portId), entry.action);
    }
    const good = flatPort('good-1', 1);
    await requestPlug(store, node.host, good);
    await waitForUp(store, node.host, good.portId);
    await waitFor('every bad request logged', () =>
      bad.every((entry) =>
        agent.logs.some((line) => line.msg === SKIPPED && line.port_id === entry.portId),
      ),
    );
    const vhost42 = agent.logs.find((line) => line.port_id === 'bad-vhost' && line.msg === SKIPPED);
    assert.match(String(vhost42?.problem), /vhost 42 is not in the host's layout/);
    for (const entry of bad) {
      assert.equal(
        (await store.get(keys.bindPort(node.host, entry.portId)))?.value,
        entry.bindPort,
      );
      assert.equal((await store.get(keys.action(node.host, entry.portId)))?.value, entry.action);
      assert.equal(await store.get(keys.portStatus(node.host, entry.portId)), undefined);
    }
    assert.deepEqual(await classified(node, 1), ['FA:16:3E:00:01:01']);
    assert.equal(agent.child.exitCode, null, 'agent still running');
  });

  test('two agents for two hosts on one etcd do not interfere', async () => {
    const a = await host('pair-a');
    const b = await host('pair-b');
    await Promise.all([a.startAgent(), b.startAgent()]);
    const onA = flatPort('pa-1', 0);
    const onB = { ...flatPort('pb-1', 0), mac: 'fa:16:3e:00:0b:00' };
    await requestPlug(store, a.host, onA);
    await requestPlug(store, b.host, onB);
    await waitForUp(store, a.host, onA.portId);
    await waitForUp(store, b.host, onB.portId);
    assert.deepEqual(await classified(a, 1), ['FA:16:3E:00:01:00']);
    assert.deepEqual(await classified(b, 1), ['FA:16:3E:00:0B:00']);
    await requestUnplug(store, a.host, onA.portId);
    await waitForUnplugged(store, a.host, onA);
    assert.equal((await store.get(keys.portStatus(b.host, onB.portId)))?.value, 'up');
    assert.deepEqual(fromWire(b, 0, onB), ['vhost:0']);
  });

  test('what etcd no longer wants is removed from SPP by the reconcile pass', async () => {
    const node = await host('stale');
    await node.startAgent();
    const port = vlanPort('st-1', 3, 330);
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId);
    // An operator wipes the port's keys by hand, without an unplug request.
    await store.transaction(
      [],
      [
        { delete: keys.bindPort(node.host, port.portId) },
        { delete: keys.action(node.host, port.portId) },
        { delete: keys.portStatus(node.host, port.portId) },
        { put: keys.vhost(node.host, port.physnet, port.vhostId), value: FREE },
      ],
    );
    await waitFor('classifier entry removed', async () => (await classified(node, 2)).length === 0);
    const merger = (await node.status(2)).components.find((c) => c.name === 'merger');
    assert.equal(merger?.rx_port?.find((p) => p.port === 'ring:7')?.vlan?.operation, 'none');
    assert.deepEqual(fromWire(node, 1, port), []);
  });
});
