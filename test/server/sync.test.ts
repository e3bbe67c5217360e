import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { Segment } from '../../src/server/bind/types.js';
import type { SyncReport } from '../../src/server/sync/execute.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import type { TestServer } from './harness.js';
import { bindBody, flatSegment, newPort, startTestServer, vlanSegment } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let server: TestServer;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(etcd);
});
after(async () => {
  await server?.close();
  store?.close();
  await etcd?.dispose();
});

/** Runs `body` with compute hosts that are removed from etcd afterwards (sync is global). */
async function withHosts(
  names: string[],
  body: (hosts: ComputeHost[]) => Promise<void>,
): Promise<void> {
  const hosts: ComputeHost[] = [];
  try {
    for (const host of names) {
      hosts.push(await startComputeHost({ store, host, mappings: '00:04.0#phys1#4#0xffe' }));
    }
    await body(hosts);
  } finally {
    for (const host of hosts) await host.stop();
  }
}

async function bind(port: { id: string; mac: string }, host: string, segments?: unknown[]) {
  const answer = await server.post('/v1/ml2/bind', bindBody(port, host, segments));
  const body = answer.body as { bound: boolean; vhost_id?: number; detail?: string };
  assert.equal(body.bound, true, body.detail);
  return body;
}

async function sync(ports: unknown[], extra: Record<string, unknown> = {}, via = server) {
  const answer = await via.post('/v1/ml2/sync', { ports, ...extra });
  assert.equal(answer.status, 200, answer.text);
  return answer.body as SyncReport;
}

const listed = (
  port: { id: string; mac: string },
  host: string,
  segment: Segment = flatSegment(),
) => ({
  id: port.id,
  host,
  mac_address: port.mac,
  segment,
});

async function traces(host: string, portId: string): Promise<number> {
  let count = 0;
  for (const key of [
    keys.bindPort(host, portId),
    keys.action(host, portId),
    keys.portStatus(host, portId),
  ]) {
    if (await store.get(key)) count++;
  }
  for (const kv of (await store.getPrefix(keys.hostPrefix('vhost', host))).kvs) {
    if (kv.value === portId) count++;
  }
  return count;
}

const ids = (entries: Array<{ port_id: string }>) => entries.map((entry) => entry.port_id).sort();

describe('POST /v1/ml2/sync repairs etcd to match Neutron', () => {
  it('unplugs what Neutron lacks, re-plugs what etcd lost, cleans leftovers', async () => {
    await withHosts(['sync-a'], async () => {
      const kept = newPort();
      const gone = newPort();
      const lost = newPort();
      await bind(kept, 'sync-a');
      await bind(gone, 'sync-a');
      const lostBinding = await bind(lost, 'sync-a', [vlanSegment(300)]);
      // etcd loses `lost` (e.g. restored from an old backup): keys gone, slot free.
      await store.deleteAtomically(
        [
          keys.bindPort('sync-a', lost.id),
          keys.action('sync-a', lost.id),
          keys.portStatus('sync-a', lost.id),
        ],
        [],
      );
      await store.put(keys.vhost('sync-a', 'phys1', lostBinding.vhost_id ?? -1), 'None');
      // A leftover without bind_port, which no agent can process.
      const ghost = 'ghost-port';
      await store.put(keys.action('sync-a', ghost), 'plug');

      const dry = await sync([listed(kept, 'sync-a'), listed(lost, 'sync-a', vlanSegment(300))], {
        dry_run: true,
      });
      assert.equal(dry.dry_run, true);
      assert.deepEqual(ids(dry.unplug_requested), [gone.id]);
      assert.equal(await traces('sync-a', gone.id), 4, 'dry run changes nothing');

      const report = await sync([listed(kept, 'sync-a'), listed(lost, 'sync-a', vlanSegment(300))]);
      assert.deepEqual(ids(report.unplug_requested), [gone.id]);
      assert.deepEqual(ids(report.plug_requested), [lost.id]);
      assert.deepEqual(ids(report.cleaned), [ghost]);
      assert.deepEqual(report.errors, []);
      assert.equal(report.etcd_requests, 4, 'one read and one transaction per change');

      await waitFor('the agent to unplug the port Neutron lacks', async () =>
        (await traces('sync-a', gone.id)) === 0 ? true : undefined,
      );
      await waitFor('the agent to plug the lost port again', async () =>
        (await store.get(keys.portStatus('sync-a', lost.id)))?.value === 'up' ? true : undefined,
      );
      const bp = JSON.parse((await store.get(keys.bindPort('sync-a', lost.id)))?.value ?? '{}');
      assert.equal(bp.vlan_id, 300);
      assert.equal(bp.mac_address, lost.mac);
      assert.equal(await traces('sync-a', ghost), 0);
      assert.equal(await traces('sync-a', kept.id), 4, 'the port Neutron has is untouched');

      const again = await sync([listed(kept, 'sync-a'), listed(lost, 'sync-a', vlanSegment(300))]);
      assert.deepEqual(
        [again.unplug_requested, again.plug_requested, again.cleaned, again.errors],
        [[], [], [], []],
        'a second sync finds nothing to do',
      );
    });
  });

  it('host changed A→B: the unbind on A and the bind on B leave A clean', async () => {
    await withHosts(['move-a', 'move-b'], async () => {
      const port = newPort();
      await bind(port, 'move-a');
      const unbind = await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'move-a' });
      assert.equal((unbind.body as { result: string }).result, 'unplug_requested');
      await bind(port, 'move-b');
      await waitFor('host A to be clean', async () =>
        (await traces('move-a', port.id)) === 0 ? true : undefined,
      );
      assert.equal(await traces('move-b', port.id), 4);
      const again = await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'move-a' });
      assert.equal((again.body as { result: string }).result, 'not_found', 'unbind is idempotent');
      const unknown = await server.post('/v1/ml2/unbind', { port_id: 'nope', host: 'move-a' });
      assert.equal(unknown.status, 200);
      assert.equal((unknown.body as { result: string }).result, 'not_found');
    });
  });

  it('host changed A→B without an unbind: sync unplugs it on A', async () => {
    await withHosts(['miss-a', 'miss-b'], async () => {
      const port = newPort();
      await bind(port, 'miss-a');
      await bind(port, 'miss-b');
      const report = await sync([listed(port, 'miss-b')]);
      assert.deepEqual(
        report.unplug_requested.map((entry) => [entry.host, entry.port_id]),
        [['miss-a', port.id]],
      );
      await waitFor('host A to be clean', async () =>
        (await traces('miss-a', port.id)) === 0 ? true : undefined,
      );
      assert.equal(await traces('miss-b', port.id), 4);
    });
  });

  it('leaves alone ports binding right now and ports changed within the grace period', async () => {
    const patient = await startTestServer(etcd, { syncGraceMs: 60_000 });
    try {
      await withHosts(['grace-a'], async ([host]) => {
        const recent = newPort();
        await bind(recent, 'grace-a');
        const report = await sync([], {}, patient);
        assert.deepEqual(ids(report.unplug_requested), []);
        assert.deepEqual(
          report.skipped.map((entry) => [entry.port_id, entry.reason]),
          [[recent.id, 'recent']],
        );
        assert.equal(await traces('grace-a', recent.id), 4);

        host?.agent?.pause();
        const binding = newPort();
        const pending = server.post('/v1/ml2/bind', bindBody(binding, 'grace-a'));
        await waitFor('the plug request', async () =>
          (await store.get(keys.action('grace-a', binding.id)))?.value === 'plug'
            ? true
            : undefined,
        );
        const during = await sync([listed(recent, 'grace-a')]);
        assert.deepEqual(
          during.skipped.map((entry) => [entry.port_id, entry.reason]),
          [[binding.id, 'binding']],
        );
        host?.agent?.resume();
        const answer = (await pending).body as { bound: boolean };
        assert.equal(answer.bound, true);
      });
    } finally {
      await patient.close();
    }
  });

  it('a slot holding "" or outside the layout: the request succeeds, only good slots used', async () => {
    // Issue 17, item 4: such a slot used to fail the whole request with 400.
    await withHosts(['odd-slots'], async ([host]) => {
      const name = (host as ComputeHost).host;
      await store.put(keys.vhost(name, 'phys1', 0), '');
      await store.put(keys.vhost(name, 'phys1', 7), 'None');
      const ports = [newPort(), newPort(), newPort(), newPort()];
      const report = await sync(ports.map((port) => listed(port, name)));
      assert.equal(report.plug_requested.length, 3, JSON.stringify(report));
      assert.deepEqual(
        report.errors.map((entry) => entry.reason),
        ['no_free_vhost'],
      );
      assert.equal((await store.get(keys.vhost(name, 'phys1', 0)))?.value, '');
      assert.equal((await store.get(keys.vhost(name, 'phys1', 7)))?.value, 'None');
    });
  });

  it('reports ports it cannot repair', async () => {
    await withHosts(['err-a'], async () => {
      const report = await sync([
        listed(newPort(), 'not-an-spp-host'),
        listed(newPort(), 'err-a', flatSegment('physZ')),
      ]);
      assert.deepEqual(report.errors.map((entry) => entry.reason).sort(), [
        'no_segment',
        'not_spp_host',
      ]);
    });
  });
});
