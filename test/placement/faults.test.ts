import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from '../server/compute-host.js';
import { startComputeHost } from '../server/compute-host.js';
import type { TestServer } from '../server/harness.js';
import { bindBody, flatSegment, newPort, startTestServer } from '../server/harness.js';
import type { PlacementLab, RunningSync } from './harness.js';
import { novaComputeNode, runSync, sppProviders, startLab, syncOptions } from './harness.js';

const PROVIDER = 'cf1:SPP neutron agent:phys1';

let lab: PlacementLab;
let proxy: TcpProxy;
let server: TestServer;
let compute: ComputeHost;
let sync: RunningSync;
let registry: Registry;
const bound: Array<{ id: string; mac: string }> = [];

async function bindOne(): Promise<void> {
  const port = newPort();
  const answer = await server.post('/v1/ml2/bind', bindBody(port, 'cf1', [flatSegment('phys1')]));
  assert.equal(answer.status, 200, answer.text);
  assert.equal((answer.body as { bound: boolean }).bound, true, answer.text);
  bound.push(port);
}

async function unbindOne(): Promise<void> {
  const port = bound.pop() as { id: string };
  const answer = await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'cf1' });
  assert.equal((answer.body as { result: string }).result, 'unplug_requested', answer.text);
}

async function reserved(): Promise<number | undefined> {
  return (await sppProviders(lab.admin)).get(PROVIDER)?.reserved;
}

/** Sync attempts that failed so far (the counter in the registry). */
async function failedSyncs(): Promise<number> {
  const metrics = await registry.metrics();
  return Number(/^spp_placement_syncs_total\{result="error"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

const failureLines = () =>
  sync.logs.filter((line) => /Placement inventory sync failed/.test(String(line.msg)));

before(async () => {
  lab = await startLab();
  proxy = await TcpProxy.start('127.0.0.1', lab.placement.port);
  server = await startTestServer(lab.etcd);
  compute = await startComputeHost({
    store: lab.store,
    host: 'cf1',
    mappings: '00:04.0#phys1#4#0x7ff',
  });
  await novaComputeNode(lab.admin, 'cf1');
  registry = new Registry();
  sync = runSync(syncOptions(`http://127.0.0.1:${proxy.port}`), { store: lab.store, registry });
  await waitFor('the SPP provider', async () => (await reserved()) === 0, 20_000);
});

after(async () => {
  await sync?.stop();
  await compute?.stop();
  await server?.close();
  await proxy?.stop();
  await lab?.close();
});

describe('Placement faults beside binds', () => {
  it('Placement unreachable: binds go on, the failure is logged once, the inventory converges', async () => {
    proxy.cut();
    const failedBefore = await failedSyncs();
    await bindOne();
    await bindOne();
    await bindOne();
    await unbindOne();
    await waitFor('three failed syncs, retried with backoff', async () => {
      return (await failedSyncs()) >= failedBefore + 3;
    });
    await bindOne();
    assert.equal(sync.service.status().state, 'failing');
    assert.equal(failureLines().length, 1, JSON.stringify(failureLines()));
    proxy.restore();
    // Three ports bound without Nova: three slots reserved.
    await waitFor(
      'reserved = ports bound during the outage',
      async () => (await reserved()) === 3,
      20_000,
    );
    await waitFor('in sync', () => sync.service.status().state === 'in_sync');
    assert.ok(sync.logs.some((line) => line.msg === 'Placement inventory in sync again'));
  });

  it('Placement restarted: binds go on, and the inventory converges afterwards', async () => {
    await lab.placement.stop();
    await unbindOne();
    await unbindOne();
    await bindOne();
    await waitFor('the sync to notice', () => sync.service.status().state === 'failing');
    await bindOne();
    await lab.placement.start();
    await waitFor(
      'reserved = ports bound after the restart',
      async () => (await reserved()) === 3,
      20_000,
    );
    assert.equal(bound.length, 3);
  });
});
