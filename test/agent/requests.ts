import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE, encodeJson } from '../../src/etcd/values.js';
import { waitFor } from '../harness/wait.js';

export interface PortRequest {
  portId: string;
  physnet: string;
  vhostId: number;
  mac: string;
  vlanId?: number;
}

/** What a driver writes to plug a port (SYSTEM.md §4 steps 4-5), in one transaction. */
export async function requestPlug(
  store: EtcdStore,
  host: string,
  port: PortRequest,
): Promise<number> {
  const result = await store.transaction(
    [{ key: keys.vhost(host, port.physnet, port.vhostId), equals: FREE }],
    [
      { put: keys.vhost(host, port.physnet, port.vhostId), value: port.portId },
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

export async function requestUnplug(store: EtcdStore, host: string, portId: string): Promise<void> {
  await store.put(keys.action(host, portId), 'unplug');
}

export async function waitForUp(
  store: EtcdStore,
  host: string,
  portId: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    `port_status of ${portId} = up`,
    async () => (await store.get(keys.portStatus(host, portId)))?.value === 'up',
    timeoutMs,
  );
}

/** The unplug is complete: slot free, and bind_port, action, port_status gone. */
export async function waitForUnplugged(
  store: EtcdStore,
  host: string,
  port: PortRequest,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    `unplug of ${port.portId} completed`,
    async () => {
      const slot = await store.get(keys.vhost(host, port.physnet, port.vhostId));
      const left = await Promise.all(
        [keys.bindPort, keys.action, keys.portStatus].map((key) =>
          store.get(key(host, port.portId)),
        ),
      );
      return slot?.value === FREE && left.every((kv) => kv === undefined);
    },
    timeoutMs,
  );
}
