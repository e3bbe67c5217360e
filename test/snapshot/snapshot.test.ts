import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import { keys } from '../../src/etcd/keys.js';
import { EtcdStore } from '../../src/etcd/store.js';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import type { HostState, SnapshotChange, SyncStatus } from '../../src/snapshot/model.js';
import { readAllHosts, readHost } from '../../src/snapshot/read.js';
import { HostSnapshot } from '../../src/snapshot/snapshot.js';
import type { Scope } from '../../src/snapshot/scope.js';
import { compactAll } from '../harness/compact.js';
import { useEtcd } from '../harness/etcd.js';
import { captureLogger, countLines } from '../harness/logs.js';
import { waitFor } from '../harness/wait.js';

/** Everything a HostState says, in a comparable form. */
function dump(host: HostState): unknown {
  const sorted = <T>(items: Iterable<T>, key: (item: T) => string) =>
    [...items].sort((a, b) => key(a).localeCompare(key(b)));
  return {
    host: host.host,
    configuration: host.configuration?.raw,
    agent: host.agent && [host.agent.raw, host.agent.lease],
    slots: sorted(host.slots.values(), (s) => s.key).map((s) => [s.key, s.raw, s.modRevision]),
    ports: sorted(host.ports.values(), (p) => p.portId).map((p) => [
      p.portId,
      p.bindPort?.raw,
      p.action?.raw,
      p.status?.raw,
    ]),
    mirrors: sorted(host.mirrors.values(), (m) => String(m.mirrorId)).map((m) => [
      m.mirrorId,
      m.raw,
    ]),
    taps: sorted(host.taps.values(), (t) => t.flowId).map((t) => [
      t.flowId,
      t.info?.raw,
      t.action?.raw,
    ]),
  };
}

function dumpAll(hosts: Iterable<HostState>): unknown {
  return [...hosts].map(dump).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

interface Running {
  snapshot: HostSnapshot;
  changes: Array<{ change: SnapshotChange; relisted: boolean }>;
  statuses: SyncStatus[];
  lines: ReturnType<typeof captureLogger>['lines'];
  stop(): Promise<void>;
}

async function startSnapshot(store: EtcdStore, scope: Scope): Promise<Running> {
  const { logger, lines } = captureLogger();
  const snapshot = new HostSnapshot(store, scope, logger, { retryMaxMs: 200 });
  const changes: Running['changes'] = [];
  const statuses: SyncStatus[] = [];
  snapshot.listeners.onChanges((batch, relisted) => {
    for (const change of batch) changes.push({ change, relisted });
  });
  snapshot.listeners.onStatus((status) => statuses.push(status));
  const controller = new AbortController();
  assert.equal(await snapshot.load(controller.signal), true);
  const loop = snapshot.run(controller.signal);
  return {
    snapshot,
    changes,
    statuses,
    lines,
    stop: async () => {
      controller.abort();
      await loop;
    },
  };
}

describe('HostSnapshot: list then watch, resume, relist', () => {
  const lab = useEtcd();

  test('one host: keys at start and later changes; other hosts are not in its scope', async () => {
    const { store } = lab;
    await store.put(keys.vhost('c-1', 'phys1', 0), 'None');
    await store.put(keys.configuration('c-10'), '{}');
    const running = await startSnapshot(store, { host: 'c-1' });
    try {
      const host = () => running.snapshot.host('c-1');
      assert.equal(host().slots.size, 1);
      await store.put(keys.vhost('c-1', 'phys1', 0), 'port-1');
      await store.put(keys.action('c-1', 'port-1'), 'plug');
      await store.put(keys.action('c-10', 'port-2'), 'plug');
      await store.put(keys.configuration('c-10'), '{"vf": []}');
      await waitFor('the action of port-1', () => host().ports.get('port-1')?.action);
      assert.deepEqual(
        host()
          .slotsHeldBy('port-1')
          .map((slot) => slot.vhostId),
        [0],
      );
      await store.deleteAtomically([keys.action('c-1', 'port-1')], []);
      await waitFor('the action deleted', () => !host().ports.has('port-1'));
      assert.equal([...running.snapshot.hosts()].length, 1);
      assert.ok(running.changes.every(({ change }) => change.host === 'c-1'));
      // Each key family of a host has its own watch: families may arrive in any order.
      const inRevisionOrder = [...running.changes].sort(
        (a, b) => a.change.modRevision - b.change.modRevision,
      );
      assert.deepEqual(
        inRevisionOrder.map(({ change }) => [change.kind, change.type]),
        [
          ['vhost', 'put'],
          ['action', 'put'],
          ['action', 'delete'],
        ],
      );
    } finally {
      await running.stop();
    }
  });

  test('a lost connection resumes from the last revision seen: nothing lost, nothing twice', async () => {
    const { etcd, store } = lab;
    const proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
    const viaProxy = EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [proxy.endpoint] });
    const running = await startSnapshot(viaProxy, { host: 'resume' });
    try {
      await store.put(keys.action('resume', 'before'), 'plug');
      await waitFor('the first key', () => running.snapshot.host('resume').ports.get('before'));
      proxy.cut();
      await waitFor(
        'the snapshot to see the disconnect',
        () => running.snapshot.status === 'disconnected',
      );
      for (let index = 0; index < 5; index++)
        await store.put(keys.action('resume', `p${index}`), 'plug');
      await store.deleteAtomically([keys.action('resume', 'before')], []);
      proxy.restore();
      await waitFor(
        'the keys written while cut off',
        () => running.snapshot.host('resume').ports.size === 5,
        15_000,
      );
      const puts = running.changes
        .filter(({ change }) => change.type === 'put')
        .map(({ change }) => change.key);
      assert.deepEqual(
        puts,
        ['before', 'p0', 'p1', 'p2', 'p3', 'p4'].map((id) => keys.action('resume', id)),
      );
      assert.ok(
        running.changes.every(({ relisted }) => !relisted),
        'resumed, not re-read',
      );
      await waitFor('synced again', () => running.snapshot.status === 'synced');
      assert.deepEqual(running.statuses, ['synced', 'disconnected', 'synced']);
      assert.equal(
        countLines(running.lines, 'etcd watch disconnected; resuming from the last revision seen'),
        1,
      );
      assert.equal(countLines(running.lines, 'etcd watch resumed'), 1);
    } finally {
      await running.stop();
      viaProxy.close();
      await proxy.stop();
    }
  });

  test('history compacted while cut off: re-read, deletions reported, waiting listeners told', async () => {
    const { etcd, store } = lab;
    const proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
    const viaProxy = EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [proxy.endpoint] });
    await store.put(keys.action('compact', 'gone'), 'plug');
    await store.put(keys.action('compact', 'kept'), 'plug');
    const running = await startSnapshot(viaProxy, 'all');
    const resyncs: string[] = [];
    running.snapshot.listeners.onKeys([keys.portStatus('compact', 'kept')], (event) =>
      resyncs.push(event.type),
    );
    try {
      proxy.cut();
      await waitFor(
        'the snapshot to see the disconnect',
        () => running.snapshot.status === 'disconnected',
      );
      await store.deleteAtomically([keys.action('compact', 'gone')], []);
      await store.put(keys.action('compact', 'new'), 'unplug');
      await compactAll(store);
      proxy.restore();
      await waitFor('the re-read', () => running.snapshot.host('compact').ports.has('new'), 15_000);
      const host = running.snapshot.host('compact');
      assert.deepEqual([...host.ports.keys()].sort(), ['kept', 'new']);
      const relisted = running.changes
        .filter((entry) => entry.relisted)
        .map(({ change }) => [change.key, change.type]);
      assert.deepEqual(relisted.sort(), [
        [keys.action('compact', 'gone'), 'delete'],
        [keys.action('compact', 'new'), 'put'],
      ]);
      assert.deepEqual(resyncs, ['resync']);
      assert.equal(countLines(running.lines, 'etcd snapshot re-read; watching again'), 1);
      assert.ok(running.statuses.includes('resyncing'));
      assert.equal(running.snapshot.status, 'synced');
    } finally {
      await running.stop();
      viaProxy.close();
      await proxy.stop();
    }
  });

  test('rewatch() re-creates the watches without losing events', async () => {
    const { store } = lab;
    const running = await startSnapshot(store, { host: 'rewatch' });
    try {
      running.snapshot.rewatch();
      for (let index = 0; index < 3; index++)
        await store.put(keys.action('rewatch', `p${index}`), 'plug');
      running.snapshot.rewatch();
      await store.put(keys.portStatus('rewatch', 'p0'), 'up');
      await waitFor('all keys', () => running.snapshot.host('rewatch').ports.get('p0')?.status);
      assert.equal(running.snapshot.host('rewatch').ports.size, 3);
      assert.equal(running.changes.length, 4);
    } finally {
      await running.stop();
    }
  });

  test('the status stream starts with the current status and ends with the snapshot', async () => {
    const { store } = lab;
    const running = await startSnapshot(store, { host: 'stream' });
    const seen: SyncStatus[] = [];
    const reader = (async () => {
      for await (const status of running.snapshot.listeners.stream(
        running.snapshot.status,
        new AbortController().signal,
      ))
        seen.push(status);
    })();
    await running.stop();
    await reader;
    assert.deepEqual(seen, ['synced']);
  });
});

describe('HostSnapshot property: after any sequence of changes it equals a fresh read', () => {
  const lab = useEtcd();
  let proxy: TcpProxy;
  let viaProxy: EtcdStore;

  before(async () => {
    proxy = await TcpProxy.start('127.0.0.1', lab.etcd.clientPort);
    viaProxy = EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [proxy.endpoint] });
  });
  after(async () => {
    viaProxy?.close();
    await proxy?.stop();
  });

  const hostName = fc.constantFrom('h1', 'h2', 'h10');
  const portId = fc.constantFrom('pa', 'pb', 'pc');
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('slot' as const),
      host: hostName,
      vhost: fc.integer({ min: 0, max: 3 }),
      value: fc.constantFrom('None', 'pa', 'pb', ''),
    }),
    fc.record({
      kind: fc.constant('action' as const),
      host: hostName,
      port: portId,
      value: fc.constantFrom('plug', 'unplug', 'bad'),
    }),
    fc.record({ kind: fc.constant('delete-port' as const), host: hostName, port: portId }),
    fc.record({ kind: fc.constant('delete-host' as const), host: hostName }),
    { arbitrary: fc.record({ kind: fc.constant('cut' as const) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('compact' as const) }), weight: 2 },
  );
  type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

  async function apply(store: EtcdStore, step: Op, cut: { on: boolean }): Promise<void> {
    switch (step.kind) {
      case 'slot':
        await store.put(keys.vhost(step.host, 'phys1', step.vhost), step.value);
        return;
      case 'action':
        await store.transaction(
          [],
          [
            { put: keys.action(step.host, step.port), value: step.value },
            {
              put: keys.bindPort(step.host, step.port),
              value: '{"mac_address": "FA:16:3E:00:00:01", "vhost_id": 0}',
            },
          ],
        );
        return;
      case 'delete-port':
        await store.deleteAtomically(
          [keys.action(step.host, step.port), keys.bindPort(step.host, step.port)],
          [],
        );
        return;
      case 'delete-host':
        await store.deleteAtomically(
          [],
          ['vhost', 'action', 'bind_port'].map((kind) =>
            keys.hostPrefix(kind as 'vhost', step.host),
          ),
        );
        return;
      case 'cut':
        if (cut.on) proxy.restore();
        else proxy.cut();
        cut.on = !cut.on;
        return;
      case 'compact':
        await compactAll(store);
        return;
    }
  }

  for (const scope of ['all', { host: 'h1' }] as Scope[]) {
    test(`scope ${scope === 'all' ? 'all hosts' : 'one host'}`, async () => {
      const seed = Number(process.env.SNAPSHOT_SEED ?? 20261201);
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 16 }), async (steps) => {
          const { store } = lab;
          await store.deleteAtomically([], ['/spp/openstack/']);
          // Start from a populated etcd, so that changes made while cut off include deletions.
          for (const host of ['h1', 'h2', 'h10'] as const) {
            for (const port of ['pa', 'pb', 'pc'] as const) {
              await apply(store, { kind: 'action', host, port, value: 'plug' }, { on: false });
            }
            await apply(store, { kind: 'slot', host, vhost: 0, value: 'pa' }, { on: false });
          }
          const running = await startSnapshot(viaProxy, scope);
          const cut = { on: false };
          try {
            for (const step of steps) await apply(store, step, cut);
            if (cut.on) proxy.restore();
            const expected = async () =>
              scope === 'all'
                ? dumpAll((await readAllHosts(store)).hosts.values())
                : dumpAll([(await readHost(store, 'h1')).host]);
            await waitFor(
              'the snapshot to equal a fresh read',
              async () => {
                const want = JSON.stringify(await expected());
                const have = JSON.stringify(
                  scope === 'all'
                    ? dumpAll(running.snapshot.hosts())
                    : dumpAll([running.snapshot.host('h1')]),
                );
                return want === have;
              },
              15_000,
            );
          } finally {
            await running.stop();
          }
        }),
        { numRuns: 25, seed },
      );
    });
  }
});
