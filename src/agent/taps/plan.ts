import type { MirrorConfig } from '../../layout/schema.js';
import type { ProcessKind } from '../../spp/client.js';
import type { ProcessStatus } from '../../spp/status.js';
import type { AgentLayout } from '../layout-index.js';
import type { SppCall } from '../plan.js';

/**
 * Tap-as-a-service wiring (SYSTEM.md §5.3, §5.3.1), pure: from what each mirror should
 * carry and the status of spp_mirror and the spp_vf processes, the spp-ctl calls, in the
 * original agent's sequences, each step skipped when the state shows it done.
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

const processKey = (kind: ProcessKind, clientId: number) => `${kind}:${clientId}`;

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

function clonePorts(state: PortState): PortState {
  const copy: PortState = new Map();
  for (const [key, components] of state) {
    const inner = new Map<string, ComponentPorts>();
    for (const [name, ports] of components)
      inner.set(name, { rx: [...ports.rx], tx: [...ports.tx] });
    copy.set(key, inner);
  }
  return copy;
}

function portsOf(
  state: PortState,
  kind: ProcessKind,
  clientId: number,
  component: string,
): ComponentPorts | undefined {
  return state.get(processKey(kind, clientId))?.get(component);
}

/** The vf components (with their vhost end) that have `port` attached in `dir`. */
function vfHolders(
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

function endOf(
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

type Step = [
  kind: ProcessKind,
  clientId: number,
  op: 'attach' | 'detach',
  component: string,
  port: string,
  dir: 'rx' | 'tx',
];

/** The original agent's six steps of a tap plug (SYSTEM.md §5.3.1). */
function plugSteps(
  topology: TapTopology,
  mirrorId: number,
  direction: TapDirection,
  v: TapEnd,
  s: TapEnd,
): Step[] {
  const [ringA, ringB] = (topology.mirrors[mirrorId] as MirrorConfig).ports;
  const mir = topology.mirrorClientId;
  const name = mirrorName(mirrorId);
  const head: Step[] = [
    ['vfs', s.clientId, 'attach', s.toVm, ringA, 'rx'],
    ['mirrors', mir, 'attach', name, ringA, 'tx'],
  ];
  if (direction === 'in') {
    return [
      ...head,
      ['vfs', v.clientId, 'attach', v.toVm, ringB, 'rx'],
      ['mirrors', mir, 'attach', name, ringB, 'tx'],
      ['vfs', v.clientId, 'detach', v.toVm, v.rIn, 'rx'],
      ['mirrors', mir, 'attach', name, v.rIn, 'rx'],
    ];
  }
  return [
    ...head,
    ['vfs', v.clientId, 'detach', v.fromVm, v.rOut, 'tx'],
    ['mirrors', mir, 'attach', name, v.rOut, 'tx'],
    ['mirrors', mir, 'attach', name, ringB, 'rx'],
    ['vfs', v.clientId, 'attach', v.fromVm, ringB, 'tx'],
  ];
}

/** The original agent's six steps of a tap unplug; steps of an unknown service are left out. */
function unplugSteps(
  topology: TapTopology,
  mirrorId: number,
  direction: TapDirection,
  v: TapEnd,
  s: TapEnd | undefined,
): Step[] {
  const [ringA, ringB] = (topology.mirrors[mirrorId] as MirrorConfig).ports;
  const mir = topology.mirrorClientId;
  const name = mirrorName(mirrorId);
  const tail: Step[] = [
    ['mirrors', mir, 'detach', name, ringA, 'tx'],
    ...(s ? [['vfs', s.clientId, 'detach', s.toVm, ringA, 'rx'] as Step] : []),
  ];
  if (direction === 'in') {
    return [
      ['mirrors', mir, 'detach', name, v.rIn, 'rx'],
      ['vfs', v.clientId, 'attach', v.toVm, v.rIn, 'rx'],
      ['mirrors', mir, 'detach', name, ringB, 'tx'],
      ['vfs', v.clientId, 'detach', v.toVm, ringB, 'rx'],
      ...tail,
    ];
  }
  return [
    ['vfs', v.clientId, 'detach', v.fromVm, ringB, 'tx'],
    ['mirrors', mir, 'detach', name, ringB, 'rx'],
    ['mirrors', mir, 'detach', name, v.rOut, 'tx'],
    ['vfs', v.clientId, 'attach', v.fromVm, v.rOut, 'tx'],
    ...tail,
  ];
}

/**
 * Whatever is left of a mirror's wiring after its sequence (or when its shape is unknown):
 * every port of the mirror component, and its two rings wherever a spp_vf has them. The
 * spp_vf's own rings come back through the spp_vf's build (a forwarder left without rx or
 * tx gets its configured port again).
 */
function cleanupSteps(topology: TapTopology, state: PortState, mirrorId: number): Step[] {
  const [ringA, ringB] = (topology.mirrors[mirrorId] as MirrorConfig).ports;
  const mir = topology.mirrorClientId;
  const name = mirrorName(mirrorId);
  const steps: Step[] = [];
  const mirror = portsOf(state, 'mirrors', mir, name);
  for (const port of mirror?.rx ?? []) steps.push(['mirrors', mir, 'detach', name, port, 'rx']);
  for (const port of mirror?.tx ?? []) steps.push(['mirrors', mir, 'detach', name, port, 'tx']);
  for (const ring of [ringA, ringB]) {
    for (const dir of ['rx', 'tx'] as const) {
      for (const holder of vfHolders(state, topology, ring, dir))
        steps.push(['vfs', holder.clientId, 'detach', holder.component, ring, dir]);
    }
  }
  return steps;
}

/** Runs steps against `state`, skipping those it shows done; returns the calls it kept. */
function applySteps(state: PortState, steps: Step[], calls: TapCall[]): void {
  for (const [kind, clientId, op, component, port, dir] of steps) {
    const ports = portsOf(state, kind, clientId, component);
    const attached = ports?.[dir].includes(port) ?? false;
    if (op === 'attach' ? attached : !attached) continue;
    calls.push({
      kind,
      clientId,
      call:
        op === 'attach'
          ? { op, component, port, dir, vlan: { operation: 'none' } }
          : { op, component, port, dir },
    });
    if (!ports) continue;
    if (op === 'attach') ports[dir].push(port);
    else ports[dir] = ports[dir].filter((p) => p !== port);
  }
}

function sameShape(actual: ActualMirror, wanted: MirrorTap): boolean {
  return (
    actual.kind === 'tap' &&
    actual.direction === wanted.direction &&
    actual.source === wanted.source &&
    (actual.service === undefined || actual.service === wanted.service)
  );
}

export interface TapPlan {
  calls: TapCall[];
  /** The port state once the calls ran. */
  after: PortState;
  /** Mirrors whose wiring was removed (not wanted, or wanted differently). */
  removed: Array<{ mirrorId: number; actual: ActualMirror }>;
  /** Wanted mirrors not wired yet: a component they need is not built (e.g. a restarted spp_vf). */
  waiting: number[];
}

/** The components a tap plug attaches to all exist. */
function built(state: PortState, topology: TapTopology, mirrorId: number, v: TapEnd, s: TapEnd) {
  return (
    portsOf(state, 'mirrors', topology.mirrorClientId, mirrorName(mirrorId)) !== undefined &&
    portsOf(state, 'vfs', s.clientId, s.toVm) !== undefined &&
    portsOf(state, 'vfs', v.clientId, v.toVm) !== undefined &&
    portsOf(state, 'vfs', v.clientId, v.fromVm) !== undefined
  );
}

/**
 * The calls that bring every mirror to `wanted` (mirror id → tap; absent = no tap): first
 * the teardown of every mirror SPP wires otherwise than wanted (tap-in ones first, then
 * tap-out, by mirror id), then the plug of every wanted mirror in the given order (a BOTH
 * flow lists its tap-in first). Ends must be in the topology; the caller checks.
 */
export function planTaps(
  topology: TapTopology,
  state: PortState,
  wanted: ReadonlyArray<[number, MirrorTap]>,
): TapPlan {
  const after = clonePorts(state);
  const calls: TapCall[] = [];
  const wantedBy = new Map(wanted);
  const removed: TapPlan['removed'] = [];
  const waiting: number[] = [];
  const actuals = topology.mirrors.map((_, mirrorId) => ({
    mirrorId,
    actual: readActualMirror(topology, state, mirrorId),
  }));
  const rank = (a: ActualMirror) => (a.kind === 'tap' ? (a.direction === 'in' ? 0 : 1) : 2);
  const stale = actuals
    .filter(({ mirrorId, actual }) => {
      if (actual.kind === 'empty') return false;
      const want = wantedBy.get(mirrorId);
      return !want || !sameShape(actual, want);
    })
    .sort((x, y) => rank(x.actual) - rank(y.actual) || x.mirrorId - y.mirrorId);
  for (const { mirrorId, actual } of stale) {
    removed.push({ mirrorId, actual });
    if (actual.kind === 'tap') {
      const v = topology.ends.get(actual.source) as TapEnd;
      const s = actual.service === undefined ? undefined : topology.ends.get(actual.service);
      applySteps(after, unplugSteps(topology, mirrorId, actual.direction, v, s), calls);
    }
    applySteps(after, cleanupSteps(topology, after, mirrorId), calls);
  }
  for (const [mirrorId, want] of wanted) {
    const v = topology.ends.get(want.source);
    const s = topology.ends.get(want.service);
    if (!v || !s || !topology.mirrors[mirrorId]) continue;
    if (!built(after, topology, mirrorId, v, s)) {
      waiting.push(mirrorId);
      continue;
    }
    applySteps(after, plugSteps(topology, mirrorId, want.direction, v, s), calls);
  }
  return { calls, after, removed, waiting };
}

/** The tap teardown steps of one mirror on its own (for tests and the documentation of §5.3.1). */
export function unplugCalls(
  topology: TapTopology,
  state: PortState,
  mirrorId: number,
  tap: MirrorTap,
): TapCall[] {
  const calls: TapCall[] = [];
  const v = topology.ends.get(tap.source) as TapEnd;
  applySteps(
    clonePorts(state),
    unplugSteps(topology, mirrorId, tap.direction, v, topology.ends.get(tap.service)),
    calls,
  );
  return calls;
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
