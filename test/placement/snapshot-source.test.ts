import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import { keys } from '../../src/etcd/keys.js';
import { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import { buildHost, deleteHostKeys } from '../../src/hosts/admin.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { TcpProxy } from '../../src/lab/tcp-proxy.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { SnapshotCapacitySource } from '../../src/placement/snapshot-source.js';
import { waitFor } from '../harness/wait.js';
import { capturedLogger } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let proxy: TcpProxy;
let sourceStore: EtcdStore;
let source: SnapshotCapacitySource;
let logs: Array<Record<string, unknown>>;
const controller = new AbortController();
let running: Promise<void>;
let changes = 0;

const physnetsOf = (host: string) => source.current()?.find((each) => each.host === host);

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  await buildHost(
    store,
    'es1',
    planHostLayout({ mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02' }).config,
    {
      force: true,
    },
  );
  proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
  sourceStore = EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [proxy.endpoint] });
  const captured = capturedLogger();
  logs = captured.logs;
  source = new SnapshotCapacitySource(sourceStore, captured.logger);
  source.onChange(() => changes++);
  running = source.run(controller.signal);
});

after(async () => {
  controller.abort();
  await running;
  sourceStore.close();
  await proxy.stop();
  store.close();
  await etcd.dispose();
});

describe('hosts read from etcd for Placement', () => {
  it('reads layouts and slot use, then follows changes', async () => {
    await waitFor('the first read', () => source.current() !== undefined);
    assert.deepEqual(physnetsOf('es1'), {
      host: 'es1',
      physnets: [
        { physnet: 'phys1', slots: 2, used: 0 },
        { physnet: 'phys2', slots: 2, used: 0 },
      ],
    });
    const before = changes;
    await store.compareAndSwap(keys.vhost('es1', 'phys2', 3), FREE, 'port-1');
    await waitFor('the slot change', () => physnetsOf('es1')?.physnets[1]?.used === 1);
    assert.ok(changes > before, 'listeners were told');
  });

  it('marks an unreadable layout instead of dropping the host', async () => {
    await store.put(keys.configuration('es2'), '{"vf": [');
    const entry = await waitFor('es2 seen', () => physnetsOf('es2'));
    source.current();
    assert.match(entry.problem ?? '', /configuration\/es2: value is not JSON/);
    assert.equal(logs.filter((line) => line.host === 'es2').length, 1);
    const seen = changes;
    await store.put(keys.configuration('es2'), '{"vf": [');
    await waitFor('the rewrite seen', () => changes > seen);
    source.current();
    assert.equal(logs.filter((line) => line.host === 'es2').length, 1, 'logged once per problem');
  });

  it('catches up after a partition during which its history was compacted', async () => {
    proxy.cut();
    await deleteHostKeys(store, 'es2');
    await store.compareAndSwap(keys.vhost('es1', 'phys1', 0), FREE, 'port-2');
    const latest = await store.put('/spp/openstack/test/noise', 'x');
    await (store.client as Etcd3).kv.compact({ revision: String(latest), physical: true });
    proxy.restore();
    await waitFor(
      'es2 gone and es1 phys1 used',
      () => {
        return physnetsOf('es2') === undefined && physnetsOf('es1')?.physnets[0]?.used === 1;
      },
      20_000,
    );
    assert.equal(physnetsOf('es1')?.physnets[1]?.used, 1);
    assert.ok(
      logs.some((line) => line.msg === 'etcd cancelled a watch (history compacted); re-reading'),
      'the compacted watch was noticed',
    );
  });
});
