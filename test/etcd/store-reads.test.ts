import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';

let etcd: EtcdServer;
let store: EtcdStore;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
});
after(async () => {
  store?.close();
  await etcd?.dispose();
});

describe('EtcdStore reads inside transactions', () => {
  it('reads single keys and prefixes at one revision in one request', async () => {
    await store.put('/r/a', '1');
    await store.put('/r/p/1', 'x');
    const last = await store.put('/r/p/2', 'y');
    await store.put('/r/a-other', 'not me');
    const snapshot = await store.read([
      { get: '/r/a' },
      { getPrefix: '/r/p/' },
      { get: '/r/none' },
    ]);
    assert.equal(snapshot.revision, last + 1);
    assert.deepEqual(
      snapshot.kvs.map((kv) => `${kv.key}=${kv.value}`),
      ['/r/a=1', '/r/p/1=x', '/r/p/2=y'],
    );
  });

  it('returns the reads of the branch that ran: fresh state when a guard fails', async () => {
    await store.put('/r/slot', 'None');
    const won = await store.transaction(
      [{ key: '/r/slot', equals: 'None' }],
      [{ put: '/r/slot', value: 'port-1' }],
      [{ get: '/r/slot' }],
    );
    assert.deepEqual([won.succeeded, won.kvs], [true, []]);
    const lost = await store.transaction(
      [{ key: '/r/slot', equals: 'None' }],
      [{ put: '/r/slot', value: 'port-2' }],
      [{ get: '/r/slot' }],
    );
    assert.equal(lost.succeeded, false);
    assert.deepEqual(
      lost.kvs.map((kv) => [kv.value, kv.modRevision]),
      [['port-1', won.revision]],
    );
  });
});
