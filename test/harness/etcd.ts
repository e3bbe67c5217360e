import { after, before } from 'node:test';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { EtcdStore } from '../../src/etcd/store.js';

export interface EtcdFixture {
  readonly etcd: EtcdServer;
  readonly store: EtcdStore;
}

/**
 * A private etcd and a client of it for the enclosing `describe`: started before its first
 * test, stopped (and its data removed) after its last. Call it inside `describe`.
 */
export function useEtcd(): EtcdFixture {
  let etcd: EtcdServer | undefined;
  let store: EtcdStore | undefined;
  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
  });
  after(async () => {
    store?.close();
    await etcd?.dispose();
  });
  return {
    get etcd() {
      if (!etcd) throw new Error('etcd fixture used before it started');
      return etcd;
    },
    get store() {
      if (!store) throw new Error('etcd fixture used before it started');
      return store;
    },
  };
}
