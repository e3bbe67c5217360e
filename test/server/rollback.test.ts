import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import type { TestServer } from './harness.js';
import { bindBody, newPort, startTestServer } from './harness.js';

const TIMEOUT_MS = 600;

let etcd: EtcdServer;
let store: EtcdStore;
let server: TestServer;
const hosts: ComputeHost[] = [];
/** Ports for which the rollback hook writes `up` just before the rollback (a late answer). */
const upBeforeRollback = new Set<string>();

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(
    etcd,
    { bindTimeoutMs: TIMEOUT_MS },
    {
      beforeRollback: async (host, portId) => {
        if (upBeforeRollback.has(portId)) await store.put(keys.portStatus(host, portId), 'up');
      },
    },
  );
});
after(async () => {
  await server?.close();
  for (const host of hosts) await host.stop();
  store?.close();
  await etcd?.dispose();
});

async function computeHost(host: string, guardedStatus = true) {
  const started = await startComputeHost({
    store,
    host,
    mappings: '00:04.0#phys1#2#0xfe',
    guardedStatus,
  });
  hosts.push(started);
  return started;
}

/** Every key of the port on the host, and which slots it holds: empty when clean. */
async function portTraces(host: string, portId: string): Promise<string[]> {
  const found: string[] = [];
  for (const key of [
    keys.bindPort(host, portId),
    keys.action(host, portId),
    keys.portStatus(host, portId),
  ]) {
    const kv = await store.get(key);
    if (kv) found.push(`${key}=${kv.value}`);
  }
  for (const kv of (await store.getPrefix(keys.hostPrefix('vhost', host))).kvs) {
    if (kv.value === portId) found.push(`${kv.key}=${kv.value}`);
  }
  return found;
}

async function bind(body: unknown) {
  const answer = await server.post('/v1/ml2/bind', body);
  assert.equal(answer.status, 200, answer.text);
  return answer.body as { bound: boolean; reason?: string; detail?: string; vhost_id?: number };
}

describe('bind timeouts leave nothing behind', () => {
  it('agent killed mid-bind: timeout, clean rollback, a later bind succeeds', async () => {
    const host = await computeHost('kill-1');
    await host.agent?.kill(); // lease left to expire (5 s): the agent still counts as alive
    const port = newPort();
    const started = Date.now();
    const answer = await bind(bindBody(port, 'kill-1'));
    assert.equal(answer.bound, false);
    assert.equal(answer.reason, 'timeout');
    assert.match(answer.detail ?? '', /slot was freed/);
    assert.ok(Date.now() - started >= TIMEOUT_MS - 50, 'waited for the configured timeout');
    assert.deepEqual(await portTraces('kill-1', port.id), []);
    assert.equal(await store.get(keys.vhost('kill-1', 'phys1', 0)).then((kv) => kv?.value), 'None');
    const timeoutLine = server.logs.find(
      (entry) => entry.msg === 'bind' && entry.port_id === port.id,
    );
    assert.equal(timeoutLine?.result, 'timeout');
    assert.ok((timeoutLine?.etcd_requests as number) <= 3, '(read,) claim, rollback');
    await host.startAgent();
    const again = await bind(bindBody(port, 'kill-1'));
    assert.equal(again.bound, true, again.detail);
    assert.equal(again.vhost_id, 0);
  });

  it('an up that arrives just before the rollback makes the bind succeed', async () => {
    const host = await computeHost('race-1');
    host.agent?.pause();
    const port = newPort();
    upBeforeRollback.add(port.id);
    const answer = await bind(bindBody(port, 'race-1'));
    assert.equal(answer.bound, true, answer.detail);
    assert.equal(answer.vhost_id, 0);
    assert.equal(
      await store.get(keys.vhost('race-1', 'phys1', 0)).then((kv) => kv?.value),
      port.id,
      'the slot stays with the port',
    );
    assert.equal(await store.get(keys.action('race-1', port.id)).then((kv) => kv?.value), 'plug');
  });

  it('a late up from an agent that checks its request is never written', async () => {
    const host = await computeHost('late-guarded');
    const agent = host.agent;
    assert.ok(agent);
    agent.plugDelayMs = TIMEOUT_MS + 300;
    const port = newPort();
    const answer = await bind(bindBody(port, 'late-guarded'));
    assert.equal(answer.reason, 'timeout');
    // The agent finishes its plug after the rollback; its guarded status write fails.
    await waitFor('the agent to finish the delayed plug', () =>
      agent.plugs === 1 ? true : undefined,
    );
    assert.deepEqual(await portTraces('late-guarded', port.id), []);
  });

  it('a late unconditional up (original agent) is undone with an unplug', async () => {
    const host = await computeHost('late-orig', false);
    const agent = host.agent;
    assert.ok(agent);
    agent.plugDelayMs = TIMEOUT_MS + 300;
    const port = newPort();
    const answer = await bind(bindBody(port, 'late-orig'));
    assert.equal(answer.reason, 'timeout');
    await waitFor('the late up to be written', () => (agent.plugs === 1 ? true : undefined));
    // The service puts the port back on its slot with an unplug request; the agent then
    // removes it from SPP, frees the slot and deletes the keys.
    await waitFor('the agent to process the unplug', () =>
      agent.unplugs === 1 ? true : undefined,
    );
    await waitFor('the port to leave no trace', async () =>
      (await portTraces('late-orig', port.id)).length === 0 ? true : undefined,
    );
    assert.ok(
      server.logs.some(
        (entry) =>
          entry.port_id === port.id && /after the bind was rolled back/.test(String(entry.msg)),
      ),
    );
    agent.plugDelayMs = 0;
    const again = await bind(bindBody(port, 'late-orig'));
    assert.equal(again.bound, true, again.detail);
  });

  it('an unbind while the bind waits ends the bind at once without a rollback', async () => {
    const host = await computeHost('unbind-mid');
    host.agent?.pause();
    const port = newPort();
    const pending = bind(bindBody(port, 'unbind-mid'));
    await waitFor('the plug request', async () =>
      (await store.get(keys.action('unbind-mid', port.id)))?.value === 'plug' ? true : undefined,
    );
    const unbind = await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'unbind-mid' });
    assert.equal((unbind.body as { result: string }).result, 'unplug_requested');
    const answer = await pending;
    assert.equal(answer.bound, false);
    assert.equal(answer.reason, 'error');
    assert.match(answer.detail ?? '', /unbound/);
    host.agent?.resume();
    await waitFor('the agent to unplug and clean', async () =>
      (await portTraces('unbind-mid', port.id)).length === 0 ? true : undefined,
    );
  });
});
