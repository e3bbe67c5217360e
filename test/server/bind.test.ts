import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import { expectedBindPort } from './fake-agent.js';
import type { TestServer } from './harness.js';
import { bindBody, flatSegment, newPort, startTestServer, vlanSegment } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let server: TestServer;
const hosts: ComputeHost[] = [];

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(etcd);
});
after(async () => {
  await server?.close();
  for (const host of hosts) await host.stop();
  store?.close();
  await etcd?.dispose();
});

async function computeHost(host: string, mappings: string, noAgent = false) {
  const started = await startComputeHost({ store, host, mappings, noAgent });
  hosts.push(started);
  return started;
}

async function value(key: string): Promise<string | undefined> {
  return (await store.get(key))?.value;
}

interface BoundAnswer {
  bound: boolean;
  reason?: string;
  detail?: string;
  segment_id?: string;
  vif_type?: string;
  vif_details?: Record<string, unknown>;
  vhost_id?: number;
}

async function bind(body: unknown): Promise<BoundAnswer> {
  const answer = await server.post('/v1/ml2/bind', body);
  assert.equal(answer.status, 200, answer.text);
  return answer.body as BoundAnswer;
}

describe('POST /v1/ml2/bind against etcd and a compute agent', () => {
  it('binds a port on a flat segment and writes the original key layout', async () => {
    await computeHost('flat-1', '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02');
    const port = newPort();
    const answer = await bind(
      bindBody(port, 'flat-1', [
        { id: 'seg-vx', network_type: 'vxlan', physical_network: null, segmentation_id: 77 },
        flatSegment('phys2', 'seg-2'),
      ]),
    );
    assert.deepEqual(answer, {
      bound: true,
      segment_id: 'seg-2',
      vif_type: 'vhostuser',
      vif_details: {
        port_filter: false,
        vhostuser_mode: 'server',
        vhostuser_socket: '/tmp/sock2',
      },
      vhost_id: 2,
    });
    assert.equal(await value(keys.vhost('flat-1', 'phys2', 2)), port.id);
    assert.equal(await value(keys.bindPort('flat-1', port.id)), expectedBindPort(port.mac, 2));
    assert.equal(
      await value(keys.bindPort('flat-1', port.id)),
      `{"mac_address": "${port.mac}", "vhost_id": 2}`,
    );
    assert.equal(await value(keys.action('flat-1', port.id)), 'plug');
    assert.equal(await value(keys.portStatus('flat-1', port.id)), 'up');
    const line = server.logs.find((entry) => entry.msg === 'bind' && entry.port_id === port.id);
    assert.ok(line, 'one log line per bind');
    assert.equal(line.result, 'bound');
    assert.equal(line.vhost_id, 2);
    assert.equal(line.host, 'flat-1');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok((line.etcd_requests as number) <= 2, 'at most a read and a transaction');
    // The host is in the watch's mirror by now: a bind is then one etcd request.
    const second = newPort();
    assert.equal((await bind(bindBody(second, 'flat-1', [flatSegment('phys2')]))).vhost_id, 3);
    const secondLine = server.logs.find(
      (entry) => entry.msg === 'bind' && entry.port_id === second.id,
    );
    assert.equal(secondLine?.etcd_requests, 1, 'one transaction, no read');
  });

  it('binds a vlan segment with vlan_id in bind_port', async () => {
    await computeHost('vlan-1', '00:04.0#phys1#2#0xfe');
    const port = newPort();
    const answer = await bind(bindBody(port, 'vlan-1', [vlanSegment(1234)]));
    assert.equal(answer.bound, true, answer.detail);
    assert.equal(answer.segment_id, 'seg-vlan');
    assert.equal(answer.vhost_id, 0);
    assert.equal(
      await value(keys.bindPort('vlan-1', port.id)),
      `{"mac_address": "${port.mac}", "vhost_id": 0, "vlan_id": 1234}`,
    );
  });

  it('answers a retried bind at once with the same vhost, without writing', async () => {
    await computeHost('retry-1', '00:04.0#phys1#3#0x3fe');
    const port = newPort();
    const first = await bind(bindBody(port, 'retry-1'));
    assert.equal(first.bound, true);
    const before = await store.get(keys.bindPort('retry-1', port.id));
    const second = await bind(bindBody(port, 'retry-1'));
    assert.deepEqual(second, first);
    const afterward = await store.get(keys.bindPort('retry-1', port.id));
    assert.equal(afterward?.modRevision, before?.modRevision, 'nothing rewritten');
    const line = server.logs.filter((entry) => entry.msg === 'bind' && entry.port_id === port.id);
    assert.equal(line.at(-1)?.etcd_requests, 1, 'an already bound port costs one read');
    // The MAC is compared without regard to case (Neutron may send either).
    const upper = await bind(bindBody({ id: port.id, mac: port.mac.toUpperCase() }, 'retry-1'));
    assert.equal(upper.vhost_id, first.vhost_id);
  });

  it('shares one answer between identical concurrent binds', async () => {
    await computeHost('same-1', '00:04.0#phys1#3#0x3fe');
    const port = newPort();
    const answers = await Promise.all([1, 2, 3, 4].map(() => bind(bindBody(port, 'same-1'))));
    for (const answer of answers) assert.equal(answer.bound, true);
    assert.equal(new Set(answers.map((answer) => answer.vhost_id)).size, 1);
    const held = (await store.getPrefix(keys.hostPrefix('vhost', 'same-1'))).kvs.filter(
      (kv) => kv.value === port.id,
    );
    assert.equal(held.length, 1);
  });

  it('does not bind segments SPP does not serve on the host', async () => {
    await computeHost('seg-1', '00:04.0#phys1#2#0xfe');
    const port = newPort();
    const cases: unknown[][] = [
      [{ id: 's1', network_type: 'vxlan', physical_network: null, segmentation_id: 5 }],
      [flatSegment('physX')],
      [{ id: 's3', network_type: 'vlan', physical_network: 'phys1', segmentation_id: null }],
      [{ id: 's4', network_type: 'gre', physical_network: 'phys1', segmentation_id: 9 }],
      [],
    ];
    for (const segments of cases) {
      const answer = await bind(bindBody(port, 'seg-1', segments));
      assert.equal(answer.bound, false);
      assert.equal(answer.reason, 'no_segment', JSON.stringify(segments));
      assert.match(answer.detail ?? '', /phys1/);
    }
    assert.equal(await value(keys.bindPort('seg-1', port.id)), undefined);
    assert.equal(await value(keys.vhost('seg-1', 'phys1', 0)), 'None');
  });

  it('refuses hosts without SPP', async () => {
    const answer = await bind(bindBody(newPort(), 'no-such-host'));
    assert.deepEqual(
      { bound: answer.bound, reason: answer.reason },
      { bound: false, reason: 'not_spp_host' },
    );
  });

  it('refuses when the agent is down, by etcd lease key or by Neutron', async () => {
    const down = await computeHost('down-1', '00:04.0#phys1#2#0xfe', true);
    const port = newPort();
    const answer = await bind(bindBody(port, 'down-1'));
    assert.equal(answer.reason, 'agent_down');
    assert.match(answer.detail ?? '', /agent\/down-1/);
    assert.equal(await value(keys.vhost('down-1', 'phys1', 0)), 'None', 'nothing allocated');
    await down.startAgent();
    const neutronSaysDown = await bind(
      bindBody(port, 'down-1', [flatSegment()], { agents: [{ alive: false, host: 'down-1' }] }),
    );
    assert.equal(neutronSaysDown.reason, 'agent_down');
    assert.match(neutronSaysDown.detail ?? '', /Neutron/);
    const noAgents = await bind(bindBody(port, 'down-1', [flatSegment()], { agents: [] }));
    assert.equal(noAgents.reason, 'agent_down');
    const ok = await bind(
      bindBody(port, 'down-1', [flatSegment()], { agents: [{ alive: true, id: 'x' }] }),
    );
    assert.equal(ok.bound, true, ok.detail);
    // The agent stops: its lease is revoked and the key goes at once.
    await down.agent?.stop();
    const after = await bind(bindBody(newPort(), 'down-1'));
    assert.equal(after.reason, 'agent_down');
  });

  it('runs out of slots, then reuses a slot freed by an unbind', async () => {
    await computeHost('full-1', '00:04.0#phys1#2#0xfe');
    const a = newPort();
    const b = newPort();
    const c = newPort();
    assert.equal((await bind(bindBody(a, 'full-1'))).vhost_id, 0);
    assert.equal((await bind(bindBody(b, 'full-1'))).vhost_id, 1);
    const refused = await bind(bindBody(c, 'full-1'));
    assert.equal(refused.reason, 'no_free_vhost');
    assert.match(refused.detail ?? '', /all 2 vhost slot\(s\) of physical network phys1/);
    const unbind = await server.post('/v1/ml2/unbind', { port_id: a.id, host: 'full-1' });
    assert.equal(unbind.status, 200);
    assert.equal((unbind.body as { result: string }).result, 'unplug_requested');
    await waitFor('the agent to free slot 0 and remove the keys', async () =>
      (await value(keys.vhost('full-1', 'phys1', 0))) === 'None' &&
      (await value(keys.portStatus('full-1', a.id))) === undefined
        ? true
        : undefined,
    );
    assert.equal(await value(keys.bindPort('full-1', a.id)), undefined);
    assert.equal(await value(keys.action('full-1', a.id)), undefined);
    assert.equal(await value(keys.portStatus('full-1', a.id)), undefined);
    const reused = await bind(bindBody(c, 'full-1'));
    assert.equal(reused.bound, true);
    assert.equal(reused.vhost_id, 0);
  });

  it('replaces a leftover unplug request that no agent will process', async () => {
    await computeHost('orphan-1', '00:04.0#phys1#2#0xfe');
    const port = newPort();
    // An unplug request without bind_port (e.g. an agent died between its deletes): the
    // agent has seen it and can do nothing with it.
    await store.put(keys.action('orphan-1', port.id), 'unplug');
    const started = Date.now();
    const answer = await bind(bindBody(port, 'orphan-1'));
    assert.equal(answer.bound, true, answer.detail);
    assert.ok(Date.now() - started >= 1900, 'it first waited for someone to finish the unplug');
    assert.equal(await value(keys.action('orphan-1', port.id)), 'plug');
  });

  it('rebinds a port whose MAC or VLAN changed: unplug first, then plug again', async () => {
    await computeHost('change-1', '00:04.0#phys1#2#0xfe');
    const port = newPort();
    assert.equal((await bind(bindBody(port, 'change-1', [vlanSegment(10)]))).bound, true);
    const answer = await bind(bindBody(port, 'change-1', [vlanSegment(20)]));
    assert.equal(answer.bound, true, answer.detail);
    const written = JSON.parse((await value(keys.bindPort('change-1', port.id))) ?? '{}');
    assert.equal(written.vlan_id, 20);
    const held = (await store.getPrefix(keys.hostPrefix('vhost', 'change-1'))).kvs.filter(
      (kv) => kv.value === port.id,
    );
    assert.equal(held.length, 1, 'still exactly one slot');
  });
});
