import type { Etcd3 } from 'etcd3';
import type { EtcdStore } from '../../src/etcd/store.js';

/** Compacts etcd's history up to its current revision, so no watch can resume before it. */
export async function compactAll(store: EtcdStore): Promise<number> {
  const revision = await store.put('/test/compaction-marker', String(Date.now()));
  await (store.client as Etcd3).kv.compact({ revision: String(revision), physical: true });
  return revision;
}
