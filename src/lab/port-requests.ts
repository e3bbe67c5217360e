import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { FREE, encodeJson } from '../etcd/values.js';

/** A port as a mechanism driver asks a compute host's agent to plug it. */
export interface PortRequest {
  portId: string;
  physnet: string;
  vhostId: number;
  mac: string;
  vlanId?: number;
}

/**
 * Writes what a driver writes to plug a port (SYSTEM.md §4 steps 4-5) in one transaction:
 * the slot CAS `None` → port id, bind_port and action `plug`. Resolves with the revision.
 */
export async function requestPlug(
  store: EtcdStore,
  host: string,
  port: PortRequest,
): Promise<number> {
  const slot = keys.vhost(host, port.physnet, port.vhostId);
  const result = await store.transaction(
    [{ key: slot, equals: FREE }],
    [
      { put: slot, value: port.portId },
      {
        put: keys.bindPort(host, port.portId),
        value: encodeJson({
          mac_address: port.mac,
          vhost_id: port.vhostId,
          ...(port.vlanId !== undefined ? { vlan_id: port.vlanId } : {}),
        }),
      },
      { put: keys.action(host, port.portId), value: 'plug' },
    ],
  );
  if (!result.succeeded) throw new Error(`slot ${port.physnet}/${port.vhostId} is not free`);
  return result.revision;
}
