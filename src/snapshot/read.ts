import { parseKey } from '../etcd/keys.js';
import type { EtcdStore, KeyValue } from '../etcd/store.js';
import { HostRecord, applyChange } from './host-state.js';
import type { HostState } from './model.js';
import { rangeReads, scopeRanges } from './scope.js';

/** HostStates built from keys read at one revision (any subset of the hosts' keys). */
export function hostsFromKvs(kvs: readonly KeyValue[], onlyHost?: string): Map<string, HostRecord> {
  const hosts = new Map<string, HostRecord>();
  for (const kv of kvs) {
    const parsed = parseKey(kv.key);
    if (!parsed || (onlyHost !== undefined && parsed.host !== onlyHost)) continue;
    applyChange(
      hosts,
      { ...parsed, type: 'put', key: kv.key, modRevision: kv.modRevision },
      kv.value,
      kv.lease,
    );
  }
  return hosts;
}

/** One host's state from `kvs` (keys of other hosts are ignored). */
export function hostFromKvs(host: string, kvs: readonly KeyValue[]): HostState {
  return hostsFromKvs(kvs, host).get(host) ?? new HostRecord(host);
}

/** One host as etcd has it now: every key family, read at one revision. */
export async function readHost(
  store: EtcdStore,
  host: string,
): Promise<{ revision: number; host: HostState }> {
  const snapshot = await store.read(rangeReads(scopeRanges({ host })));
  return { revision: snapshot.revision, host: hostFromKvs(host, snapshot.kvs) };
}

/** Every host as etcd has it now, read at one revision. */
export async function readAllHosts(
  store: EtcdStore,
): Promise<{ revision: number; hosts: Map<string, HostState> }> {
  const snapshot = await store.read(rangeReads(scopeRanges('all')));
  return { revision: snapshot.revision, hosts: hostsFromKvs(snapshot.kvs) };
}

/** The hosts that have an SPP configuration, sorted. */
export function configuredHosts(hosts: Iterable<HostState>): HostState[] {
  return [...hosts]
    .filter((host) => host.configuration !== undefined)
    .sort((a, b) => a.host.localeCompare(b.host));
}
