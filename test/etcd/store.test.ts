import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { DEFAULT_ETCD_SETTINGS, parseEndpoints } from '../../src/etcd/connection.js';
import type { WatchBatch } from '../../src/etcd/store.js';
import { EtcdStore, WatchResyncNeeded } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import type { TestCerts } from './tls-certs.js';
import { makeTestCerts } from './tls-certs.js';

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

describe('EtcdStore against a real etcd', () => {
  it('compare-and-swap succeeds only on the expected value', async () => {
    assert.equal(await store.compareAndSwap('/t/cas', null, 'None'), true);
    assert.equal(await store.compareAndSwap('/t/cas', null, 'x'), false);
    assert.equal(await store.compareAndSwap('/t/cas', 'None', 'port-1'), true);
    assert.equal(await store.compareAndSwap('/t/cas', 'None', 'port-2'), false);
    assert.equal((await store.get('/t/cas'))?.value, 'port-1');
    assert.equal(await store.compareAndSwap('/t/cas', 'port-1', null), true);
    assert.equal(await store.get('/t/cas'), undefined);
  });

  it('applies a multi-key transaction all or nothing', async () => {
    await store.put('/t/txn/guard', 'a');
    const failed = await store.transaction(
      [{ key: '/t/txn/guard', equals: 'b' }],
      [
        { put: '/t/txn/one', value: '1' },
        { put: '/t/txn/two', value: '2' },
      ],
    );
    assert.equal(failed.succeeded, false);
    assert.equal((await store.getPrefix('/t/txn/')).kvs.length, 1);
    const done = await store.transaction(
      [
        { key: '/t/txn/guard', equals: 'a' },
        { key: '/t/txn/one', absent: true },
      ],
      [
        { put: '/t/txn/one', value: '1' },
        { put: '/t/txn/two', value: '2' },
        { delete: '/t/txn/guard' },
      ],
    );
    assert.equal(done.succeeded, true);
    assert.deepEqual(
      (await store.getPrefix('/t/txn/')).kvs.map((kv) => `${kv.key}=${kv.value}`),
      ['/t/txn/one=1', '/t/txn/two=2'],
    );
  });

  it('guards on "nothing under a prefix written since revision R"', async () => {
    const read = await store.put('/t/range/a/1', 'x');
    await store.put('/t/range/ab', 'neighbour, not under /t/range/a/');
    const guard = [{ prefix: '/t/range/a/', notModifiedAfter: read }];
    const unchanged = await store.transaction(guard, [{ put: '/t/range/ok', value: '1' }]);
    assert.equal(unchanged.succeeded, true);
    const empty = await store.transaction(
      [{ prefix: '/t/range/none/', notModifiedAfter: 1 }],
      [{ put: '/t/range/ok', value: '2' }],
    );
    assert.equal(empty.succeeded, true, 'an empty prefix holds no newer key');
    await store.put('/t/range/a/2', 'y');
    const changed = await store.transaction(guard, [{ put: '/t/range/ok', value: '3' }]);
    assert.equal(changed.succeeded, false);
    assert.equal((await store.get('/t/range/ok'))?.value, '2');
  });

  it('grants leases whose keys disappear on revoke', async () => {
    const lease = await store.grantLease(30);
    await store.transaction([], [{ put: '/t/lease/k', value: 'v', lease }]);
    assert.equal((await store.get('/t/lease/k'))?.lease, lease);
    await store.revokeLease(lease);
    assert.equal(await store.get('/t/lease/k'), undefined);
    await store.revokeLease(lease); // already gone: not an error
  });

  it('reads several prefixes at one revision', async () => {
    const revision = await store.put('/t/snap/a/1', 'x');
    await store.put('/t/snap/b/1', 'y');
    const snapshot = await store.getPrefixes(['/t/snap/a/', '/t/snap/b/']);
    assert.ok(snapshot.revision > revision);
    assert.deepEqual(
      snapshot.kvs.map((kv) => kv.key),
      ['/t/snap/a/1', '/t/snap/b/1'],
    );
  });

  it('deletes keys and prefixes atomically and reports what it removed', async () => {
    await store.put('/t/del/k', 'v');
    await store.put('/t/del/p/1', 'a');
    await store.put('/t/del/p/2', 'b');
    const result = await store.deleteAtomically(['/t/del/k', '/t/del/none'], ['/t/del/p/']);
    assert.deepEqual(result.deleted.map((kv) => `${kv.key}=${kv.value}`).sort(), [
      '/t/del/k=v',
      '/t/del/p/1=a',
      '/t/del/p/2=b',
    ]);
    assert.equal((await store.getPrefix('/t/del/')).kvs.length, 0);
  });

  it('watches from a past revision, replaying history in order', async () => {
    const first = await store.put('/t/w1/a', '1');
    await store.put('/t/w1/b', '2');
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const batch of store.watch('/t/w1/', first, controller.signal)) {
      for (const event of batch.events) seen.push(`${event.type} ${event.key}=${event.value}`);
      if (seen.length >= 2) controller.abort();
    }
    assert.deepEqual(seen, ['put /t/w1/a=1', 'put /t/w1/b=2']);
  });

  it('resumes after an etcd restart without losing or repeating events', async () => {
    const start = (await store.put('/t/w2/before', '0')) + 1;
    const controller = new AbortController();
    const seen: string[] = [];
    let disconnects = 0;
    const consumer = (async () => {
      for await (const batch of store.watch('/t/w2/', start, controller.signal, {
        onDisconnected: () => disconnects++,
      })) {
        for (const event of (batch as WatchBatch).events) seen.push(event.key);
      }
    })();
    await store.put('/t/w2/one', '1');
    await waitFor('first event', () => seen.length === 1);
    await etcd.stop();
    await etcd.start();
    await waitFor(
      'etcd writable again',
      async () => (await store.put('/t/w2/two', '2')) > 0,
      15_000,
      100,
    );
    await store.put('/t/w2/three', '3');
    await waitFor('events after restart', () => seen.length === 3, 15_000);
    controller.abort();
    await consumer;
    assert.deepEqual(seen, ['/t/w2/one', '/t/w2/two', '/t/w2/three']);
    assert.ok(disconnects >= 1, 'the watch noticed the restart');
  });

  it('asks for a resync when its start revision was compacted', async () => {
    const old = await store.put('/t/w3/a', '1');
    const latest = await store.put('/t/w3/a', '2');
    await store.client.maintenance.status();
    await (store.client as Etcd3).kv.compact({ revision: String(latest), physical: true });
    const controller = new AbortController();
    await assert.rejects(async () => {
      for await (const _batch of store.watch('/t/w3/', old, controller.signal)) {
        // nothing is expected before the cancellation
      }
    }, WatchResyncNeeded);
    controller.abort();
  });
});

describe('connection settings', () => {
  it('parses endpoint lists and rejects bad ones with the flag name', () => {
    assert.deepEqual(parseEndpoints('127.0.0.1:2379, https://etcd.example:2379'), [
      '127.0.0.1:2379',
      'https://etcd.example:2379',
    ]);
    assert.throws(
      () => parseEndpoints('127.0.0.1'),
      /--etcd: "127\.0\.0\.1" is not an etcd endpoint/,
    );
    assert.throws(() => parseEndpoints('host:99999'), /not an etcd endpoint/);
  });

  it('authenticates with user and password', async () => {
    const admin = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    await admin.role('root').create();
    await admin.user('root').create('secret');
    await admin.user('root').addRole('root');
    await admin.auth.authEnable();
    admin.close();
    const denied = etcd.connectStore();
    const allowed = EtcdStore.connect({
      ...DEFAULT_ETCD_SETTINGS,
      endpoints: [etcd.endpoint],
      auth: { username: 'root', password: 'secret' },
    });
    try {
      await assert.rejects(
        () => denied.put('/t/auth', 'x'),
        /user name is empty|permission denied|auth/i,
      );
      assert.ok((await allowed.put('/t/auth', 'x')) > 0);
      await allowed.client.auth.authDisable();
    } finally {
      denied.close();
      allowed.close();
    }
  });
});

describe('TLS', () => {
  let tlsEtcd: EtcdServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'nspp-tls-'));
  let certs: TestCerts;

  before(async () => {
    certs = makeTestCerts(dir);
    tlsEtcd = await EtcdServer.launch({
      tls: { caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey },
    });
  });
  after(async () => {
    await tlsEtcd?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with CA, client certificate and key', async () => {
    const secure = EtcdStore.connect({
      ...DEFAULT_ETCD_SETTINGS,
      endpoints: [tlsEtcd?.endpoint ?? ''],
      tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
    });
    try {
      assert.ok((await secure.put('/t/tls', 'x')) > 0);
      assert.equal((await secure.get('/t/tls'))?.value, 'x');
    } finally {
      secure.close();
    }
  });

  it('fails without the client certificate', async () => {
    const anonymous = EtcdStore.connect({
      ...DEFAULT_ETCD_SETTINGS,
      endpoints: [tlsEtcd?.endpoint ?? ''],
      requestTimeoutMs: 1000,
      tls: { caFile: certs.ca },
    });
    try {
      await assert.rejects(() => anonymous.put('/t/tls', 'y'));
    } finally {
      anonymous.close();
    }
  });
});
