import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';

const TTL_S = 3;
const NOT_LIVE = 'agent not live in etcd';

/**
 * Issue 17, item 1: a black-holed etcd member (connections held, bytes dropped) used to
 * leave a lease keep-alive pending for good: the liveness key was never refreshed again
 * and SIGTERM was ignored.
 */
describe('agent behind a black-holed etcd member (real etcd, emulator, agent process)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let proxy: TcpProxy;
  let node: ComputeHostFixture | undefined;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
  });

  after(async () => {
    await node?.stop();
    await proxy?.stop();
    store?.close();
    await etcd?.dispose();
  });

  test('liveness recovers after the black-hole, and SIGTERM during one stops the agent', async () => {
    node = await computeHost({ store, etcd: proxy.endpoint, host: 'blackhole' });
    const agent = await node.startAgent({
      spp: { agent_liveness_ttl: String(TTL_S), etcd_timeout: '1' },
    });
    const key = keys.agent(node.host);
    const first = await waitFor('the liveness key', () => store.get(key), 15_000);

    try {
      await blackholeRounds();
    } catch (error) {
      throw new Error(`${String(error)}; agent log:\n${agent.tail(40)}`);
    }

    async function blackholeRounds() {
      for (let round = 1; round <= 2; round++) {
        const from = agent.logs.length;
        proxy.blackhole();
        await agent.waitForMessage(NOT_LIVE, 30_000, from);
        await waitFor(
          `round ${round}: the key gone with its lease`,
          async () => (await store.get(key)) === undefined,
          TTL_S * 1000 * 4,
        );
        proxy.restore();
        // Live again: a new lease, and its key rewritten more than once (kept alive).
        const seen = new Set<number>();
        const back = await waitFor(
          `round ${round}: the liveness key refreshed again`,
          async () => {
            const now = await store.get(key);
            if (now && now.lease !== first.lease) seen.add(now.modRevision);
            return seen.size >= 2 ? now : undefined;
          },
          60_000,
        );
        assert.notEqual(back.lease, '0');
      }
    }

    const from = agent.logs.length;
    proxy.blackhole();
    await agent.waitForMessage(NOT_LIVE, 30_000, from);
    // The criterion of a stuck agent: not stopped by SIGTERM within a second.
    const exit = await agent.stop('SIGTERM', 1000);
    node.agent = undefined;
    assert.deepEqual(exit, { code: 0, signal: null }, `exited by itself:\n${agent.tail()}`);
  });
});
