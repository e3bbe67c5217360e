/**
 * End to end on a real Neutron: neutron-server (ML2, the repository's Python driver `spp`)
 * + RabbitMQ + the binding service + etcd + two compute hosts, each an SPP emulator with a
 * real agent process that reports its state over RabbitMQ. Everything is driven through
 * Neutron's REST API only, as Nova or an operator would. Started once and shared by the
 * tests, which run in order and leave the system consistent after each.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { EtcdStore } from '../../src/etcd/store.js';
import { isUp } from '../../src/snapshot/model.js';
import { hostState as readHostState, slotOf, usedSlots } from '../harness/host-state.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { NeutronServer } from '../../src/lab/neutron-server.js';
import { RabbitMqServer } from '../../src/lab/rabbitmq.js';
import type { NeutronNetwork, NeutronPort } from '../../src/neutron/api-client.js';
import { NeutronApi } from '../../src/neutron/api-client.js';
import type { RunningServer } from '../../src/server/index.js';
import { startServer } from '../../src/server/index.js';
import type { ServerOptions } from '../../src/server/options.js';
import { labServiceOptions } from './lab.js';
import { WIRE_MAC, egressOf, frame } from '../agent/frames.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { computeHost } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'e2e-token';
const VLAN_ID = 150;
// Default layout of computeHost(): phys1 = phy:0 with vhosts 0,1 (client 1);
// phys2 = phy:1 with vhosts 2,3 (client 2).
const PHY = { phys1: 'phy:0', phys2: 'phy:1' } as const;
const CLIENT = { phys1: 1, phys2: 2 } as const;
const SYNC_INTERVAL_S = 2;
const SYNC_GRACE_S = 3;

describe('networking-spp on a real Neutron', () => {
  let etcd: EtcdServer | undefined;
  let store: EtcdStore | undefined;
  let rabbit: RabbitMqServer | undefined;
  let service: RunningServer | undefined;
  let serviceOptions: ServerOptions;
  let neutron: NeutronServer | undefined;
  let api: NeutronApi;
  const hosts = new Map<string, ComputeHostFixture>();
  const serviceLogs: Array<Record<string, unknown>> = [];
  let flat: NeutronNetwork;
  let vlan: NeutronNetwork;
  let vxlan: NeutronNetwork;

  const agentIni = () => ({
    DEFAULT: { transport_url: rabbit!.transportUrl },
    AGENT: { report_interval: '1' },
  });
  const node = (host: string) => hosts.get(host) as ComputeHostFixture;

  const startService = async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim() !== '') serviceLogs.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    service = await startServer(serviceOptions, {
      logger: pino({ level: 'info' }, sink),
      defaultMetrics: false,
    });
  };

  before(async () => {
    [etcd, rabbit] = await Promise.all([EtcdServer.launch(), RabbitMqServer.launch()]);
    store = etcd.connectStore();
    serviceOptions = await labServiceOptions(etcd.endpoint, TOKEN, SYNC_GRACE_S);
    await startService();
    for (const host of ['compute-1', 'compute-2']) {
      hosts.set(host, await computeHost({ store, etcd: etcd.endpoint, host }));
    }
    const [server] = await Promise.all([
      NeutronServer.launch({
        transportUrl: rabbit.transportUrl,
        agentDownTimeS: 6,
        spp: {
          service_url: service!.url,
          auth_token: TOKEN,
          request_timeout: '20',
          sync_interval: String(SYNC_INTERVAL_S),
        },
      }),
      ...[...hosts.values()].map((each) => each.startAgent(agentIni())),
    ]);
    neutron = server;
    api = new NeutronApi(neutron.url);
    flat = await api.createNetwork({
      name: 'spp-flat',
      networkType: 'flat',
      physicalNetwork: 'phys1',
    });
    vlan = await api.createNetwork({
      name: 'spp-vlan',
      networkType: 'vlan',
      physicalNetwork: 'phys2',
      segmentationId: VLAN_ID,
    });
    vxlan = await api.createNetwork({ name: 'overlay', networkType: 'vxlan' });
  });

  after(async () => {
    await neutron?.dispose();
    for (const each of hosts.values()) await each.stop();
    await service?.close();
    store?.close();
    await rabbit?.dispose();
    await etcd?.dispose();
  });

  // -- helpers ---------------------------------------------------------------

  const createPort = (network: NeutronNetwork, host?: string) =>
    api.createPort(network.id, host === undefined ? {} : { 'binding:host_id': host });

  /** The vhost a frame to `mac` arriving on the NIC of `physnet` is delivered to, if any. */
  const vhostReached = (host: string, physnet: keyof typeof PHY, mac: string, vlanId?: number) => {
    const egress = node(host).emulator.inject(PHY[physnet], frame(mac, WIRE_MAC, vlanId));
    const vhosts = egress.filter((e) => e.port.startsWith('vhost:'));
    assert.ok(vhosts.length <= 1, `frame delivered to ${egress.map((e) => e.port).join(', ')}`);
    return vhosts[0] ? Number(vhosts[0].port.slice('vhost:'.length)) : undefined;
  };

  const classifierMacs = async (host: string, physnet: keyof typeof PHY) =>
    ((await node(host).status(CLIENT[physnet])).classifier_table ?? []).map((entry) => entry.value);

  /** Asserts a bound port is programmed in SPP and etcd as its binding says. */
  const assertPlugged = async (
    port: NeutronPort,
    host: string,
    physnet: keyof typeof PHY,
    vlanId?: number,
  ) => {
    assert.equal(port.status, 'ACTIVE');
    assert.equal(port['binding:host_id'], host);
    assert.equal(port['binding:vif_type'], 'vhostuser');
    const details = port['binding:vif_details'] ?? {};
    assert.equal(details.vhostuser_mode, 'server');
    assert.equal(details.port_filter, false);
    const vhost = vhostReached(host, physnet, port.mac_address, vlanId);
    assert.notEqual(vhost, undefined, `no vhost receives frames for ${port.mac_address}`);
    assert.equal(details.vhostuser_socket, `/tmp/sock${vhost}`);
    // spp-ctl's own view: the classifier sends the MAC (and VLAN) to that vhost's ring.
    const table = (await node(host).status(CLIENT[physnet])).classifier_table ?? [];
    const mac = port.mac_address.toUpperCase();
    assert.deepEqual(
      table.filter((entry) => entry.value.endsWith(mac)),
      [
        vlanId === undefined
          ? { type: 'mac', value: mac, port: `ring:${2 * (vhost as number)}` }
          : { type: 'vlan', value: `${vlanId}/${mac}`, port: `ring:${2 * (vhost as number)}` },
      ],
    );
    const state = await readHostState(store!, host);
    const slot = slotOf(state, port.id);
    assert.equal(slot?.vhostId, vhost);
    assert.equal(slot?.physnet, physnet);
    assert.equal(isUp(state.ports.get(port.id)?.status), true);
    // Towards the wire the frame leaves by the NIC, tagged on VLAN segments.
    const out = node(host).emulator.inject(`vhost:${vhost}`, frame(WIRE_MAC, port.mac_address));
    assert.deepEqual(egressOf(out), [
      [PHY[physnet], frame(WIRE_MAC, port.mac_address, vlanId).toString('hex')],
    ]);
    return vhost as number;
  };

  /** Waits until nothing of the port is left on the host: etcd keys, slot, SPP entry. */
  const waitForCleaned = async (
    portId: string,
    mac: string,
    host: string,
    physnet: keyof typeof PHY,
  ) => {
    await waitFor(
      `port ${portId} cleaned on ${host}`,
      async () => {
        const state = await readHostState(store!, host);
        if (state.ports.has(portId)) return false;
        if (slotOf(state, portId)) return false;
        const macs = await classifierMacs(host, physnet);
        return !macs.some((value) => value.toLowerCase().endsWith(mac.toLowerCase()));
      },
      20_000,
    );
  };

  /**
   * etcd and Neutron agree: every slot in use holds a port Neutron has bound on that host as
   * vhostuser, and every such port holds a slot.
   */
  const assertConsistent = async () => {
    const ports = await api.listPorts();
    for (const host of hosts.keys()) {
      const state = await readHostState(store!, host);
      const used = usedSlots(state);
      const bound = ports.filter(
        (p) => p['binding:host_id'] === host && p['binding:vif_type'] === 'vhostuser',
      );
      assert.deepEqual(
        [...used.keys()].sort(),
        bound.map((p) => p.id).sort(),
        `slots on ${host} vs Neutron's bound ports`,
      );
      assert.deepEqual([...state.ports.keys()].sort(), [...used.keys()].sort());
      for (const p of bound) assert.equal(p.status, 'ACTIVE', `${p.id} on ${host}`);
    }
  };

  const sppAgents = async () =>
    (await api.listAgents()).filter((agent) => agent.agent_type === 'SPP neutron agent');

  const agentAlive = async (host: string) =>
    (await sppAgents()).find((agent) => agent.host === host)?.alive;

  // -- tests -----------------------------------------------------------------

  test('GET /v2.0/agents lists an alive SPP neutron agent per host, with its configuration', async () => {
    const agents = await waitFor(
      'both agents alive in Neutron',
      async () => {
        const list = await sppAgents();
        return list.filter((a) => a.alive).length === 2 ? list : undefined;
      },
      20_000,
    );
    assert.deepEqual(agents.map((a) => a.host).sort(), ['compute-1', 'compute-2']);
    for (const agent of agents) {
      assert.equal(agent.binary, 'neutron-spp-agent');
      assert.equal(agent.topic, 'N/A');
      assert.deepEqual(agent.configurations.physnets, ['phys1', 'phys2']);
      assert.deepEqual(agent.configurations.vhosts, {
        phys1: { total: 2, free: 2 },
        phys2: { total: 2, free: 2 },
      });
    }
  });

  test('flat port: ACTIVE, vhostuser on the vhost SPP programmed with its MAC', async () => {
    const port = await createPort(flat, 'compute-1');
    await assertPlugged(port, 'compute-1', 'phys1');
    // The heartbeat carries the slot count.
    await waitFor(
      'agent reports one free phys1 slot',
      async () => {
        const agent = (await sppAgents()).find((a) => a.host === 'compute-1');
        const vhosts = agent?.configurations.vhosts as Record<string, { free: number }> | undefined;
        return vhosts?.phys1?.free === 1;
      },
      10_000,
    );
    await assertConsistent();
  });

  test('VLAN port: ACTIVE, tag removed towards the VM and added towards the wire', async () => {
    const port = await createPort(vlan, 'compute-2');
    const vhost = await assertPlugged(port, 'compute-2', 'phys2', VLAN_ID);
    const status = await node('compute-2').status(CLIENT.phys2);
    assert.deepEqual(
      (status.classifier_table ?? []).filter((e) => e.type === 'vlan').map((e) => e.value),
      [`${VLAN_ID}/${port.mac_address.toUpperCase()}`],
    );
    const merger = status.components.find((c) => c.name === 'merger');
    assert.deepEqual(merger?.rx_port?.find((p) => p.port === `ring:${2 * vhost + 1}`)?.vlan, {
      operation: 'add',
      id: VLAN_ID,
      pcp: 0,
    });
    // Untagged or otherwise tagged frames to the MAC do not reach the VM.
    assert.equal(vhostReached('compute-2', 'phys2', port.mac_address), undefined);
    assert.equal(vhostReached('compute-2', 'phys2', port.mac_address, VLAN_ID + 1), undefined);
    await assertConsistent();
  });

  test('not ours: a vxlan port, and a host without SPP, are not bound by the SPP driver', async () => {
    const overlay = await createPort(vxlan, 'compute-1');
    assert.equal(overlay['binding:vif_type'], 'binding_failed');
    const elsewhere = await createPort(flat, 'compute-without-spp');
    assert.equal(elsewhere['binding:vif_type'], 'binding_failed');
    const state = await readHostState(store!, 'compute-1');
    assert.equal(state.ports.has(overlay.id), false);
    assert.equal((await readHostState(store!, 'compute-without-spp')).ports.size, 0);
    await api.deletePort(overlay.id);
    await api.deletePort(elsewhere.id);
    await assertConsistent();
  });

  test('more ports than slots: the extra one fails to bind until a delete frees a slot', async () => {
    // compute-1 phys1 has 2 slots; the flat port of an earlier test holds one.
    const second = await createPort(flat, 'compute-1');
    await assertPlugged(second, 'compute-1', 'phys1');
    const extra = await createPort(flat, 'compute-1');
    assert.equal(extra['binding:vif_type'], 'binding_failed');
    assert.equal(extra.status, 'DOWN');
    assert.equal((await readHostState(store!, 'compute-1')).ports.has(extra.id), false);
    await api.deletePort(second.id);
    await waitForCleaned(second.id, second.mac_address, 'compute-1', 'phys1');
    // Asking again (as Nova does on a retry) binds it on the freed slot.
    const rebound = await api.updatePort(extra.id, { 'binding:host_id': 'compute-1' });
    await assertPlugged(rebound, 'compute-1', 'phys1');
    await assertConsistent();
  });

  test('host cleared, host changed, port deleted: SPP and etcd cleaned, slots free', async () => {
    const port = await createPort(flat, 'compute-2');
    await assertPlugged(port, 'compute-2', 'phys1');
    const cleared = await api.updatePort(port.id, { 'binding:host_id': '' });
    assert.equal(cleared['binding:vif_type'], 'unbound');
    await waitForCleaned(port.id, port.mac_address, 'compute-2', 'phys1');
    await assertConsistent();

    const again = await api.updatePort(port.id, { 'binding:host_id': 'compute-2' });
    await assertPlugged(again, 'compute-2', 'phys1');
    // compute-1's phys1 is full (two ports of earlier tests): free one for the move.
    const [occupant] = (await api.listPorts()).filter(
      (p) => p['binding:host_id'] === 'compute-1' && p.network_id === flat.id,
    );
    await api.deletePort(occupant!.id);
    await waitForCleaned(occupant!.id, occupant!.mac_address, 'compute-1', 'phys1');
    const moved = await api.updatePort(port.id, { 'binding:host_id': 'compute-1' });
    await assertPlugged(moved, 'compute-1', 'phys1');
    await waitForCleaned(port.id, port.mac_address, 'compute-2', 'phys1');
    await assertConsistent();

    await api.deletePort(port.id);
    await waitForCleaned(port.id, port.mac_address, 'compute-1', 'phys1');
    await assertConsistent();
  });

  test('a stopped agent shows dead and gets no ports; restarted, it is alive and binds', async () => {
    await node('compute-2').agent?.stop();
    node('compute-2').agent = undefined;
    await waitFor(
      'compute-2 agent dead in Neutron',
      async () => (await agentAlive('compute-2')) === false,
      20_000,
    );
    assert.equal(await agentAlive('compute-1'), true);
    const port = await createPort(vlan, 'compute-2');
    assert.equal(port['binding:vif_type'], 'binding_failed');
    assert.equal((await readHostState(store!, 'compute-2')).ports.has(port.id), false);

    await node('compute-2').startAgent(agentIni());
    await waitFor(
      'compute-2 agent alive again',
      async () => (await agentAlive('compute-2')) === true,
      20_000,
    );
    const rebound = await api.updatePort(port.id, { 'binding:host_id': 'compute-2' });
    await assertPlugged(rebound, 'compute-2', 'phys2', VLAN_ID);
    await assertConsistent();
  });

  test('binding service down while a port is deleted: the periodic sync frees its slot later', async () => {
    const port = await createPort(vlan, 'compute-1');
    await assertPlugged(port, 'compute-1', 'phys2', VLAN_ID);
    await service!.close();
    service = undefined;
    await api.deletePort(port.id);
    // Nothing could tell the agent: the port is still plugged.
    const state = await readHostState(store!, 'compute-1');
    assert.equal(isUp(state.ports.get(port.id)?.status), true);
    const mark = serviceLogs.length;
    await startService();
    await waitForCleaned(port.id, port.mac_address, 'compute-1', 'phys2');
    assert.ok(
      serviceLogs
        .slice(mark)
        .some((line) => line.msg === 'sync' && Number(line.unplug_requested) >= 1),
      'the cleanup came from a sync',
    );
    await assertConsistent();
  });

  test('neutron-server restart: bound ports stay bound, agents come back alive, binds work', async () => {
    const before = (await api.listPorts()).filter((p) => p['binding:vif_type'] === 'vhostuser');
    assert.ok(before.length >= 2);
    await neutron!.stop();
    await neutron!.start();
    await waitFor(
      'both agents alive after the restart',
      async () => (await sppAgents()).filter((a) => a.alive).length === 2,
      20_000,
    );
    // Let at least two full syncs of the restarted server run against the service.
    const syncsBefore = countSyncs();
    await waitFor('two syncs after the restart', () => countSyncs() >= syncsBefore + 2, 30_000);
    const afterRestart = (await api.listPorts()).filter(
      (p) => p['binding:vif_type'] === 'vhostuser',
    );
    assert.deepEqual(
      afterRestart.map((p) => [p.id, p.status]).sort(),
      before.map((p) => [p.id, p.status]).sort(),
    );
    await assertConsistent();
    const port = await createPort(flat, 'compute-2');
    await assertPlugged(port, 'compute-2', 'phys1');
    await assertConsistent();
  });

  test('neutron-server killed while a bind waits for the agent: etcd ends consistent with Neutron', async () => {
    const host = 'compute-2';
    const known = new Set((await readHostState(store!, host)).ports.keys());
    // Slow spp-ctl down so that the bind is still waiting when neutron-server dies.
    node(host).emulator.addFault({ remaining: 6, match: '/v1/vfs/1', delayMs: 1500 });
    const creating = createPort(flat, host).then(
      (port) => ({ port }),
      (error: unknown) => ({ error }),
    );
    const portId = await waitFor(
      'a bind in flight on compute-2',
      async () =>
        [...(await readHostState(store!, host)).ports.keys()].find((id) => !known.has(id)),
      15_000,
    );
    await neutron!.kill();
    const outcome = await creating;
    assert.ok('error' in outcome, 'the create request was cut by the crash');
    node(host).emulator.clearFaults();
    await neutron!.start();
    await waitFor(
      'etcd consistent with Neutron after the crash',
      async () => {
        await assertConsistent();
        return true;
      },
      40_000,
      500,
    );
    // Neutron kept the port, unbound; the service's sync removed it from SPP and etcd.
    const port = await api.getPort(portId);
    if (port) {
      assert.notEqual(port['binding:vif_type'], 'vhostuser');
      await waitForCleaned(portId, port.mac_address, host, 'phys1');
      const bound = await api.updatePort(portId, { 'binding:host_id': host });
      await assertPlugged(bound, host, 'phys1');
      await assertConsistent();
    }
  });

  const countSyncs = () => serviceLogs.filter((line) => line.msg === 'sync').length;
});
