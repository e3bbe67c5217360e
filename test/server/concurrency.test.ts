import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys, parseKey } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost, wideConfig } from './compute-host.js';
import type { TestServer } from './harness.js';
import { bindBody, newPort, startTestServer } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let servers: TestServer[] = [];
const hosts: ComputeHost[] = [];

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  servers = [
    await startTestServer(etcd, { bindTimeoutMs: 30_000 }),
    await startTestServer(etcd, { bindTimeoutMs: 30_000 }),
  ];
});
after(async () => {
  for (const server of servers) await server.close();
  for (const host of hosts) await host.stop();
  store?.close();
  await etcd?.dispose();
});

interface Answer {
  bound: boolean;
  reason?: string;
  detail?: string;
  vhost_id?: number;
}

/** Checks etcd: every held slot's port has a bind_port naming that slot, and vice versa. */
async function assertConsistent(host: string, boundPorts: Map<string, number>): Promise<void> {
  const slots = (await store.getPrefix(keys.hostPrefix('vhost', host))).kvs;
  const holders = new Map<string, number[]>();
  for (const kv of slots) {
    const parsed = parseKey(kv.key);
    if (parsed?.kind !== 'vhost' || kv.value === 'None') continue;
    holders.set(kv.value, [...(holders.get(kv.value) ?? []), parsed.vhostId]);
  }
  for (const [portId, held] of holders) {
    assert.equal(held.length, 1, `port ${portId} holds ${held.length} slots`);
  }
  assert.equal(holders.size, boundPorts.size, 'slots held == ports bound');
  for (const [portId, vhostId] of boundPorts) {
    assert.deepEqual(holders.get(portId), [vhostId], `slot of ${portId}`);
    const bp = JSON.parse((await store.get(keys.bindPort(host, portId)))?.value ?? '{}');
    assert.equal(bp.vhost_id, vhostId);
  }
  const bindPorts = (await store.getPrefix(keys.hostPrefix('bind_port', host))).kvs;
  assert.equal(bindPorts.length, boundPorts.size, 'no bind_port of a refused port remains');
}

describe('concurrent binds', () => {
  it('two service instances binding 150 ports to one 120-slot host: no double allocation', async () => {
    hosts.push(await startComputeHost({ store, host: 'crowd', config: wideConfig('phys1', 120) }));
    const ports = Array.from({ length: 150 }, () => newPort());
    const answers = await Promise.all(
      ports.map(async (port, index) => {
        const server = servers[index % 2] as TestServer;
        const answer = await server.post('/v1/ml2/bind', bindBody(port, 'crowd'));
        assert.equal(answer.status, 200, answer.text);
        return { port, answer: answer.body as Answer };
      }),
    );
    const bound = answers.filter(({ answer }) => answer.bound);
    const refused = answers.filter(({ answer }) => !answer.bound);
    assert.equal(bound.length, 120, 'every slot used');
    assert.deepEqual(
      [...new Set(refused.map(({ answer }) => answer.reason))],
      ['no_free_vhost'],
      JSON.stringify(refused.slice(0, 3)),
    );
    const vhostIds = bound.map(({ answer }) => answer.vhost_id);
    assert.equal(new Set(vhostIds).size, 120, 'no vhost given twice');
    await assertConsistent(
      'crowd',
      new Map(bound.map(({ port, answer }) => [port.id, answer.vhost_id as number])),
    );
    const requests = servers
      .flatMap((server) => server.logs)
      .filter((entry) => entry.msg === 'bind' && entry.result === 'bound')
      .map((entry) => entry.etcd_requests as number);
    const mean = requests.reduce((sum, n) => sum + n, 0) / requests.length;
    assert.ok(mean <= 3, `mean etcd requests per bind ${mean} under contention`);
  });

  it('binds over 20 hosts at once, 8 per host', async () => {
    for (let i = 0; i < 20; i++) {
      hosts.push(
        await startComputeHost({ store, host: `many-${i}`, config: wideConfig('phys1', 8) }),
      );
    }
    const jobs = Array.from({ length: 160 }, (_, index) => ({
      port: newPort(),
      host: `many-${index % 20}`,
    }));
    const answers = await Promise.all(
      jobs.map(async (job, index) => {
        const server = servers[index % 2] as TestServer;
        const answer = await server.post('/v1/ml2/bind', bindBody(job.port, job.host));
        return { ...job, answer: answer.body as Answer };
      }),
    );
    for (const { answer } of answers) assert.equal(answer.bound, true, answer.detail);
    for (let i = 0; i < 20; i++) {
      const host = `many-${i}`;
      await assertConsistent(
        host,
        new Map(
          answers
            .filter((entry) => entry.host === host)
            .map((entry) => [entry.port.id, entry.answer.vhost_id as number]),
        ),
      );
    }
  });
});
