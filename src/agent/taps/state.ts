import type { MirrorConfig } from '../../layout/schema.js';
import type { ProcessKind } from '../../spp/client.js';
import type { ProcessStatus } from '../../spp/status.js';
import type { AgentLayout } from '../layout-index.js';
import type { SppCall } from '../plan.js';

/*
 * What SPP carries for tap-as-a-service (SYSTEM.md §5.3), pure: the host's tap topology
 * from its layout, the ports of spp_mirror's and the spp_vf processes' components as
 * their status shows them, and what each mirror is wired to.
 */

export type TapDirection = 'in' | 'out';

/** One end of a tap (source or service VM): its vhost's forwarders and rings. */
export interface TapEnd {
  vhostId: number;
  clientId: number;
  /** `forward_<v>_tx` (a merge: classifier ring → VM). */
  toVm: string;
  /** `forward_<v>_rx` (VM → merger ring). */
  fromVm: string;
  /** R_in: the ring the classifier feeds this VM from (`ring:2v`). */
  rIn: string;
  /** R_out: the ring the merger reads this VM's frames from (`ring:2v+1`). */
  rOut: string;
}

/** What one mirror carries: a direction of one tap flow. */
export interface MirrorTap {
  direction: TapDirection;
  source: number;
  service: number;
  /** The tap flow (etcd's id) when known; SPP does not know it. */
  flowId?: string;
}

/** The mirror's wiring as SPP shows it: a tap, nothing, or leftovers of unknown shape. */
export type ActualMirror =
  | { kind: 'empty' }
  | { kind: 'tap'; direction: TapDirection; source: number; service?: number }
  | { kind: 'unknown' };

/** One spp-ctl call and the process it goes to. Calls run in order across processes. */
export interface TapCall {
  kind: ProcessKind;
  clientId: number;
  call: SppCall & { op: 'attach' | 'detach' };
}

export interface ComponentPorts {
  rx: string[];
  tx: string[];
}

/** Ports of every named component per process (`vfs:1`, `mirrors:3`), as read from status. */
export type PortState = Map<string, Map<string, ComponentPorts>>;

export interface TapTopology {
  mirrorClientId: number;
  mirrors: MirrorConfig[];
  /** Ends of every vhost of the layout that sits behind forwarders. */
  ends: Map<number, TapEnd>;
}

export const processKey = (kind: ProcessKind, clientId: number) => `${kind}:${clientId}`;

export function mirrorName(mirrorId: number): string {
  return `mirror_${mirrorId}`;
}

/** The tap-capable ends of a layout and its spp_mirror (undefined without mirrors). */
export function tapTopology(layout: AgentLayout): TapTopology | undefined {
  if (!layout.mirror) return undefined;
  const ends = new Map<number, TapEnd>();
  for (const [vhostId, place] of layout.vhosts) {
    const { wiring } = place;
    if (!wiring.forwarders) continue;
    ends.set(vhostId, {
      vhostId,
      clientId: place.vf.clientId,
      toVm: wiring.forwarders.toVm,
      fromVm: wiring.forwarders.fromVm,
      rIn: wiring.classifierSidePort,
      rOut: wiring.mergerSidePort,
    });
  }
  return { mirrorClientId: layout.mirror.clientId, mirrors: layout.mirror.mirrors, ends };
}

/** Records a process's component ports into `state`. */
export function addStatus(state: PortState, kind: ProcessKind, status: ProcessStatus): PortState {
  const components = new Map<string, ComponentPorts>();
  for (const component of status.components) {
    if (component.type === 'unuse' || component.name === undefined) continue;
    components.set(component.name, {
      rx: (component.rx_port ?? []).map((p) => p.port),
      tx: (component.tx_port ?? []).map((p) => p.port),
    });
  }
  state.set(processKey(kind, status['client-id']), components);
  return state;
}

export function clonePorts(state: PortState): PortState {
  const copy: PortState = new Map();
  for (const [key, components] of state) {
    const inner = new Map<string, ComponentPorts>();
    for (const [name, ports] of components)
      inner.set(name, { rx: [...ports.rx], tx: [...ports.tx] });
    copy.set(key, inner);
  }
  return copy;
}

export function portsOf(
  state: PortState,
  kind: ProcessKind,
  clientId: number,
  component: string,
): ComponentPorts | undefined {
  return state.get(processKey(kind, clientId))?.get(component);
}

/** The vf components (with their vhost end) that have `port` attached in `dir`. */
export function vfHolders(
  state: PortState,
  topology: TapTopology,
  port: string,
  dir: 'rx' | 'tx',
): Array<{ clientId: number; component: string }> {
  const found: Array<{ clientId: number; component: string }> = [];
  for (const [key, components] of state) {
    if (!key.startsWith('vfs:')) continue;
    const clientId = Number(key.slice(4));
    for (const [component, ports] of components)
      if (ports[dir].includes(port)) found.push({ clientId, component });
  }

  return found;
}

export function endOf(
  topology: TapTopology,
  holder: { clientId: number; component: string },
  role: 'toVm' | 'fromVm',
): number | undefined {
  for (const end of topology.ends.values())
    if (end.clientId === holder.clientId && end[role] === holder.component) return end.vhostId;
  return undefined;
}

/**
 * What mirror `mirrorId` carries according to SPP: the tap shape its rings and the vhosts'
 * forwarders show (tap-in: R_in on the mirror's rx, ring_b into the source's `forward_v_tx`;
 * tap-out: ring_b on the mirror's rx, R_out on its tx, ring_b out of `forward_v_rx`), the
 * service VM being the one whose `forward_s_tx` reads ring_a.
 */
export function readActualMirror(
  topology: TapTopology,
  state: PortState,
  mirrorId: number,
): ActualMirror {
  const config = topology.mirrors[mirrorId];
  if (!config) return { kind: 'empty' };
  const [ringA, ringB] = config.ports;
  const mirror = portsOf(state, 'mirrors', topology.mirrorClientId, mirrorName(mirrorId)) ?? {
    rx: [],
    tx: [],
  };
  const aReaders = vfHolders(state, topology, ringA, 'rx');
  const bReaders = vfHolders(state, topology, ringB, 'rx');
  const bWriters = vfHolders(state, topology, ringB, 'tx');
  const anything =
    mirror.rx.length + mirror.tx.length + aReaders.length + bReaders.length + bWriters.length > 0 ||
    vfHolders(state, topology, ringA, 'tx').length > 0;
  if (!anything) return { kind: 'empty' };
  const inSources = new Set<number>();
  const outSources = new Set<number>();
  for (const end of topology.ends.values()) {
    if (mirror.rx.includes(end.rIn)) inSources.add(end.vhostId);
    if (mirror.tx.includes(end.rOut)) outSources.add(end.vhostId);
  }
  for (const reader of bReaders) {
    const v = endOf(topology, reader, 'toVm');
    if (v !== undefined) inSources.add(v);
    else return { kind: 'unknown' };
  }
  for (const writer of bWriters) {
    const v = endOf(topology, writer, 'fromVm');
    if (v !== undefined) outSources.add(v);
    else return { kind: 'unknown' };
  }
  const outByRx = mirror.rx.includes(ringB);
  const services = new Set<number>();
  for (const reader of aReaders) {
    const s = endOf(topology, reader, 'toVm');
    if (s === undefined) return { kind: 'unknown' };
    services.add(s);
  }
  if (services.size > 1) return { kind: 'unknown' };
  const [service] = services;
  const withService = service === undefined ? {} : { service };
  if (inSources.size === 1 && outSources.size === 0 && !outByRx) {
    const [source] = inSources as unknown as [number];
    return { kind: 'tap', direction: 'in', source, ...withService };
  }
  if (outSources.size === 1 && inSources.size === 0) {
    const [source] = outSources as unknown as [number];
    return { kind: 'tap', direction: 'out', source, ...withService };
  }
  return { kind: 'unknown' };
}

/**
 * Vhosts that SPP shows wired into a tap (a tap's source or service VM): a `forward_v_tx`
 * that reads more than R_in or not R_in, a `forward_v_rx` that writes other than R_out.
 */
export function tappedVhosts(topology: TapTopology | undefined, state: PortState): Set<number> {
  const tapped = new Set<number>();
  if (!topology) return tapped;
  for (const end of topology.ends.values()) {
    const toVm = portsOf(state, 'vfs', end.clientId, end.toVm);
    const fromVm = portsOf(state, 'vfs', end.clientId, end.fromVm);
    if (toVm && (toVm.rx.length !== 1 || toVm.rx[0] !== end.rIn)) tapped.add(end.vhostId);
    if (fromVm && (fromVm.tx.length !== 1 || fromVm.tx[0] !== end.rOut)) tapped.add(end.vhostId);
  }
  return tapped;
}
