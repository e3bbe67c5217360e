import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Announcer } from '../../src/agent/announcer.js';
import { keys } from '../../src/etcd/keys.js';
import { PLUG_REQUEST_MARKER } from '../../src/etcd/values.js';
import { HostSnapshot } from '../../src/snapshot/snapshot.js';
import { useEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';

const quiet = pino({ level: 'silent' });

describe('the agent re-announces up for plug requests of the original driver (real etcd)', () => {
  const lab = useEtcd();

  async function plugged(host: string, portId: string, marked: boolean) {
    const { store } = lab;
    const bindPort = await store.put(
      keys.bindPort(host, portId),
      '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 0}',
    );
    await store.put(keys.action(host, portId), 'plug');
    if (marked) await store.put(keys.plugRequest(host, portId), PLUG_REQUEST_MARKER);
    const status = await store.put(keys.portStatus(host, portId), 'up');
    return { bindPort, status };
  }

  async function running(host: string) {
    const snapshot = new HostSnapshot(lab.store, { host }, quiet);
    const stop = new AbortController();
    await snapshot.load(stop.signal);
    const watching = snapshot.run(stop.signal);
    const announcer = new Announcer(lab.store, snapshot, host, quiet);
    return {
      snapshot,
      announcer,
      stop: async () => {
        await announcer.stop();
        stop.abort();
        await watching;
      },
    };
  }

  test('without our marker: up is written again, each time guarded by the keys as left', async () => {
    const revisions = await plugged('orig', 'p', false);
    const run = await running('orig');
    try {
      await waitFor(
        'the snapshot has the request',
        () => run.snapshot.host('orig').ports.get('p')?.status,
      );
      run.announcer.reportedUp('p', revisions.bindPort, revisions.status);
      assert.equal(run.announcer.pending, 1);
      await waitFor('two re-announces', () => run.announcer.written >= 2, 5000);
      const rewritten = await lab.store.get(keys.portStatus('orig', 'p'));
      assert.ok((rewritten?.modRevision ?? 0) > revisions.status, 'port_status rewritten');
      // The port is unplugged: the next re-announce's guard fails and the schedule ends.
      const unplugged = await lab.store.put(keys.action('orig', 'p'), 'unplug');
      await waitFor('the schedule ended', () => run.announcer.pending === 0, 10_000);
      const status = (await lab.store.get(keys.portStatus('orig', 'p')))?.modRevision ?? 0;
      assert.ok(status < unplugged, 'no up written after the unplug request');
    } finally {
      await run.stop();
    }
  });

  test("with our service's marker: nothing is re-announced", async () => {
    const revisions = await plugged('ours', 'p', true);
    const run = await running('ours');
    try {
      await waitFor(
        'the snapshot has the marker',
        () => run.snapshot.host('ours').ports.get('p')?.plugRequest,
      );
      run.announcer.reportedUp('p', revisions.bindPort, revisions.status);
      assert.equal(run.announcer.pending, 0, 'no schedule for a request of our service');
    } finally {
      await run.stop();
    }
  });
});
