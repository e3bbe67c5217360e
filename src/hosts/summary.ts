import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import type { AgentKind } from '../server/agent-gate.js';
import { agentKindOf } from '../server/agent-gate.js';
import type { HostState } from '../snapshot/model.js';
import { heldBy, isUp, valueOf } from '../snapshot/model.js';
import { readAllHosts, readHost } from '../snapshot/read.js';

export interface HostSummary {
  host: string;
  revision: number;
  agent: {
    state: 'alive' | 'down';
    /** `networking-spp` when the host runs (or ran) our agent, else `original` (or none). */
    kind: AgentKind;
    version?: string;
    startedAt?: string;
    /** What the agent last said about SPP; binds are refused while it is `unreachable`. */
    spp?: 'ok' | 'unreachable';
    sppProblem?: string;
  };
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
  if (!state.configuration) {
    problems.push(
      `no SPP layout: ${keys.configuration(state.host)} is absent although an agent runs for this host name (build it with "networking-spp host build", or check the agent's [DEFAULT] host)`,
    );
  }
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
  return {
    host: state.host,
    revision,
    agent: agentSummary(state),
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

function agentSummary(state: HostState): HostSummary['agent'] {
  const kind = agentKindOf({
    livenessKey: state.agent !== undefined,
    kindMarker: state.agentKind !== undefined,
  });
  const record = valueOf(state.agent);
  if (!record) return { state: 'down', kind };
  const spp = record.spp;
  return {
    state: 'alive',
    kind,
    version: record.version,
    startedAt: record.started_at,
    ...(spp ? { spp: spp.state } : {}),
    ...(spp?.state === 'unreachable' ? { sppProblem: spp.problem } : {}),
  };
}

/** A host is listed when it has a layout, or an agent of ours runs under its name (no layout). */
function isListed(state: HostState): boolean {
  return state.configuration !== undefined || state.agent !== undefined;
}

/** One host's summary, or undefined when it has neither a layout nor a live agent. */
export async function describeHost(
  store: EtcdStore,
  host: string,
): Promise<HostSummary | undefined> {
  const read = await readHost(store, host);
  return isListed(read.host) ? summarizeHost(read.host, read.revision) : undefined;
}

/** Every host with a layout or a live agent, by name. */
export async function describeHosts(store: EtcdStore): Promise<HostSummary[]> {
  const read = await readAllHosts(store);
  return [...read.hosts.values()]
    .filter(isListed)
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((state) => summarizeHost(state, read.revision));
}
