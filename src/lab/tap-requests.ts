import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { FREE, encodeJson } from '../etcd/values.js';

/** A tap flow as the original TaaS driver asks a compute host's agent to plug it. */
export interface TapRequest {
  flowId: string;
  sourcePort: string;
  servicePort: string;
  direction: 'IN' | 'OUT' | 'BOTH';
}

/**
 * Writes what the original TaaS driver writes (SYSTEM.md §5.3.1), in its order and as
 * separate requests: for each direction the first free mirror slot CAS `None` → flow id,
 * then tap_info (Python json.dumps, its key order), then tap_action `plug`. Resolves with
 * the mirror ids taken.
 */
export async function requestTapPlug(
  store: EtcdStore,
  host: string,
  tap: TapRequest,
): Promise<{ mirrorIn: number | null; mirrorOut: number | null }> {
  const take = async (): Promise<number> => {
    const slots = await store.getPrefix(keys.hostPrefix('mirror', host));
    const sorted = slots.kvs
      .map((kv) => ({ kv, id: Number(kv.key.slice(kv.key.lastIndexOf('/') + 1)) }))
      .sort((a, b) => a.id - b.id);
    for (const { kv, id } of sorted) {
      if (kv.value !== FREE) continue;
      if (await store.compareAndSwap(kv.key, FREE, tap.flowId)) return id;
    }
    throw new Error(`no free mirror on ${host}`);
  };
  const mirrorIn = tap.direction === 'OUT' ? null : await take();
  const mirrorOut = tap.direction === 'IN' ? null : await take();
  await store.put(
    keys.tapInfo(host, tap.flowId),
    encodeJson({
      service_port: tap.servicePort,
      source_port: tap.sourcePort,
      mirror_in: mirrorIn,
      mirror_out: mirrorOut,
    }),
  );
  await store.put(keys.tapAction(host, tap.flowId), 'plug');
  return { mirrorIn, mirrorOut };
}

/** The original TaaS driver's delete: tap_action `unplug` if the key exists. */
export async function requestTapUnplug(
  store: EtcdStore,
  host: string,
  flowId: string,
): Promise<void> {
  const key = keys.tapAction(host, flowId);
  if (await store.get(key)) await store.put(key, 'unplug');
}
