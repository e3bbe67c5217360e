import { HOST_PREFIX_KINDS, keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FREE } from '../../src/etcd/values.js';
import type { LogLine } from '../../src/lab/agent-process.js';
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

/**
 * Awaits `wait`; when it fails, the error also carries the agent's last log lines and the
 * host's keys in etcd, so that a failure seen once in a full run can be explained.
 */
export async function explainFailure<T>(
  wait: Promise<T>,
  store: EtcdStore,
  host: string,
  logs: readonly LogLine[],
): Promise<T> {
  try {
    return await wait;
  } catch (error) {
    const reads = HOST_PREFIX_KINDS.map((kind) => store.getPrefix(keys.hostPrefix(kind, host)));
    const kvs = (await Promise.all(reads)).flatMap((snapshot) => snapshot.kvs);
    const held = kvs.map((kv) => `  ${kv.key} = ${kv.value}`).join('\n');
    const logged = logs
      .slice(-40)
      .map((line) => `  ${JSON.stringify(line)}`)
      .join('\n');
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\netcd keys of ${host}:\n${held}\nagent log (last 40):\n${logged}`);
  }
}
