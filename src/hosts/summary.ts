import type { EtcdStore } from '../etcd/store.js';
import type { HostState } from './state.js';
import { listHostNames, readHostState } from './state.js';

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
  problems: string[];
}

export function summarizeHost(state: HostState): HostSummary {
  const config = state.config;
  const nics = (config?.vf ?? []).map((vf, nic) => {
    const slots = state.slots.filter((slot) => slot.physnet === vf.physical_network);
    const used = slots.filter((slot) => slot.portId !== null).length;
    return {
      nic,
      pciAddress: vf.pci_address,
      physnet: vf.physical_network,
      coreMask: vf.core_mask,
      vhosts: vf.num_vhost,
      used,
      free: slots.length - used,
    };
  });
  const slots = state.slots.map((slot) => {
    const port = slot.portId ? state.ports.get(slot.portId) : undefined;
    return {
      vhostId: slot.vhostId,
      physnet: slot.physnet,
      portId: slot.portId,
      ...(port?.bindPort ? { macAddress: port.bindPort.mac_address } : {}),
      ...(port?.bindPort?.vlan_id !== undefined ? { vlanId: port.bindPort.vlan_id } : {}),
      ...(port?.action ? { action: port.action } : {}),
      up: port?.up ?? false,
    };
  });
  const mirrors = state.mirrors.map((mirror) => {
    const configured = config?.mirror?.[mirror.mirrorId];
    return {
      mirrorId: mirror.mirrorId,
      ...(configured ? { core: configured.core } : {}),
      ports: configured ? [...configured.ports] : [],
      flowId: mirror.flowId,
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
  const pending = [...state.ports.values()]
    .filter((port) => port.action === 'unplug' || (port.action === 'plug' && !port.up))
    .map((port) => ({ portId: port.portId, action: port.action as string }));
  const record = state.agent?.record;
  return {
    host: state.host,
    revision: state.revision,
    agent: record
      ? { state: 'alive', version: record.version, startedAt: record.started_at }
      : { state: 'down' },
    nics,
    slots,
    mirrors,
    components,
    pending,
    problems: state.problems,
  };
}

export async function describeHost(
  store: EtcdStore,
  host: string,
): Promise<HostSummary | undefined> {
  const state = await readHostState(store, host);
  return state.config ? summarizeHost(state) : undefined;
}

export async function describeHosts(store: EtcdStore): Promise<HostSummary[]> {
  const names = await listHostNames(store);
  const summaries = await Promise.all(names.map((host) => describeHost(store, host)));
  return summaries.filter((summary): summary is HostSummary => summary !== undefined);
}
