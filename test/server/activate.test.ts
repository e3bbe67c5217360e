/** POST /v1/ml2/activate and bind with active_host: live migration, service side (real etcd). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import type { TestServer } from './harness.js';
import { bindBody, newPort, startTestServer } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let server: TestServer;
const hosts: ComputeHost[] = [];

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(etcd);
  for (const host of ['mig-a', 'mig-b']) {
    hosts.push(await startComputeHost({ store, host, mappings: '00:04.0#phys1#2#0x3fe' }));
  }
});
after(async () => {
  for (const host of hosts) await host.stop();
  await server?.close();
  store?.close();
  await etcd?.dispose();
});

const slotOf = async (host: string, portId: string) =>
  (await store.getPrefix(keys.hostPrefix('vhost', host))).kvs.find((kv) => kv.value === portId)
    ?.key;

describe('live migration in the binding service', () => {
  it('binds the inactive binding on B beside A; activation unplugs A and confirms B', async () => {
    const port = newPort();
    const onA = await server.post('/v1/ml2/bind', bindBody(port, 'mig-a'));
    assert.equal((onA.body as { bound: boolean }).bound, true, onA.text);
    const slotA = await slotOf('mig-a', port.id);
    const onB = await server.post(
      '/v1/ml2/bind',
      bindBody(port, 'mig-b', undefined, { active_host: 'mig-a' }),
    );
    assert.equal((onB.body as { bound: boolean }).bound, true, onB.text);
    assert.ok(await slotOf('mig-b', port.id));
    assert.equal(await slotOf('mig-a', port.id), slotA, 'A untouched');
    const line = server.logs.find((l) => l.msg === 'bind' && l.host === 'mig-b');
    assert.equal(line?.binding, 'inactive');
    assert.equal(line?.active_host, 'mig-a');

    const activated = await server.post('/v1/ml2/activate', {
      ...bindBody(port, 'mig-b'),
      previous_host: 'mig-a',
    });
    assert.equal(activated.status, 200, activated.text);
    const body = activated.body as { bound: boolean; previous: { result: string; host: string } };
    assert.equal(body.bound, true);
    assert.deepEqual([body.previous.host, body.previous.result], ['mig-a', 'unplug_requested']);
    await waitFor(
      'A freed',
      async () =>
        (await slotOf('mig-a', port.id)) === undefined &&
        (await store.get(keys.bindPort('mig-a', port.id))) === undefined,
    );
    assert.ok(await slotOf('mig-b', port.id), 'B kept');
    assert.ok(server.logs.some((l) => l.msg === 'activate' && l.previous_host === 'mig-a'));
  });

  it('activation plugs B again when its keys were lost, and is idempotent', async () => {
    const port = newPort();
    const activated = await server.post('/v1/ml2/activate', {
      ...bindBody(port, 'mig-b'),
      previous_host: 'mig-a',
    });
    const body = activated.body as { bound: boolean; previous: { result: string } };
    assert.equal(body.bound, true, activated.text);
    assert.equal(body.previous.result, 'not_found');
    const again = await server.post('/v1/ml2/activate', {
      ...bindBody(port, 'mig-b'),
      previous_host: 'mig-a',
    });
    assert.equal((again.body as { bound: boolean }).bound, true);
    await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'mig-b' });
    await waitFor('B freed', async () => (await slotOf('mig-b', port.id)) === undefined);
  });

  it('refuses bad requests with 400', async () => {
    const port = newPort();
    const same = await server.post('/v1/ml2/activate', {
      ...bindBody(port, 'mig-b'),
      previous_host: 'mig-b',
    });
    assert.equal(same.status, 400);
    const missing = await server.post('/v1/ml2/activate', bindBody(port, 'mig-b'));
    assert.equal(missing.status, 400);
    assert.match(missing.text, /previous_host/);
    const bad = await server.post(
      '/v1/ml2/bind',
      bindBody(port, 'mig-b', undefined, { active_host: 'a/b' }),
    );
    assert.equal(bad.status, 400);
  });
});
