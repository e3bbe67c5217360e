import type { EtcdStore } from '../etcd/store.js';
import type { HostState } from '../snapshot/model.js';
import { heldBy, isUp, valueOf } from '../snapshot/model.js';
import { readAllHosts, readHost } from '../snapshot/read.js';

export interface HostSummary {
  host: string;
  revision: number;
  agent: { state: 'alive' | 'down'; version?: string; startedAt?: string };
  nics: Array<{
    nic: number;
    pciAddress: string;
    physnet: string;
    coreMask: string;
    vhosts: number;
    used: number;
    free: number;
  }>;
  slots: Array<{
    vhostId: number;
    physnet: string;
    portId: string | null;
    macAddress?: string;
    vlanId?: number;
    action?: string;
    up: boolean;
  }>;
  mirrors: Array<{ mirrorId: number; core?: number; ports: string[]; flowId: string | null }>;
  /** Mirror slot use (tap-as-a-service): configured, used, free. */
  mirrorUse: { mirrors: number; used: number; free: number };
  /** Tap flows in etcd, with what the agent has done about them. */
  taps: Array<{
    flowId: string;
    sourcePort?: string;
    servicePort?: string;
    mirrorIn: number | null;
    mirrorOut: number | null;
    action?: string;
    state: 'up' | 'pending' | 'unplugging' | 'no-request';
  }>;
  components: Array<{
    nic: number;
    name: string;
    type: string;
    core: number;
    rx: string[];
    tx: string[];
  }>;
  /** Ports with a plug/unplug request the agent has not finished. */
  pending: Array<{ portId: string; action: string }>;
  /** Keys whose value could not be understood, with why; they are shown, never dropped. */
  problems: string[];
}

/** Every problem the host's keys have, each naming its key. */
export function hostProblems(state: HostState): string[] {
  const problems: string[] = [];
  const note = (entry: { ok: boolean; problem?: string } | undefined) => {
    if (entry && !entry.ok && entry.problem) problems.push(entry.problem);
  };
  note(state.configuration);
  note(state.agent);
  for (const slot of state.sortedSlots())
    if ('problem' in slot.holder) problems.push(slot.holder.problem);
  for (const mirror of state.mirrors.values())
    if ('problem' in mirror.holder) problems.push(mirror.holder.problem);
  for (const port of state.ports.values()) [port.bindPort, port.action, port.status].forEach(note);
  for (const tap of state.taps.values()) [tap.info, tap.action, tap.status].forEach(note);
  return problems;
}

function nicsOf(state: HostState): HostSummary['nics'] {
  const config = valueOf(state.configuration);
  const slots = state.sortedSlots();
  return (config?.vf ?? []).map((vf, nic) => {
    const own = slots.filter((slot) => slot.physnet === vf.physical_network);
    const free = own.filter((slot) => slot.holder.free).length;
    return {
      nic,
      pciAddress: vf.pci_address,
      physnet: vf.physical_network,
      coreMask: vf.core_mask,
      vhosts: vf.num_vhost,
      used: own.length - free,
      free,
    };
  });
}

function slotsOf(state: HostState): HostSummary['slots'] {
  return state.sortedSlots().map((slot) => {
    const portId = heldBy(slot.holder) ?? null;
    const port = portId === null ? undefined : state.ports.get(portId);
    const bindPort = valueOf(port?.bindPort);
    const action = valueOf(port?.action);
    return {
      vhostId: slot.vhostId,
      physnet: slot.physnet,
      portId,
      ...(bindPort ? { macAddress: bindPort.mac_address } : {}),
      ...(bindPort?.vlan_id !== undefined ? { vlanId: bindPort.vlan_id } : {}),
      ...(action ? { action } : {}),
      up: isUp(port?.status),
    };
  });
}

function tapsOf(state: HostState): HostSummary['taps'] {
  return [...state.taps.values()]
    .sort((a, b) => (a.flowId < b.flowId ? -1 : 1))
    .map((tap) => {
      const info = valueOf(tap.info);
      const action = valueOf(tap.action);
      const state =
        action === 'unplug'
          ? 'unplugging'
          : action === 'plug'
            ? isUp(tap.status)
              ? 'up'
              : 'pending'
            : 'no-request';
      return {
        flowId: tap.flowId,
        ...(info ? { sourcePort: info.source_port, servicePort: info.service_port } : {}),
        mirrorIn: info?.mirror_in ?? null,
        mirrorOut: info?.mirror_out ?? null,
        ...(action ? { action } : {}),
        state,
      };
    });
}

export function summarizeHost(state: HostState, revision: number): HostSummary {
  const config = valueOf(state.configuration);
  const mirrors = [...state.mirrors.values()]
    .sort((a, b) => a.mirrorId - b.mirrorId)
    .map((mirror) => {
      const configured = config?.mirror?.[mirror.mirrorId];
      return {
        mirrorId: mirror.mirrorId,
        ...(configured ? { core: configured.core } : {}),
        ports: configured ? [...configured.ports] : [],
        flowId: heldBy(mirror.holder) ?? null,
      };
    });
  const components = (config?.vf ?? []).flatMap((vf, nic) =>
    vf.components.map((component) => ({
      nic,
      name: component.name,
      type: component.type,
      core: component.core,
      rx: component.rx_port,
      tx: component.tx_port,
    })),
  );
  const pending = [...state.ports.values()].flatMap((port) => {
    const action = valueOf(port.action);
    return action === 'unplug' || (action === 'plug' && !isUp(port.status))
      ? [{ portId: port.portId, action }]
      : [];
  });
  const record = valueOf(state.agent);
  return {
    host: state.host,
    revision,
    agent: record
      ? { state: 'alive', version: record.version, startedAt: record.started_at }
      : { state: 'down' },
    nics: nicsOf(state),
    slots: slotsOf(state),
    mirrors,
    mirrorUse: {
      mirrors: mirrors.length,
      used: mirrors.filter((mirror) => mirror.flowId !== null).length,
      free: [...state.mirrors.values()].filter((mirror) => mirror.holder.free).length,
    },
    taps: tapsOf(state),
    components,
    pending,
    problems: hostProblems(state),
  };
}

/** One host's summary, or undefined when it has no configuration key. */
export async function describeHost(
  store: EtcdStore,
  host: string,
): Promise<HostSummary | undefined> {
  const read = await readHost(store, host);
  return read.host.configuration ? summarizeHost(read.host, read.revision) : undefined;
}

/** Every host with a configuration key, by name. */
export async function describeHosts(store: EtcdStore): Promise<HostSummary[]> {
  const read = await readAllHosts(store);
  return [...read.hosts.values()]
    .filter((state) => state.configuration !== undefined)
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((state) => summarizeHost(state, read.revision));
}
