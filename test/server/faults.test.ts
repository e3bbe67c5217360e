import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
let host: ComputeHost;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(etcd, {
    etcd: { endpoints: [etcd.endpoint], requestTimeoutMs: 1000, dialTimeoutMs: 500 },
  });
  host = await startComputeHost({
    store,
    host: 'fault-1',
    mappings: '00:04.0#phys1#3#0x3fe',
    leaseTtlS: 30,
  });
});
after(async () => {
  await server?.close();
  await host?.stop();
  store?.close();
  await etcd?.dispose();
});

describe('etcd outages', () => {
  it('reports etcd down, answers binds with an error, and recovers when etcd is back', async () => {
    const first = newPort();
    const bound = await server.post('/v1/ml2/bind', bindBody(first, 'fault-1'));
    assert.equal((bound.body as { bound: boolean }).bound, true);

    await etcd.stop();
    const health = await server.get('/healthz');
    assert.equal(health.status, 503);
    assert.equal((health.body as { etcd: string }).etcd, 'unreachable');
    const during = await server.post('/v1/ml2/bind', bindBody(newPort(), 'fault-1'));
    assert.equal(during.status, 200);
    const answer = during.body as { bound: boolean; reason: string; detail: string };
    assert.deepEqual([answer.bound, answer.reason], [false, 'error']);
    assert.match(answer.detail, /^etcd: /);

    await etcd.start();
    await waitFor('the service to see etcd again', async () =>
      (await server.get('/healthz')).status === 200 ? true : undefined,
    );
    // The shared watch resumed where it stopped: binds are answered from its events again.
    const after = newPort();
    const again = await server.post('/v1/ml2/bind', bindBody(after, 'fault-1'));
    const body = again.body as { bound: boolean; vhost_id: number; detail?: string };
    assert.equal(body.bound, true, body.detail);
    assert.equal(body.vhost_id, 1, 'the slot of the first port is still taken');
  });
});
