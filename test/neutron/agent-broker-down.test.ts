/**
 * The agent process with a heartbeat whose broker is unreachable: its work (plug, unplug)
 * goes on, and the outage is logged once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { computeHost } from '../agent/host-fixture.js';
import type { PortRequest } from '../agent/requests.js';
import { requestPlug, requestUnplug, waitForUnplugged, waitForUp } from '../agent/requests.js';

const PORT: PortRequest = { portId: 'p-1', physnet: 'phys1', vhostId: 0, mac: 'fa:16:3e:00:00:11' };
const DOWN = 'RabbitMQ unreachable, state reports paused';

describe('agent with an unreachable RabbitMQ', () => {
  let etcd: EtcdServer | undefined;
  let store: EtcdStore | undefined;
  let node: ComputeHostFixture | undefined;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'compute-b' });
  });
  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  test('plugs and unplugs while the heartbeat cannot connect; logs the outage once', async () => {
    const dead = await freePort();
    const agent = await node!.startAgent({
      DEFAULT: { transport_url: `rabbit://guest:secret@127.0.0.1:${dead}/` },
      AGENT: { report_interval: '0.2' },
    });
    await agent.waitForMessage(DOWN, 10_000);
    await requestPlug(store!, node!.host, PORT);
    await waitForUp(store!, node!.host, PORT.portId);
    await requestUnplug(store!, node!.host, PORT.portId);
    await waitForUnplugged(store!, node!.host, PORT);
    const downLines = agent.logs.filter((line) => line.msg === DOWN);
    assert.equal(downLines.length, 1);
    assert.doesNotMatch(JSON.stringify(agent.logs), /secret/);
    assert.ok(agent.logs.some((line) => line.msg === 'state reports to neutron enabled'));
  });
});
