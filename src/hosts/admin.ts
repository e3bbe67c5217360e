import type { Condition, EtcdStore, KeyValue, Operation } from '../etcd/store.js';
import { HOST_PREFIX_KINDS, keys } from '../etcd/keys.js';
import { FREE } from '../etcd/values.js';
import { pythonJsonDumps } from '../layout/pyjson.js';
import type { HostConfig } from '../layout/schema.js';
import { InputError } from '../util/errors.js';
import { readHostState } from './state.js';

/** The slot keys (all `None`) that belong to a host configuration, in vhost order. */
export function slotKeys(host: string, config: HostConfig): string[] {
  const result: string[] = [];
  let vhostId = 0;
  for (const vf of config.vf) {
    for (let i = 0; i < vf.num_vhost; i++)
      result.push(keys.vhost(host, vf.physical_network, vhostId++));
  }
  (config.mirror ?? []).forEach((_, index) => result.push(keys.mirror(host, index)));
  return result;
}

export interface BuildResult {
  revision: number;
  written: string[];
  removed: string[];
}

/**
 * Writes `configuration/<host>` and every slot as `None` in one transaction. Refuses when
 * the host already has ports or tap flows holding slots, unless `force`, in which case
 * their port keys are removed too (the agent then unplugs what SPP still carries).
 */
export async function buildHost(
  store: EtcdStore,
  host: string,
  config: HostConfig,
  options: { force: boolean },
): Promise<BuildResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const state = await readHostState(store, host);
    const used = state.slots.filter((slot) => slot.portId !== null);
    const usedMirrors = state.mirrors.filter((mirror) => mirror.flowId !== null);
    if (!options.force && (used.length > 0 || usedMirrors.length > 0 || state.ports.size > 0)) {
      const inUse = [
        ...used.map((slot) => `vhost ${slot.vhostId} (${slot.physnet}) = port ${slot.portId}`),
        ...usedMirrors.map((mirror) => `mirror ${mirror.mirrorId} = tap flow ${mirror.flowId}`),
        ...[...state.ports.keys()]
          .filter((portId) => !used.some((slot) => slot.portId === portId))
          .map((portId) => `port ${portId} (bind_port/action keys)`),
      ];
      throw new InputError(
        `host ${host} has ports plugged, refusing to overwrite its layout (use --force to reset it): ${inUse.join('; ')}`,
      );
    }
    const newSlots = slotKeys(host, config);
    const oldSlots = [
      ...state.slots.map((slot) => keys.vhost(host, slot.physnet, slot.vhostId)),
      ...state.mirrors.map((mirror) => keys.mirror(host, mirror.mirrorId)),
    ];
    const stale = oldSlots.filter((key) => !newSlots.includes(key));
    const portPrefixes = options.force
      ? (
          ['bind_port', 'action', 'port_status', 'tap_info', 'tap_action', 'tap_status'] as const
        ).map((kind) => keys.hostPrefix(kind, host))
      : [];
    const configKey = keys.configuration(host);
    const configKv = await store.get(configKey);
    const guard: Condition[] = configKv
      ? [{ key: configKey, modRevision: configKv.modRevision }]
      : [{ key: configKey, absent: true }];
    const operations: Operation[] = [
      { put: configKey, value: pythonJsonDumps(config) },
      ...newSlots.map((key) => ({ put: key, value: FREE })),
      ...stale.map((key) => ({ delete: key })),
      ...portPrefixes.map((prefix) => ({ deletePrefix: prefix })),
    ];
    const removedPorts = options.force ? [...state.ports.keys()] : [];
    const result = await store.transaction(guard, operations);
    if (result.succeeded) {
      return {
        revision: result.revision,
        written: [configKey, ...newSlots],
        removed: [...stale, ...removedPorts.map((portId) => `port ${portId}`)],
      };
    }
  }
  throw new Error(`host ${host} kept changing while its layout was written; try again`);
}

/** Removes every key of the host (SYSTEM.md §3.4 plus tap keys) in one transaction. */
export async function destroyHost(store: EtcdStore, host: string): Promise<KeyValue[]> {
  const result = await store.deleteAtomically(
    [keys.configuration(host)],
    HOST_PREFIX_KINDS.map((kind) => keys.hostPrefix(kind, host)),
  );
  return result.deleted;
}
