import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import type { PortRequest } from '../../src/lab/port-requests.js';
import { waitFor } from '../harness/wait.js';

export type { PortRequest } from '../../src/lab/port-requests.js';
export { requestPlug } from '../../src/lab/port-requests.js';

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
