import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { withDeadline } from '../../src/util/deadline.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';
import type { PortRequest } from './requests.js';
import { requestPlug, requestUnplug, waitForUnplugged, waitForUp } from './requests.js';

const CYCLES = 15;

function port(portId: string, index: number): PortRequest {
  const hex = index.toString(16).padStart(2, '0');
  return { portId, physnet: 'phys1', vhostId: 0, mac: `fa:16:3e:00:0a:${hex}` };
}

/**
 * Issue 17, item 2: the agent used to mark a slot free in its own copy of the keys after
 * its unplug transaction, unconditionally; when the service re-claimed the slot and the
 * watch delivered that claim first, the copy went stale and the next unplug of the new port
 * deleted its keys but left the slot held. Only the watch writes the agent's snapshot now:
 * here the slot is re-claimed the instant the agent frees it, and every unplug of the new
 * port still frees it.
 */
describe('a slot re-claimed as soon as the agent frees it (real etcd, emulator, agent)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let node: ComputeHostFixture | undefined;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
  });

  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  test('the next unplug of the new port frees the slot, every time', async () => {
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'reclaim' });
    await node.startAgent();
    const host = node.host;
    const slot = keys.vhost(host, 'phys1', 0);
    let current = port('reclaim-0', 0);
    await requestPlug(store, host, current);
    await waitForUp(store, host, current.portId);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const next = port(`reclaim-${cycle}`, cycle);
      const from = (await store.get(slot))?.modRevision ?? 0;
      const stop = new AbortController();
      // Re-claim the slot from inside the watch, the moment the agent's unplug frees it.
      const reclaimed = (async () => {
        for await (const batch of store.watch(slot, from + 1, stop.signal, { exactKey: true })) {
          if (batch.events.some((event) => event.type === 'put' && event.value === FREE)) {
            return requestPlug(store, host, next);
          }
        }
        throw new Error('watch ended before the slot was freed');
      })();
      try {
        await requestUnplug(store, host, current.portId);
        // With the stale copy, this unplug deleted the port's keys but never freed the slot.
        await withDeadline(reclaimed, 10_000, `cycle ${cycle}: the slot freed by the unplug`);
      } finally {
        stop.abort();
      }
      await waitForUp(store, host, next.portId);
      assert.equal((await store.get(slot))?.value, next.portId, `cycle ${cycle}: slot re-claimed`);
      current = next;
    }
    await requestUnplug(store, host, current.portId);
    await waitForUnplugged(store, host, current);
    assert.equal((await store.get(slot))?.value, FREE);
  });
});
