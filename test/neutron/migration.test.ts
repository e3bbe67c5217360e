/**
 * Live migration through Neutron's multiple port bindings, end to end on a real
 * neutron-server (ML2 with the repository's `spp` driver) + RabbitMQ + the binding service
 * + etcd + three compute hosts (SPP emulator and a real agent each), driven through
 * Neutron's REST API only, in the order Nova uses it: create the destination binding
 * (INACTIVE), activate it, delete the source binding; or, on failure, delete the
 * destination binding (abort) or activate the source again (rollback).
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
import { NeutronApi, NeutronApiError } from '../../src/neutron/api-client.js';
import type { RunningServer } from '../../src/server/index.js';
import { startServer } from '../../src/server/index.js';
import type { ServerOptions } from '../../src/server/options.js';
import { labServiceOptions } from './lab.js';
import { WIRE_MAC, frame } from '../agent/frames.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { computeHost } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'migration-token';
const VLAN_ID = 160;
const PHY = { phys1: 'phy:0', phys2: 'phy:1' } as const;
const CLIENT = { phys1: 1, phys2: 2 } as const;
const SYNC_INTERVAL_S = 2;
const SYNC_GRACE_S = 3;
// compute-1 and compute-2: 12 vhosts per physnet (phys1 0..11, phys2 12..23), 26 worker
// cores each; compute-3: one vhost per physnet, for the refusals.
const BIG = `00:04.0#phys1#12#0xffffffe,00:05.0#phys2#12#0x${((1n << 26n) - 1n).toString(16)}00000002`;
const SMALL = '00:04.0#phys1#1#0x3e,00:05.0#phys2#1#0x7c0';
type Physnet = keyof typeof PHY;

describe('live migration through multiple port bindings (real Neutron)', () => {
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
  const figures = { create: [] as number[], activate: [] as number[] };

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
    for (const [host, mappings] of [
      ['compute-1', BIG],
      ['compute-2', BIG],
      ['compute-3', SMALL],
    ] as const) {
      hosts.set(host, await computeHost({ store, etcd: etcd.endpoint, host, mappings }));
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
      name: 'mig-flat',
      networkType: 'flat',
      physicalNetwork: 'phys1',
    });
    vlan = await api.createNetwork({
      name: 'mig-vlan',
      networkType: 'vlan',
      physicalNetwork: 'phys2',
      segmentationId: VLAN_ID,
    });
    await waitFor(
      'three SPP agents alive in Neutron',
      async () =>
        (await api.listAgents()).filter((a) => a.agent_type === 'SPP neutron agent' && a.alive)
          .length === 3,
      30_000,
    );
  });

  after(async () => {
    const p50 = (values: number[]) =>
      values.length === 0 ? NaN : [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    console.log(
      `# figures: create-binding on B p50 ${p50(figures.create)?.toFixed(1)} ms (n=${figures.create.length}), activate p50 ${p50(figures.activate)?.toFixed(1)} ms (n=${figures.activate.length})`,
    );
    if (process.env.MIGRATION_TEST_NEUTRON_LOG && neutron) {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(neutron.logFile, 'utf8').catch(() => '');
      const lines = text.split('\n');
      const pattern = process.env.MIGRATION_TEST_NEUTRON_LOG;
      if (pattern !== '1') console.log(lines.filter((line) => line.includes(pattern)).join('\n'));
      const at = lines.findIndex((line) => line.includes('Traceback'));
      if (at >= 0) console.log(lines.slice(Math.max(0, at - 5), at + 60).join('\n'));
    }
    await neutron?.dispose();
    for (const each of hosts.values()) await each.stop();
    await service?.close();
    store?.close();
    await rabbit?.dispose();
    await etcd?.dispose();
  });

  // -- helpers ---------------------------------------------------------------

  const network = (physnet: Physnet) => (physnet === 'phys1' ? flat : vlan);
  const vlanOf = (physnet: Physnet) => (physnet === 'phys2' ? VLAN_ID : undefined);

  const createVmPort = (physnet: Physnet, host: string) =>
    api.createPort(network(physnet).id, {
      'binding:host_id': host,
      device_owner: 'compute:nova',
      device_id: `vm-${Math.random().toString(16).slice(2)}`,
    });

  const timed = async <T>(list: number[], work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    list.push(performance.now() - started);
    return result;
  };

  /** The vhost a frame to `mac` arriving on the NIC is delivered to, if any. */
  const vhostReached = (host: string, physnet: Physnet, mac: string) => {
    const egress = node(host).emulator.inject(PHY[physnet], frame(mac, WIRE_MAC, vlanOf(physnet)));
    const vhosts = egress.filter((e) => e.port.startsWith('vhost:'));
    assert.ok(vhosts.length <= 1, `frame delivered to ${egress.map((e) => e.port).join(', ')}`);
    return vhosts[0] ? Number(vhosts[0].port.slice('vhost:'.length)) : undefined;
  };

  const classifierEntries = async (host: string, physnet: Physnet, mac: string) =>
    ((await node(host).status(CLIENT[physnet])).classifier_table ?? []).filter((entry) =>
      entry.value.toLowerCase().endsWith(mac.toLowerCase()),
    );

  /** The port is programmed on `host` (SPP and etcd); returns its vhost. */
  const assertPluggedOn = async (port: NeutronPort, host: string, physnet: Physnet) => {
    const vhost = vhostReached(host, physnet, port.mac_address);
    assert.notEqual(
      vhost,
      undefined,
      `no vhost of ${host} receives frames for ${port.mac_address}`,
    );
    const entries = await classifierEntries(host, physnet, port.mac_address);
    assert.equal(entries.length, 1, `classifier entries of ${port.mac_address} on ${host}`);
    assert.equal(entries[0]?.port, `ring:${2 * (vhost as number)}`);
    const state = await readHostState(store!, host);
    assert.equal(slotOf(state, port.id)?.vhostId, vhost);
    assert.equal(isUp(state.ports.get(port.id)?.status), true);
    return vhost as number;
  };

  const cleanedOn = async (portId: string, mac: string, host: string, physnet: Physnet) => {
    const state = await readHostState(store!, host);
    if (state.ports.has(portId) || slotOf(state, portId)) return false;
    return (await classifierEntries(host, physnet, mac)).length === 0;
  };

  const waitCleaned = (port: NeutronPort, host: string, physnet: Physnet, timeoutMs = 20_000) =>
    waitFor(
      `port ${port.id} cleaned on ${host}`,
      () => cleanedOn(port.id, port.mac_address, host, physnet),
      timeoutMs,
    );

  const bindingsOf = async (portId: string) =>
    Object.fromEntries((await api.listBindings(portId)).map((b) => [b.host, b]));

  /** Every slot in use on every host belongs to a binding Neutron has there, and vice versa. */
  const assertNoLeak = async () => {
    const ports = await api.listPorts();
    for (const host of hosts.keys()) {
      const state = await readHostState(store!, host);
      const used = [...usedSlots(state).keys()].sort();
      const expected: string[] = [];
      for (const port of ports) {
        for (const binding of await api.listBindings(port.id).catch(() => [])) {
          if (binding.host === host && binding.vif_type === 'vhostuser') expected.push(port.id);
        }
      }
      assert.deepEqual(used, expected.sort(), `slots on ${host} vs Neutron's bindings`);
      assert.deepEqual([...state.ports.keys()].sort(), used, `keys on ${host}`);
    }
  };

  /** Creates B's binding and checks B programmed, A unchanged (frames still reach A). */
  const prepare = async (port: NeutronPort, from: string, to: string, physnet: Physnet) => {
    const vhostA = await assertPluggedOn(port, from, physnet);
    const mark = serviceLogs.length;
    const binding = await timed(figures.create, () => api.createBinding(port.id, to));
    // The driver told the service it binds an additional binding, not a host change.
    const bindLine = serviceLogs
      .slice(mark)
      .find((l) => l.msg === 'bind' && l.port_id === port.id && l.host === to);
    assert.equal(bindLine?.binding, 'inactive');
    assert.equal(bindLine?.active_host, from);
    assert.equal(binding.status, 'INACTIVE');
    assert.equal(binding.vif_type, 'vhostuser');
    const vhostB = await assertPluggedOn(port, to, physnet);
    assert.equal(binding.vif_details?.vhostuser_socket, `/tmp/sock${vhostB}`);
    assert.equal(await assertPluggedOn(port, from, physnet), vhostA, 'A unchanged');
    const now = await api.getPort(port.id);
    assert.equal(now?.status, 'ACTIVE');
    assert.equal(now?.['binding:host_id'], from);
    assert.equal(now?.['binding:vif_details']?.vhostuser_socket, `/tmp/sock${vhostA}`);
    return { vhostA, vhostB };
  };

  /** Activates B and checks A cleaned, B still plugged, the port ACTIVE on B. */
  const activate = async (port: NeutronPort, from: string, to: string, physnet: Physnet) => {
    const mark = serviceLogs.length;
    const active = await timed(figures.activate, () => api.activateBinding(port.id, to));
    assert.equal(active.status, 'ACTIVE');
    // The driver's activation call did it (not a later sync).
    const line = serviceLogs.slice(mark).find((l) => l.msg === 'activate' && l.port_id === port.id);
    assert.deepEqual(
      [line?.host, line?.previous_host, line?.result, line?.previous_result],
      [to, from, 'bound', 'unplug_requested'],
    );
    await waitCleaned(port, from, physnet);
    await assertPluggedOn(port, to, physnet);
    const now = await waitFor(
      `port ${port.id} ACTIVE on ${to}`,
      async () => {
        const p = await api.getPort(port.id);
        return p?.status === 'ACTIVE' ? p : undefined;
      },
      10_000,
    );
    assert.equal(now['binding:host_id'], to);
    assert.equal(now['binding:vif_type'], 'vhostuser');
  };

  // -- tests -----------------------------------------------------------------

  for (const physnet of (process.env.MIGRATION_TEST_ONLY_FLAT
    ? ['phys1']
    : ['phys1', 'phys2']) as Physnet[]) {
    test(`${physnet === 'phys1' ? 'flat' : 'VLAN'}: create binding on B, activate, delete A's binding`, async () => {
      const port = await createVmPort(physnet, 'compute-1');
      assert.equal(port.status, 'ACTIVE');
      const { vhostA, vhostB } = await prepare(port, 'compute-1', 'compute-2', physnet);
      // Nova may mark the source port "migrating_to": ML2 re-binds A on the same host,
      // which keeps A's slot; B is not touched.
      const marked = await api.updatePort(port.id, {
        'binding:profile': { migrating_to: 'compute-2' },
      });
      assert.equal(marked.status, 'ACTIVE');
      assert.equal(marked['binding:vif_details']?.vhostuser_socket, `/tmp/sock${vhostA}`);
      assert.equal(await assertPluggedOn(port, 'compute-1', physnet), vhostA);
      assert.equal(await assertPluggedOn(port, 'compute-2', physnet), vhostB);
      // A full sync meanwhile keeps both (Neutron lists both bindings).
      const syncs = countSyncs();
      await waitFor('two syncs', () => countSyncs() >= syncs + 2, 20_000);
      await assertPluggedOn(port, 'compute-1', physnet);
      await assertPluggedOn(port, 'compute-2', physnet);

      await activate(port, 'compute-1', 'compute-2', physnet);
      const bindings = await bindingsOf(port.id);
      assert.equal(bindings['compute-1']?.status, 'INACTIVE');
      assert.equal(bindings['compute-2']?.status, 'ACTIVE');
      await api.deleteBinding(port.id, 'compute-1');
      // Syncs after the delete leave B alone and do not bring A back.
      const later = countSyncs();
      await waitFor('two syncs', () => countSyncs() >= later + 2, 20_000);
      await assertPluggedOn(port, 'compute-2', physnet);
      assert.equal(await cleanedOn(port.id, port.mac_address, 'compute-1', physnet), true);
      assert.equal((await api.getPort(port.id))?.status, 'ACTIVE');
      await assertNoLeak();
      await api.deletePort(port.id);
      await waitCleaned(port, 'compute-2', physnet);
    });
  }

  test('abort: deleting the inactive binding on B frees B by the sync, A untouched', async () => {
    const port = await createVmPort('phys2', 'compute-1');
    const { vhostA } = await prepare(port, 'compute-1', 'compute-2', 'phys2');
    const deleted = performance.now();
    await api.deleteBinding(port.id, 'compute-2');
    await waitCleaned(port, 'compute-2', 'phys2', 30_000);
    const freedAfterS = (performance.now() - deleted) / 1000;
    console.log(
      `# abort: B's slot freed ${freedAfterS.toFixed(1)} s after DELETE (grace ${SYNC_GRACE_S} s, sync every ${SYNC_INTERVAL_S} s)`,
    );
    // Bound: the sync skips keys younger than sync_grace, and runs every sync_interval ±10 %.
    assert.ok(freedAfterS <= SYNC_GRACE_S + 1.1 * SYNC_INTERVAL_S + 5, `${freedAfterS} s`);
    assert.equal(await assertPluggedOn(port, 'compute-1', 'phys2'), vhostA);
    assert.equal((await api.getPort(port.id))?.status, 'ACTIVE');
    await assertNoLeak();
    await api.deletePort(port.id);
    await waitCleaned(port, 'compute-1', 'phys2');
  });

  test("rollback after activation: activating A again unplugs B; A's re-bind plugs A", async () => {
    const port = await createVmPort('phys1', 'compute-1');
    await prepare(port, 'compute-1', 'compute-2', 'phys1');
    await activate(port, 'compute-1', 'compute-2', 'phys1');
    // Nova's rollback: activate the source binding again, delete the destination one.
    const mark = serviceLogs.length;
    await api.activateBinding(port.id, 'compute-1');
    // The driver unbinds B at once (its binding is no longer active).
    assert.ok(
      serviceLogs
        .slice(mark)
        .some(
          (l) =>
            l.msg === 'unbind' &&
            l.port_id === port.id &&
            l.host === 'compute-2' &&
            l.result === 'unplug_requested',
        ),
      'unbind of compute-2 from the activation',
    );
    assert.equal((await api.getPort(port.id))?.status, 'DOWN');
    await waitCleaned(port, 'compute-2', 'phys1');
    await api.deleteBinding(port.id, 'compute-2');
    // ML2 leaves the re-activated binding unbound; the next port update binds it again.
    const rebound = await api.updatePort(port.id, { 'binding:host_id': 'compute-1' });
    assert.equal(rebound['binding:vif_type'], 'vhostuser');
    assert.equal(rebound.status, 'ACTIVE');
    const vhost = await assertPluggedOn(port, 'compute-1', 'phys1');
    assert.equal(rebound['binding:vif_details']?.vhostuser_socket, `/tmp/sock${vhost}`);
    await assertNoLeak();
    await api.deletePort(port.id);
    await waitCleaned(port, 'compute-1', 'phys1');
  });

  test('refusals on B (no SPP, no free slot, agent down) fail only the new binding', async () => {
    const port = await createVmPort('phys1', 'compute-1');
    const vhostA = await assertPluggedOn(port, 'compute-1', 'phys1');
    const refused = async (host: string) => {
      await assert.rejects(api.createBinding(port.id, host), (error: unknown) => {
        assert.ok(error instanceof NeutronApiError, String(error));
        return true;
      });
      assert.deepEqual(Object.keys(await bindingsOf(port.id)), ['compute-1']);
      assert.equal((await readHostState(store!, host)).ports.has(port.id), false);
      assert.equal(await assertPluggedOn(port, 'compute-1', 'phys1'), vhostA);
      const now = await api.getPort(port.id);
      assert.equal(now?.status, 'ACTIVE');
      assert.equal(now?.['binding:host_id'], 'compute-1');
    };
    await refused('compute-without-spp');
    // compute-3 has one phys1 slot: take it.
    const occupant = await createVmPort('phys1', 'compute-3');
    assert.equal(occupant['binding:vif_type'], 'vhostuser');
    await refused('compute-3');
    await api.deletePort(occupant.id);
    await waitCleaned(occupant, 'compute-3', 'phys1');
    // Agent down on compute-3.
    await node('compute-3').agent?.stop();
    node('compute-3').agent = undefined;
    await waitFor(
      'compute-3 agent gone from etcd',
      async () => !(await readHostState(store!, 'compute-3')).agent,
      30_000,
    );
    await refused('compute-3');
    await node('compute-3').startAgent(agentIni());
    await waitFor(
      'compute-3 agent alive in Neutron',
      async () =>
        (await api.listAgents()).some(
          (a) => a.host === 'compute-3' && a.agent_type === 'SPP neutron agent' && a.alive,
        ) && Boolean((await readHostState(store!, 'compute-3')).agent),
      30_000,
    );
    // Now it binds there.
    await prepare(port, 'compute-1', 'compute-3', 'phys1');
    await api.deleteBinding(port.id, 'compute-3');
    await waitCleaned(port, 'compute-3', 'phys1', 30_000);
    await assertNoLeak();
    await api.deletePort(port.id);
    await waitCleaned(port, 'compute-1', 'phys1');
  });

  test('service and agent restarted mid-migration: activation still completes', async () => {
    const port = await createVmPort('phys2', 'compute-2');
    await prepare(port, 'compute-2', 'compute-1', 'phys2');
    await service!.close();
    service = undefined;
    await startService();
    await node('compute-1').agent?.stop();
    await node('compute-1').startAgent(agentIni());
    await waitFor(
      'compute-1 agent back in etcd',
      async () => Boolean((await readHostState(store!, 'compute-1')).agent),
      30_000,
    );
    await assertPluggedOn(port, 'compute-1', 'phys2');
    await activate(port, 'compute-2', 'compute-1', 'phys2');
    await api.deleteBinding(port.id, 'compute-2');
    await assertNoLeak();
    await api.deletePort(port.id);
    await waitCleaned(port, 'compute-1', 'phys2');
  });

  test('service down during the activation: the port stays DOWN, then the sync repairs both hosts', async () => {
    const port = await createVmPort('phys1', 'compute-1');
    await prepare(port, 'compute-1', 'compute-2', 'phys1');
    await service!.close();
    service = undefined;
    await api.activateBinding(port.id, 'compute-2');
    // Nothing confirmed B: Neutron's port is DOWN, A is still plugged.
    assert.equal((await api.getPort(port.id))?.status, 'DOWN');
    await assertPluggedOn(port, 'compute-1', 'phys1');
    await startService();
    await waitCleaned(port, 'compute-1', 'phys1', 30_000);
    await waitFor(
      `port ${port.id} ACTIVE again`,
      async () => (await api.getPort(port.id))?.status === 'ACTIVE',
      30_000,
    );
    await assertPluggedOn(port, 'compute-2', 'phys1');
    await api.deleteBinding(port.id, 'compute-1');
    await assertNoLeak();
    await api.deletePort(port.id);
    await waitCleaned(port, 'compute-2', 'phys1');
  });

  test('20 ports (10 flat, 10 VLAN) migrated at once: no slot leaked, none double-allocated', async () => {
    const physnets: Physnet[] = [...Array(10).fill('phys1'), ...Array(10).fill('phys2')];
    const ports = await Promise.all(physnets.map((p) => createVmPort(p, 'compute-1')));
    for (const port of ports) assert.equal(port.status, 'ACTIVE', port.id);
    await Promise.all(
      ports.map((port) => timed(figures.create, () => api.createBinding(port.id, 'compute-2'))),
    );
    const onB = await readHostState(store!, 'compute-2');
    const slots = ports.map((port) => slotOf(onB, port.id)?.key);
    assert.equal(new Set(slots).size, 20, 'twenty distinct slots on B');
    for (const [i, port] of ports.entries()) {
      await assertPluggedOn(port, 'compute-2', physnets[i]!);
      await assertPluggedOn(port, 'compute-1', physnets[i]!);
    }
    await Promise.all(
      ports.map((port) => timed(figures.activate, () => api.activateBinding(port.id, 'compute-2'))),
    );
    await Promise.all(ports.map((port, i) => waitCleaned(port, 'compute-1', physnets[i]!, 30_000)));
    await waitFor(
      'all 20 ports ACTIVE on compute-2',
      async () => {
        const list = await api.listPorts();
        return ports.every((port) => {
          const p = list.find((each) => each.id === port.id);
          return p?.status === 'ACTIVE' && p['binding:host_id'] === 'compute-2';
        });
      },
      20_000,
    );
    for (const [i, port] of ports.entries()) await assertPluggedOn(port, 'compute-2', physnets[i]!);
    await Promise.all(ports.map((port) => api.deleteBinding(port.id, 'compute-1')));
    const syncs = countSyncs();
    await waitFor('two syncs', () => countSyncs() >= syncs + 2, 20_000);
    await assertNoLeak();
    const a = await readHostState(store!, 'compute-1');
    assert.equal(usedSlots(a).size, 0, 'compute-1 all free');
    await Promise.all(ports.map((port) => api.deletePort(port.id)));
    await Promise.all(ports.map((port, i) => waitCleaned(port, 'compute-2', physnets[i]!, 30_000)));
  });

  const countSyncs = () => serviceLogs.filter((line) => line.msg === 'sync').length;
});
