import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { requestTapPlug } from '../../src/lab/tap-requests.js';
import { WIRE_MAC, frame } from '../agent/frames.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { computeHost } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';
import type { TestServer } from './harness.js';
import { bindBody, newPort, startTestServer } from './harness.js';

// Each host: phys1 = phy:0 with vhosts 0, 1; phys2 = phy:1 with vhosts 2, 3; spp_mirror client 3.
// tap-a has two mirrors, tap-b one.
interface CreateAnswer {
  active: boolean;
  host?: string;
  mirror_in?: number | null;
  mirror_out?: number | null;
  reason?: string;
  detail?: string;
}

describe('tap flows through the binding service (real etcd, real agents, emulators)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let a: ComputeHostFixture;
  let b: ComputeHostFixture;
  let server: TestServer;
  const source = newPort();
  const service = newPort();
  const remote = newPort();
  const remoteService = newPort();
  const vhostOf = new Map<string, number>();

  const bind = async (port: { id: string; mac: string }, host: string) => {
    const answer = await server.post('/v1/ml2/bind', bindBody(port, host));
    const body = answer.body as { bound: boolean; vhost_id: number };
    assert.equal(body.bound, true, JSON.stringify(answer.body));
    vhostOf.set(port.id, body.vhost_id);
  };
  const create = async (id: string, src: string, svc: string, direction: string) => {
    const answer = await server.post('/v1/taas/tap_flows', {
      tap_flow: { id, source_port: src, direction },
      tap_service: { port_id: svc },
    });
    assert.equal(answer.status, 200, answer.text);
    return answer.body as CreateAnswer;
  };
  const remove = async (id: string) => {
    const answer = await server.post('/v1/taas/tap_flows/delete', { tap_flow_id: id });
    assert.equal(answer.status, 200, answer.text);
    return answer.body as { result: string; host?: string };
  };
  const mirrorSlots = async (host: string) =>
    (await store.getPrefix(keys.hostPrefix('mirror', host))).kvs.map((kv) => kv.value);
  const tapKeysGone = (host: string, id: string) =>
    waitFor(`tap flow ${id} gone from ${host}`, async () => {
      const left = await Promise.all(
        [keys.tapInfo, keys.tapAction, keys.tapStatus].map((key) => store.get(key(host, id))),
      );
      return left.every((kv) => kv === undefined) ? true : undefined;
    });
  const towardsVm = (node: ComputeHostFixture, port: { id: string; mac: string }) =>
    node.emulator
      .inject('phy:0', frame(port.mac, WIRE_MAC))
      .map((out) => out.port)
      .sort();

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    a = await computeHost({ store, etcd: etcd.endpoint, host: 'tap-a', mirror: '2#0x70000' });
    b = await computeHost({ store, etcd: etcd.endpoint, host: 'tap-b', mirror: '1#0x30000' });
    await Promise.all([a.startAgent(), b.startAgent()]);
    server = await startTestServer(etcd, { tapTimeoutMs: 2000 });
    await bind(source, a.host);
    await bind(service, a.host);
    await bind(remote, b.host);
    await bind(remoteService, b.host);
  });

  after(async () => {
    await server?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    store?.close();
    await etcd?.dispose();
  });

  test('IN flow → active, tap_info as the original driver writes it, frames copied; a retry changes nothing', async () => {
    const answer = await create('flow-in', source.id, service.id, 'IN');
    assert.deepEqual(answer, { active: true, host: a.host, mirror_in: 0, mirror_out: null });
    assert.equal(
      (await store.get(keys.tapInfo(a.host, 'flow-in')))?.value,
      `{"service_port": "${service.id}", "source_port": "${source.id}", "mirror_in": 0, "mirror_out": null}`,
    );
    assert.equal((await store.get(keys.tapAction(a.host, 'flow-in')))?.value, 'plug');
    assert.deepEqual(await mirrorSlots(a.host), ['flow-in', FREE]);
    const v = vhostOf.get(source.id);
    const s = vhostOf.get(service.id);
    assert.deepEqual(towardsVm(a, source), [`vhost:${v}`, `vhost:${s}`].sort());
    const view = (await server.get(`/v1/hosts/${a.host}`)).body as {
      mirrorUse: unknown;
      taps: unknown[];
    };
    assert.deepEqual(view.mirrorUse, { mirrors: 2, used: 1, free: 1 });
    assert.deepEqual(view.taps, [
      {
        flowId: 'flow-in',
        sourcePort: source.id,
        servicePort: service.id,
        mirrorIn: 0,
        mirrorOut: null,
        action: 'plug',
        state: 'up',
      },
    ]);
    const again = await create('flow-in', source.id, service.id, 'IN');
    assert.deepEqual(again, answer);
    assert.deepEqual(await mirrorSlots(a.host), ['flow-in', FREE]);
  });

  test('refusals: another host, not an SPP port, the same port, more flows than mirrors', async () => {
    const cross = await create('flow-x', remote.id, service.id, 'IN');
    assert.equal(cross.active, false);
    assert.equal(cross.reason, 'cross_host');
    assert.match(cross.detail ?? '', /tap-b.*tap-a/);
    const unknown = await create('flow-u', 'no-such-port', service.id, 'OUT');
    assert.equal(unknown.reason, 'not_spp_port');
    const same = await create('flow-s', service.id, service.id, 'OUT');
    assert.equal(same.reason, 'same_port');
    const both = await create('flow-both', source.id, service.id, 'BOTH');
    assert.equal(both.reason, 'no_free_mirror');
    assert.match(both.detail ?? '', /2 needed, 1 of 2 in use/);
    assert.deepEqual(await mirrorSlots(a.host), ['flow-in', FREE]);
    const check = await server.post('/v1/taas/tap_services/check', { port_id: remote.id });
    assert.deepEqual(check.body, { ok: true, host: b.host });
    const invalid = await server.post('/v1/taas/tap_flows', { tap_flow: { id: 'x' } });
    assert.equal(invalid.status, 400);
  });

  test('delete → the agent tears the tap down and frees the mirror; deleting again finds nothing', async () => {
    assert.deepEqual(await remove('flow-in'), {
      tap_flow_id: 'flow-in',
      host: a.host,
      result: 'unplug_requested',
    });
    await tapKeysGone(a.host, 'flow-in');
    assert.deepEqual(await mirrorSlots(a.host), [FREE, FREE]);
    assert.deepEqual(towardsVm(a, source), [`vhost:${vhostOf.get(source.id)}`]);
    assert.equal((await remove('flow-in')).result, 'not_found');
    const both = await create('flow-both', source.id, service.id, 'BOTH');
    assert.deepEqual(both, { active: true, host: a.host, mirror_in: 0, mirror_out: 1 });
    assert.equal((await remove('flow-both')).result, 'unplug_requested');
    await tapKeysGone(a.host, 'flow-both');
    assert.deepEqual(await mirrorSlots(a.host), [FREE, FREE]);
  });

  test('no up in time → rolled back (no leaked slot); an up after the rollback is undone', async () => {
    const agent = b.agent;
    assert.ok(agent);
    await agent.stop();
    b.agent = undefined;
    const answer = await create('flow-late', remote.id, remoteService.id, 'OUT');
    assert.equal(answer.active, false);
    assert.equal(answer.reason, 'timeout');
    assert.deepEqual(await mirrorSlots(b.host), [FREE]);
    assert.equal(await store.get(keys.tapInfo(b.host, 'flow-late')), undefined);
    // An agent that answers late and unguarded (as the original does).
    await store.put(keys.tapStatus(b.host, 'flow-late'), 'up');
    await waitFor('the late up turned into an unplug request', async () =>
      (await store.get(keys.tapAction(b.host, 'flow-late')))?.value === 'unplug' ? true : undefined,
    );
    assert.deepEqual(await mirrorSlots(b.host), ['flow-late']);
    await b.startAgent();
    await tapKeysGone(b.host, 'flow-late');
    assert.deepEqual(await mirrorSlots(b.host), [FREE]);
  });

  test('full sync removes flows Neutron does not have and reports the ones etcd lacks', async () => {
    const kept = await create('flow-kept', source.id, service.id, 'IN');
    assert.equal(kept.active, true);
    // Written as the original TaaS driver does, for a flow Neutron no longer has.
    await requestTapPlug(store, a.host, {
      flowId: 'flow-orphan',
      sourcePort: service.id,
      servicePort: source.id,
      direction: 'OUT',
    });
    await waitFor('orphan up', async () =>
      (await store.get(keys.tapStatus(a.host, 'flow-orphan')))?.value === 'up' ? true : undefined,
    );
    const answer = await server.post('/v1/taas/sync', {
      tap_flows: [{ id: 'flow-kept' }, { id: 'flow-neutron-only' }],
    });
    assert.equal(answer.status, 200, answer.text);
    const report = answer.body as { removed: unknown[]; missing: string[] };
    assert.deepEqual(report.removed, [
      { tap_flow_id: 'flow-orphan', host: a.host, result: 'unplug_requested' },
    ]);
    assert.deepEqual(report.missing, ['flow-neutron-only']);
    await tapKeysGone(a.host, 'flow-orphan');
    assert.deepEqual(await mirrorSlots(a.host), ['flow-kept', FREE]);
    assert.equal((await remove('flow-kept')).result, 'unplug_requested');
    await tapKeysGone(a.host, 'flow-kept');
    const metrics = await server.get('/metrics');
    assert.match(metrics.text, /spp_server_tap_flow_creates_total\{result="active"\} [1-9]/);
    assert.match(metrics.text, /spp_server_mirror_slots\{host="tap-a",state="free"\} 2/);
  });
});
