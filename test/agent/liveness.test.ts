import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Liveness } from '../../src/agent/liveness.js';
import type { OwnWriteWatch } from '../../src/agent/liveness.js';
import { ownWriteWatch } from '../../src/agent/own-write.js';
import { HostSnapshot } from '../../src/snapshot/snapshot.js';
import { noAgentMetrics } from '../../src/agent/metrics.js';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import type { AgentRecord } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';

const TTL_S = 2;
const quiet = pino({ level: 'silent' });

function record(host: string): () => AgentRecord {
  return () => ({
    host,
    version: 'test',
    started_at: new Date(0).toISOString(),
    pid: process.pid,
    physnets: {},
  });
}

describe('agent liveness key against a real etcd', () => {
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

  test('a watch that never delivers the own write is re-created and the key lapses', async () => {
    let restarts = 0;
    const silent: OwnWriteWatch = {
      confirmOwnWrite: async () => false,
      restartWatches: () => void restarts++,
    };
    const liveness = new Liveness(store, silent, TTL_S, record('silent'), quiet);
    const stop = new AbortController();
    const running = liveness.run(stop.signal);
    try {
      await waitFor('the key written once', async () => store.get(keys.agent('silent')));
      await waitFor('the silent watch re-created', () => restarts >= 1);
      assert.equal(liveness.live, false);
      // Never kept alive, the lease expires and etcd removes the key.
      await waitFor(
        'the key gone with its lease',
        async () => (await store.get(keys.agent('silent'))) === undefined,
        TTL_S * 1000 * 4,
      );
    } finally {
      stop.abort();
      await running;
      await liveness.release();
    }
  });

  test('with a delivering watch the key outlives its TTL and is revoked on release', async () => {
    const snapshot = new HostSnapshot(store, { host: 'healthy' }, quiet, { retryMaxMs: 500 });
    const stop = new AbortController();
    assert.equal(await snapshot.load(stop.signal), true);
    const watching = snapshot.run(stop.signal);
    const watch = ownWriteWatch(snapshot, 'healthy', noAgentMetrics);
    const liveness = new Liveness(store, watch, TTL_S, record('healthy'), quiet);
    const beating = liveness.run(stop.signal);
    try {
      const first = await waitFor('the key written', async () => store.get(keys.agent('healthy')));
      // Three rewrites span more than one TTL: the lease was kept alive throughout.
      const revisions = new Set([first.modRevision]);
      const third = await waitFor(
        'three refreshes',
        async () => {
          const now = await store.get(keys.agent('healthy'));
          if (now) revisions.add(now.modRevision);
          return revisions.size >= 4 ? now : undefined;
        },
        TTL_S * 1000 * 4,
      );
      assert.ok(third);
      assert.equal(third.lease, first.lease);
      assert.equal(liveness.live, true);
    } finally {
      stop.abort();
      await Promise.all([watching, beating]);
      await liveness.release();
    }
    assert.equal(await store.get(keys.agent('healthy')), undefined, 'revoked at release');
  });

  test('the own-write proof: confirmed once the snapshot shows the write, not before', async () => {
    const snapshot = new HostSnapshot(store, { host: 'proof' }, quiet, { retryMaxMs: 500 });
    const stop = new AbortController();
    await snapshot.load(stop.signal);
    const watching = snapshot.run(stop.signal);
    const watch = ownWriteWatch(snapshot, 'proof', noAgentMetrics);
    try {
      const revision = await store.put(keys.agent('proof'), JSON.stringify(record('proof')()));
      assert.equal(await watch.confirmOwnWrite(revision, 5000), true);
      assert.equal(
        await watch.confirmOwnWrite(revision + 1000, 200),
        false,
        'a revision never written',
      );
    } finally {
      stop.abort();
      await watching;
    }
  });
});
