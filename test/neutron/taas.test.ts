/**
 * Tap-as-a-service end to end on a real Neutron: neutron-server with `service_plugins =
 * taas` and the repository's SPP TaaS driver, the binding service, etcd, RabbitMQ and two
 * compute hosts (SPP emulators with spp_mirror, real agents). Driven through Neutron's
 * TaaS API only. Prints the tap flow create → ACTIVE latency (a figure, not a check).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { NeutronServer } from '../../src/lab/neutron-server.js';
import { RabbitMqServer } from '../../src/lab/rabbitmq.js';
import type {
  NeutronNetwork,
  NeutronPort,
  NeutronTapService,
} from '../../src/neutron/api-client.js';
import { NeutronApi, NeutronApiError } from '../../src/neutron/api-client.js';
import type { RunningServer } from '../../src/server/index.js';
import { startServer } from '../../src/server/index.js';
import type { ServerOptions } from '../../src/server/options.js';
import { labServiceOptions } from './lab.js';
import { WIRE_MAC, frame } from '../agent/frames.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { computeHost } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'taas-token';
const SYNC_INTERVAL_S = 2;
const SYNC_GRACE_S = 3;

describe('tap-as-a-service on a real Neutron (neutron_taas + SPP TaaS driver)', () => {
  let etcd: EtcdServer | undefined;
  let store: EtcdStore;
  let rabbit: RabbitMqServer | undefined;
  let service: RunningServer | undefined;
  let serviceOptions: ServerOptions;
  let neutron: NeutronServer | undefined;
  let api: NeutronApi;
  const hosts = new Map<string, ComputeHostFixture>();
  let flat: NeutronNetwork;
  let servicePort: NeutronPort;
  let sourcePort: NeutronPort;
  let remotePort: NeutronPort;
  let tapService: NeutronTapService;
  let agentIni: Record<string, Record<string, string>> = {};

  const node = (host: string) => hosts.get(host) as ComputeHostFixture;
  const startService = async () => {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    service = await startServer(serviceOptions, {
      logger: pino({ level: 'info' }, sink),
      defaultMetrics: false,
    });
  };
  const vhostOf = (port: NeutronPort) => {
    const socket = String(
      (port['binding:vif_details'] as { vhostuser_socket?: string } | undefined)
        ?.vhostuser_socket ?? '',
    );
    return Number(socket.replace(/^.*sock/, ''));
  };
  const towardsVm = (host: string, port: NeutronPort) =>
    node(host)
      .emulator.inject('phy:0', frame(port.mac_address, WIRE_MAC))
      .map((out) => out.port)
      .sort();
  const fromVm = (host: string, port: NeutronPort) =>
    node(host)
      .emulator.inject(`vhost:${vhostOf(port)}`, frame(WIRE_MAC, port.mac_address))
      .map((out) => out.port)
      .sort();
  const mirrorSlots = async (host: string) =>
    (await store.getPrefix(keys.hostPrefix('mirror', host))).kvs.map((kv) => kv.value);
  const tapKeysOf = async (host: string) =>
    (
      await Promise.all(
        (['tap_info', 'tap_action', 'tap_status'] as const).map(
          async (kind) => (await store.getPrefix(keys.hostPrefix(kind, host))).kvs,
        ),
      )
    ).flat();
  const waitClean = (host: string, mirrors: number) =>
    waitFor(
      `no tap keys and ${mirrors} free mirrors on ${host}`,
      async () => {
        const slots = await mirrorSlots(host);
        return (await tapKeysOf(host)).length === 0 &&
          slots.length === mirrors &&
          slots.every((value) => value === FREE)
          ? true
          : undefined;
      },
      20_000,
    );

  before(async () => {
    [etcd, rabbit] = await Promise.all([EtcdServer.launch(), RabbitMqServer.launch()]);
    store = etcd.connectStore();
    serviceOptions = await labServiceOptions(etcd.endpoint, TOKEN, SYNC_GRACE_S, {
      tapTimeoutMs: 5_000,
    });
    await startService();
    // compute-1: four vhosts on phys1 (phy:0), one on phys2, two mirrors.
    hosts.set(
      'compute-1',
      await computeHost({
        store,
        etcd: etcd.endpoint,
        host: 'compute-1',
        mappings: '00:04.0#phys1#4#0x7ff,00:05.0#phys2#1#0xf800',
        mirror: '2#0x70000',
      }),
    );
    hosts.set(
      'compute-2',
      await computeHost({ store, etcd: etcd.endpoint, host: 'compute-2', mirror: '1#0x30000' }),
    );
    agentIni = {
      DEFAULT: { transport_url: rabbit.transportUrl },
      AGENT: { report_interval: '1' },
    };
    const [server] = await Promise.all([
      NeutronServer.launch({
        transportUrl: rabbit.transportUrl,
        taas: true,
        spp: {
          service_url: service!.url,
          auth_token: TOKEN,
          request_timeout: '20',
          sync_interval: String(SYNC_INTERVAL_S),
        },
      }),
      ...[...hosts.values()].map((each) => each.startAgent(agentIni)),
    ]);
    neutron = server;
    api = new NeutronApi(neutron.url);
    // Ports bind once Neutron lists both agents alive (the driver sends Neutron's view).
    await waitFor(
      'both SPP agents alive in Neutron',
      async () =>
        (await api.listAgents()).filter((a) => a.agent_type === 'SPP neutron agent' && a.alive)
          .length === 2
          ? true
          : undefined,
      30_000,
    );
    flat = await api.createNetwork({
      name: 'spp-flat',
      networkType: 'flat',
      physicalNetwork: 'phys1',
    });
    servicePort = await api.createPort(flat.id, { 'binding:host_id': 'compute-1' });
    sourcePort = await api.createPort(flat.id, { 'binding:host_id': 'compute-1' });
    remotePort = await api.createPort(flat.id, { 'binding:host_id': 'compute-2' });
    for (const port of [servicePort, sourcePort, remotePort]) assert.equal(port.status, 'ACTIVE');
  });

  after(async () => {
    await neutron?.dispose();
    for (const each of hosts.values()) await each.stop();
    await service?.close();
    store?.close();
    await rabbit?.dispose();
    await etcd?.dispose();
  });

  test('tap service ACTIVE; IN, OUT and BOTH flows ACTIVE with copies at the service VM; deletes clean etcd', async () => {
    tapService = await api.createTapService(servicePort.id);
    assert.equal(tapService.status, 'ACTIVE');
    const durations: number[] = [];
    const s = `vhost:${vhostOf(servicePort)}`;
    const v = `vhost:${vhostOf(sourcePort)}`;
    for (const direction of [
      'IN',
      'OUT',
      'BOTH',
      'IN',
      'OUT',
      'BOTH',
      'IN',
      'OUT',
      'BOTH',
    ] as const) {
      const started = performance.now();
      const flow = await api.createTapFlow(tapService.id, sourcePort.id, direction);
      durations.push(performance.now() - started);
      assert.equal(flow.status, 'ACTIVE', `${direction} flow`);
      assert.equal((await api.getTapFlow(flow.id))?.status, 'ACTIVE');
      const copiedIn = direction !== 'OUT';
      const copiedOut = direction !== 'IN';
      assert.deepEqual(towardsVm('compute-1', sourcePort), copiedIn ? [s, v].sort() : [v]);
      assert.deepEqual(
        fromVm('compute-1', sourcePort),
        copiedOut ? ['phy:0', s].sort() : ['phy:0'],
      );
      await api.deleteTapFlow(flow.id);
      assert.equal(await api.getTapFlow(flow.id), undefined);
      await waitClean('compute-1', 2);
      assert.deepEqual(towardsVm('compute-1', sourcePort), [v]);
    }
    const sorted = [...durations].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
    console.log(
      `# figure: tap flow create -> ACTIVE through Neutron, p50 ${p50.toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms over ${sorted.length} (node --test dist/test/neutron/taas.test.js)`,
    );
  });

  test('a source port on another host is refused with a clear error; no flow, no etcd keys', async () => {
    await assert.rejects(
      () => api.createTapFlow(tapService.id, remotePort.id, 'IN'),
      (error: unknown) =>
        error instanceof NeutronApiError &&
        error.status === 400 &&
        /cross_host/.test(error.message),
    );
    assert.deepEqual(await tapKeysOf('compute-2'), []);
    assert.deepEqual(await mirrorSlots('compute-2'), [FREE]);
  });

  test('more flows than mirrors: the last one is ERROR, with the reason in the log', async () => {
    const both = await api.createTapFlow(tapService.id, sourcePort.id, 'BOTH');
    assert.equal(both.status, 'ACTIVE');
    const other = await api.createPort(flat.id, { 'binding:host_id': 'compute-1' });
    assert.equal(other.status, 'ACTIVE');
    const extra = await api.createTapFlow(tapService.id, other.id, 'IN');
    assert.equal(extra.status, 'ERROR');
    const log = await readFile(neutron!.logFile, 'utf8');
    assert.match(log, new RegExp(`tap flow ${extra.id} ERROR: no_free_mirror`));
    await api.deleteTapFlow(extra.id);
    await api.deleteTapFlow(both.id);
    await api.deletePort(other.id);
    await waitClean('compute-1', 2);
  });

  test('deleting the source port of an active flow tears the tap down and frees its mirror', async () => {
    const victim = await api.createPort(flat.id, { 'binding:host_id': 'compute-1' });
    assert.equal(victim.status, 'ACTIVE');
    const flow = await api.createTapFlow(tapService.id, victim.id, 'BOTH');
    assert.equal(flow.status, 'ACTIVE');
    await api.deletePort(victim.id);
    assert.equal(await api.getTapFlow(flow.id), undefined);
    await waitClean('compute-1', 2);
    const mirror = await node('compute-1').status(3, 'mirrors');
    assert.ok(
      mirror.components.every((c) => (c.rx_port ?? []).length + (c.tx_port ?? []).length === 0),
    );
  });

  test('agent and service restarted under an active flow: still copied, still ACTIVE, deleted clean', async () => {
    const flow = await api.createTapFlow(tapService.id, sourcePort.id, 'IN');
    assert.equal(flow.status, 'ACTIVE');
    const s = `vhost:${vhostOf(servicePort)}`;
    const v = `vhost:${vhostOf(sourcePort)}`;
    assert.deepEqual(towardsVm('compute-1', sourcePort), [s, v].sort());
    await node('compute-1').agent?.stop();
    node('compute-1').agent = undefined;
    await node('compute-1').startAgent(agentIni);
    await service!.close();
    await startService();
    assert.deepEqual(towardsVm('compute-1', sourcePort), [s, v].sort(), 'still copied');
    assert.equal((await api.getTapFlow(flow.id))?.status, 'ACTIVE');
    assert.equal((await store.get(keys.tapStatus('compute-1', flow.id)))?.value, 'up');
    await api.deleteTapFlow(flow.id);
    await waitClean('compute-1', 2);
    assert.deepEqual(towardsVm('compute-1', sourcePort), [v]);
  });

  test('the service down during a delete: the full sync removes the tap later', async () => {
    const flow = await api.createTapFlow(tapService.id, sourcePort.id, 'IN');
    assert.equal(flow.status, 'ACTIVE');
    await service!.close();
    await api.deleteTapFlow(flow.id);
    assert.equal(await api.getTapFlow(flow.id), undefined);
    assert.equal((await store.get(keys.tapAction('compute-1', flow.id)))?.value, 'plug');
    await startService();
    await waitClean('compute-1', 2);
    assert.deepEqual(towardsVm('compute-1', sourcePort), [`vhost:${vhostOf(sourcePort)}`]);
  });
});
