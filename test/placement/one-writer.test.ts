import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import { keys } from '../../src/etcd/keys.js';
import { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { buildHost } from '../../src/hosts/admin.js';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { PlacementApi } from '../../src/placement/client.js';
import { SnapshotCapacitySource } from '../../src/placement/snapshot-source.js';
import { waitFor } from '../harness/wait.js';
import type { PlacementLab, RunningSync } from './harness.js';
import {
  capturedLogger,
  novaComputeNode,
  runSync,
  sppProviders,
  startLab,
  syncOptions,
} from './harness.js';

const PROVIDER = 'cw1:SPP neutron agent:phys1';
const WRITES = new Set([
  'ensureResourceClass',
  'ensureTrait',
  'createProvider',
  'setInventories',
  'setTraits',
  'deleteProvider',
]);

interface Write {
  instance: string;
  method: string;
  started: number;
  ended: number;
}

let lab: PlacementLab;
const writes: Write[] = [];
const stores: EtcdStore[] = [];
const running = new Map<string, RunningSync>();

/** Records every write an instance makes to Placement, with when it started and ended. */
function recording(instance: string): (api: PlacementApi) => PlacementApi {
  return (api) =>
    new Proxy(api, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function' || !WRITES.has(String(property))) {
          return typeof value === 'function'
            ? (value as (...a: unknown[]) => unknown).bind(target)
            : value;
        }
        return async (...args: unknown[]) => {
          const started = performance.now();
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            writes.push({ instance, method: String(property), started, ended: performance.now() });
          }
        };
      },
    });
}

function start(instance: string, store: EtcdStore, source?: SnapshotCapacitySource): RunningSync {
  const sync = runSync(syncOptions(lab.placement.url, { syncIntervalMs: 500 }), {
    store,
    instanceId: instance,
    wrapApi: recording(instance),
    ...(source ? { source } : {}),
  });
  running.set(instance, sync);
  return sync;
}

function ownStore(endpoint = lab.etcd.endpoint): EtcdStore {
  const store = EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [endpoint] });
  stores.push(store);
  return store;
}

const leaders = () =>
  [...running].filter(([, sync]) => sync.service.status().leader).map(([id]) => id);
const writersOf = (list: Write[]) => [...new Set(list.map((each) => each.instance))];

/** A port bound and unbound without Nova: the slot's value, as the binding service writes it. */
async function flipSlot(vhostId: number): Promise<void> {
  const key = keys.vhost('cw1', 'phys1', vhostId);
  const port = randomUUID();
  assert.ok(await lab.store.compareAndSwap(key, FREE, port));
}

async function reserved(): Promise<number | undefined> {
  return (await sppProviders(lab.admin)).get(PROVIDER)?.reserved;
}

/** The writers in time order, runs merged: [A, B] means all of A's writes ended before B's began. */
function handovers(list: Write[]): string[] {
  const sorted = [...list].sort((a, b) => a.started - b.started);
  const sequence: string[] = [];
  for (const write of sorted) if (sequence.at(-1) !== write.instance) sequence.push(write.instance);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1] as Write;
    const current = sorted[i] as Write;
    if (previous.instance !== current.instance) {
      assert.ok(
        previous.ended <= current.started,
        `${previous.instance} still writing when ${current.instance} began`,
      );
    }
  }
  return sequence;
}

before(async () => {
  lab = await startLab();
  await buildHost(lab.store, 'cw1', planHostLayout({ mappings: '00:04.0#phys1#4#0x7ff' }).config, {
    force: true,
  });
  await novaComputeNode(lab.admin, 'cw1');
});

after(async () => {
  for (const sync of running.values()) await sync.stop();
  for (const store of stores) store.close();
  await lab?.close();
});

describe('one writer among several binding-service instances', () => {
  it('only the elected instance writes', async () => {
    start('A', ownStore());
    start('B', ownStore());
    await waitFor('the provider', async () => (await reserved()) === 0, 20_000);
    await waitFor('one leader', () => leaders().length === 1);
    await flipSlot(0);
    await waitFor('one reserved slot', async () => (await reserved()) === 1);
    assert.deepEqual(leaders().length, 1);
    assert.deepEqual(writersOf(writes), leaders());
    const follower = [...running.keys()].find((id) => !leaders().includes(id)) as string;
    assert.equal(running.get(follower)?.service.status().state, 'follower');
  });

  it('a leader that stops hands over; the next one writes only after it', async () => {
    const first = leaders()[0] as string;
    const second = [...running.keys()].find((id) => id !== first) as string;
    await running.get(first)?.stop();
    running.delete(first);
    await waitFor('the other instance to lead', () => leaders()[0] === second, 10_000);
    await flipSlot(1);
    await waitFor('two reserved slots', async () => (await reserved()) === 2);
    assert.deepEqual(handovers(writes), [first, second]);
  });

  it('a leader cut off from etcd stops writing before another takes over', async () => {
    // C elects through a proxy to etcd but reads the hosts directly, so it keeps seeing
    // changes (and would write them) after the cut.
    const proxy = await TcpProxy.start('127.0.0.1', lab.etcd.clientPort);
    const { logger } = capturedLogger();
    const direct = ownStore();
    const source = new SnapshotCapacitySource(direct, logger);
    const sourceRun = new AbortController();
    const sourceDone = source.run(sourceRun.signal);
    try {
      const previous = leaders()[0] as string;
      start('C', ownStore(proxy.endpoint), source);
      await running.get(previous)?.stop();
      running.delete(previous);
      await waitFor('C to lead', () => leaders()[0] === 'C', 10_000);
      await flipSlot(2);
      await waitFor('C to write', async () => (await reserved()) === 3);
      start('D', ownStore());
      proxy.cut();
      const cutAt = performance.now();
      // Changes while C is cut off: C sees them; it must not write them once unsure.
      const key = keys.vhost('cw1', 'phys1', 3);
      for (let i = 0; i < 8; i++) {
        await lab.store.put(key, i % 2 === 0 ? randomUUID() : FREE);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await waitFor('D to lead', () => running.get('D')?.service.status().leader === true, 15_000);
      await lab.store.put(key, randomUUID());
      await waitFor('D to converge', async () => (await reserved()) === 4, 15_000);
      const sequence = handovers(writes);
      assert.deepEqual(sequence.slice(-2), ['C', 'D']);
      const lastOfC = Math.max(...writes.filter((w) => w.instance === 'C').map((w) => w.ended));
      assert.ok(lastOfC < cutAt + 4000, 'C stopped writing within its lease TTL of the cut');
      assert.equal(running.get('C')?.service.status().leader, false);
    } finally {
      sourceRun.abort();
      await sourceDone;
      await proxy.stop();
    }
  });
});
