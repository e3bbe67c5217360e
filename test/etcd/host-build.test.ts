import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT, keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { buildHost, deleteHostKeys, slotKeys } from '../../src/hosts/admin.js';
import { valueOf } from '../../src/snapshot/model.js';
import { hostState } from '../harness/host-state.js';
import { parseCustomLayout } from '../../src/layout/custom.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { HostConfig } from '../../src/layout/schema.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { waitFor } from '../harness/wait.js';
import { bigHost } from '../layout/big-host.js';

let etcd: EtcdServer;
let store: EtcdStore;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
});
after(async () => {
  store?.close();
  await etcd?.dispose();
});

function bigConfig(nics: number, vhosts: number, physnetPrefix = 'phys'): HostConfig {
  const { mappings, yaml } = bigHost(nics, vhosts, physnetPrefix);
  return planHostLayout({
    mappings,
    custom: { layout: parseCustomLayout(yaml, 'big.yaml'), file: 'big.yaml' },
  }).config;
}

const small = (): HostConfig => planHostLayout({ mappings: '00:04.0#phys1#1#0x3e' }).config;

/** Every key of `host` now, as key=value lines. */
async function hostKeys(host: string): Promise<Map<string, string>> {
  const snapshot = await store.getPrefix(ROOT);
  return new Map(
    snapshot.kvs.filter((kv) => kv.key.split('/')[4] === host).map((kv) => [kv.key, kv.value]),
  );
}

/**
 * Replays every change to `host` revision by revision (from a watch) and records each
 * revision at which the configuration key exists but the slot keys differ from the
 * ones that configuration defines: what an agent or binding service reading at that
 * revision would see as a half-written or mixed host.
 */
class HostObserver {
  readonly violations: string[] = [];
  configuredRevisions = 0;
  revision = 0;
  private readonly current = new Map<string, string>();
  private readonly controller = new AbortController();
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly host: string) {}

  async start(): Promise<void> {
    const snapshot = await store.getPrefix(ROOT);
    for (const kv of snapshot.kvs) if (this.mine(kv.key)) this.current.set(kv.key, kv.value);
    this.revision = snapshot.revision;
    this.done = (async () => {
      for await (const batch of store.watch(ROOT, snapshot.revision + 1, this.controller.signal)) {
        // Events of one revision are one transaction: check after each revision of ours.
        let at = -1;
        for (const event of batch.events) {
          if (!this.mine(event.key)) continue;
          if (event.modRevision !== at && at !== -1) this.check(at);
          at = event.modRevision;
          if (event.type === 'put') this.current.set(event.key, event.value);
          else this.current.delete(event.key);
        }
        if (at !== -1) this.check(at);
        this.revision = batch.revision;
      }
    })();
  }

  /** Waits until the watch has delivered everything up to now, then stops it. */
  async stop(): Promise<void> {
    const now = await store.put(`${ROOT}test-mark`, String(Date.now()));
    await waitFor('watch caught up', () => this.revision >= now);
    this.controller.abort();
    await this.done;
  }

  private mine(key: string): boolean {
    return key.split('/')[4] === this.host;
  }

  private check(revision: number): void {
    const config = this.current.get(keys.configuration(this.host));
    if (config === undefined) return;
    this.configuredRevisions++;
    const expected = slotKeys(this.host, JSON.parse(config) as HostConfig).sort();
    const stored = [...this.current.keys()]
      .filter(
        (key) =>
          key.startsWith(keys.hostPrefix('vhost', this.host)) ||
          key.startsWith(keys.hostPrefix('mirror', this.host)),
      )
      .sort();
    if (expected.join() !== stored.join()) {
      this.violations.push(
        `revision ${revision}: configuration defines ${expected.length} slot(s), etcd holds ${stored.length}`,
      );
    }
  }
}

async function observe<T>(host: string, work: () => Promise<T>): Promise<[T, HostObserver]> {
  const observer = new HostObserver(host);
  await observer.start();
  try {
    return [await work(), observer];
  } finally {
    await observer.stop();
  }
}

describe('host build beyond one etcd transaction (default --max-txn-ops 128)', () => {
  it('writes an 8 NIC × 16 vhost host in 3 transactions, never visible half-written', async () => {
    const config = bigConfig(8, 16);
    const [result, observer] = await observe('big', () =>
      buildHost(store, 'big', config, { force: false }),
    );
    assert.equal(result.transactions, 3);
    assert.equal(result.written.length, 129);
    const state = await hostState(store, 'big');
    assert.deepEqual(valueOf(state.configuration), config);
    assert.equal(state.slots.size, 128);
    assert.ok(state.sortedSlots().every((slot) => slot.holder.free));
    assert.deepEqual(
      state
        .sortedSlots()
        .map((slot) => `${slot.physnet}/${slot.vhostId}`)
        .slice(15, 17),
      ['phys0/15', 'phys1/16'],
    );
    assert.equal(await store.get(keys.buildLock('big')), undefined);
    assert.deepEqual(observer.violations, []);
    assert.equal(observer.configuredRevisions, 1, 'the configuration appeared once, at the end');
  });

  it('writes a host that fits in one transaction', async () => {
    const result = await buildHost(store, 'one', bigConfig(2, 4), { force: false });
    assert.equal(result.transactions, 1);
    assert.equal((await hostKeys('one')).size, 9);
  });

  it('refuses to rebuild a big host with plugged ports and names them; --force resets it', async () => {
    await store.put(keys.vhost('big', 'phys7', 127), 'port-z');
    await store.put(keys.action('big', 'port-z'), 'plug');
    await assert.rejects(
      () => buildHost(store, 'big', bigConfig(8, 16, 'net'), { force: false }),
      /host big has ports plugged, refusing to overwrite its layout \(use --force to reset it\): vhost 127 \(phys7\) = port port-z$/,
    );
    assert.equal((await store.get(keys.vhost('big', 'phys7', 127)))?.value, 'port-z');
    const config = bigConfig(8, 16, 'net');
    const [result, observer] = await observe('big', () =>
      buildHost(store, 'big', config, { force: true }),
    );
    assert.equal(result.transactions, 3);
    assert.ok(result.removed.includes('port port-z'));
    assert.ok(result.removed.includes(keys.vhost('big', 'phys0', 0)));
    const stored = await hostKeys('big');
    assert.deepEqual(
      [...stored.keys()].sort(),
      [keys.configuration('big'), ...slotKeys('big', config)].sort(),
    );
    assert.deepEqual(observer.violations, []);
  });

  it('two concurrent builds of one host never produce a mixed host', async () => {
    const first = bigConfig(8, 16, 'a');
    const second = bigConfig(8, 16, 'b');
    const [outcomes, observer] = await observe('race', () =>
      Promise.allSettled([
        buildHost(store, 'race', first, { force: false, maxTxnOps: 20 }),
        buildHost(store, 'race', second, { force: false, maxTxnOps: 20 }),
      ]),
    );
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    assert.ok(won.length >= 1, 'at least one build completes');
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        assert.match(
          String(outcome.reason),
          /is being built by another host build|kept changing|has ports plugged/,
        );
      }
    }
    const state = await hostState(store, 'race');
    const stored = [...(await hostKeys('race')).keys()].filter(
      (key) => key !== keys.configuration('race'),
    );
    const config = valueOf(state.configuration);
    assert.ok(config);
    assert.deepEqual(stored.sort(), slotKeys('race', config).sort());
    assert.deepEqual(observer.violations, []);
  });

  it('refuses a second build while a chunked build holds the host', async () => {
    let refusal: unknown;
    await buildHost(store, 'locked', bigConfig(8, 16), {
      force: false,
      afterTransaction: async (count) => {
        if (count !== 2) return;
        refusal = await buildHost(store, 'locked', small(), { force: true }).catch(
          (error: unknown) => error,
        );
      },
    });
    assert.match(
      String(refusal),
      /host locked is being built by another host build \(.* pid \d+ at .*\); try again/,
    );
    assert.equal((await hostState(store, 'locked')).slots.size, 128);
  });

  it('a crashed build frees the host when its lock lease expires', async () => {
    const lease = await store.grantLease(1);
    await store.transaction(
      [],
      [{ put: keys.buildLock('crashed'), value: 'a build that died', lease }],
    );
    await assert.rejects(
      () => buildHost(store, 'crashed', small(), { force: false }),
      /host crashed is being built by another host build \(a build that died\)/,
    );
    const result = await waitFor(
      'the lock lease to expire',
      () => buildHost(store, 'crashed', small(), { force: false }),
      10_000,
      200,
    );
    assert.equal(result.transactions, 1);
  });

  it('restores the previous layout when a later transaction fails', async () => {
    await buildHost(store, 'rb', small(), { force: false });
    const before = await hostKeys('rb');
    const [outcome, observer] = await observe('rb', () =>
      buildHost(store, 'rb', bigConfig(8, 16), {
        force: false,
        afterTransaction: (count) =>
          count === 2 ? Promise.reject(new Error('injected failure')) : Promise.resolve(),
      }).catch((error: unknown) => error),
    );
    assert.match(
      String(outcome),
      /host rb: build failed after 2 transaction\(s\): injected failure; restored the previous layout/,
    );
    assert.deepEqual(await hostKeys('rb'), before);
    assert.deepEqual(observer.violations, []);
  });

  it('removes what it wrote when the build of a new host fails', async () => {
    const outcome = await buildHost(store, 'rb2', bigConfig(8, 16), {
      force: false,
      maxTxnOps: 50,
      afterTransaction: (count) =>
        count === 3 ? Promise.reject(new Error('injected failure')) : Promise.resolve(),
    }).catch((error: unknown) => error);
    assert.match(
      String(outcome),
      /build failed after 3 transaction\(s\): injected failure; removed the keys it had written; the host does not exist/,
    );
    assert.deepEqual([...(await hostKeys('rb2')).keys()], []);
  });

  it('host destroy during a chunked build wins: the build stops and leaves nothing', async () => {
    let removed = 0;
    const outcome = await buildHost(store, 'gone', bigConfig(8, 16), {
      force: false,
      maxTxnOps: 50,
      afterTransaction: async (count) => {
        if (count === 2) removed = (await deleteHostKeys(store, 'gone')).length;
      },
    }).catch((error: unknown) => error);
    assert.equal(removed, 51, 'the lock and the 50 slots written so far');
    assert.match(
      String(outcome),
      /build failed after 2 transaction\(s\): the build lock was taken away .*; the build lock was no longer ours/,
    );
    assert.deepEqual([...(await hostKeys('gone')).keys()], []);
  });

  it('destroys a big host in one transaction, configuration and every slot', async () => {
    const deleted = await deleteHostKeys(store, 'big');
    assert.equal(deleted.length, 129);
    assert.equal(deleted[0]?.key, keys.configuration('big'));
    assert.deepEqual([...(await hostKeys('big')).keys()], []);
  });
});
