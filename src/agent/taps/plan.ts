import type { ProcessKind } from '../../spp/client.js';
import type { MirrorConfig } from '../../layout/schema.js';
import type {
  ActualMirror,
  MirrorTap,
  PortState,
  TapCall,
  TapDirection,
  TapEnd,
  TapTopology,
} from './state.js';
import { clonePorts, mirrorName, portsOf, readActualMirror, vfHolders } from './state.js';

export type {
  ActualMirror,
  ComponentPorts,
  MirrorTap,
  PortState,
  TapCall,
  TapDirection,
  TapEnd,
  TapTopology,
} from './state.js';
export { addStatus, mirrorName, readActualMirror, tapTopology, tappedVhosts } from './state.js';

/**
 * Tap-as-a-service wiring (SYSTEM.md §5.3, §5.3.1), pure: from what each mirror should
 * carry and the status of spp_mirror and the spp_vf processes, the spp-ctl calls, in the
 * original agent's sequences, each step skipped when the state shows it done.
 */

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
