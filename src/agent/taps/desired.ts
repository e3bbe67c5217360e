import type { TapInfo } from '../../etcd/values.js';
import type { HostState } from '../../snapshot/model.js';
import { heldBy, isUp } from '../../snapshot/model.js';
import type { DesiredState } from '../desired.js';
import type { MirrorTap, TapTopology } from './plan.js';

/** A tap flow etcd asks to plug whose every mirror is wanted: `up` once they are wired. */
export interface TapPlugIntent {
  flowId: string;
  infoRevision: number;
  mirrors: number[];
  sourcePort: string;
  servicePort: string;
  reportedUp: boolean;
}

/** A tap flow etcd asks to unplug: its mirrors are torn down, then its keys go. */
export interface TapUnplugIntent {
  flowId: string;
  infoRevision?: number;
  /** Mirror slots this flow holds (freed with its keys). */
  slots: number[];
}

export interface TapProblem {
  flowId: string;
  reason: string;
}

export interface DesiredTaps {
  /** Mirror id → what it carries, in plug order (a BOTH flow: tap-in first). */
  mirrors: Array<[number, MirrorTap]>;
  plugs: TapPlugIntent[];
  unplugs: TapUnplugIntent[];
  problems: TapProblem[];
  /** Ports that are the source or service of a wanted tap. */
  ports: Set<string>;
}

export const NO_TAPS: DesiredTaps = {
  mirrors: [],
  plugs: [],
  unplugs: [],
  problems: [],
  ports: new Set(),
};

type TapKeysOf = HostState['taps'] extends ReadonlyMap<string, infer T> ? T : never;

/** What deriveTaps knows while it walks the flows in order. */
interface FlowContext {
  host: HostState;
  topology: TapTopology | undefined;
  /** Port id → the vhost that carries it now. */
  carriedOn: ReadonlyMap<string, number>;
  usedMirrors: Set<number>;
  usedSources: Set<string>;
}

type Verdict =
  | { kind: 'none' }
  | { kind: 'problem'; reason: string }
  | { kind: 'unplug'; unplug: TapUnplugIntent }
  | { kind: 'plug'; plug: TapPlugIntent; mirrors: Array<[number, MirrorTap]> };

const problem = (reason: string): Verdict => ({ kind: 'problem', reason });

function unplugOf(tap: TapKeysOf, host: HostState): TapUnplugIntent {
  const slots = [...host.mirrors.values()]
    .filter((slot) => heldBy(slot.holder) === tap.flowId)
    .map((slot) => slot.mirrorId)
    .sort((a, b) => a - b);
  return {
    flowId: tap.flowId,
    ...(tap.info?.ok ? { infoRevision: tap.info.modRevision } : {}),
    slots,
  };
}

/** The mirrors a plug of the flow wants, in plug order (tap-in first), or why none. */
function wantedMirrors(info: TapInfo): Array<[number, 'in' | 'out']> | string {
  if (info.mirror_in !== null && info.mirror_in === info.mirror_out)
    return `tap_info names mirror ${info.mirror_in} for both directions`;
  const wanted: Array<[number, 'in' | 'out']> = [];
  if (info.mirror_in !== null) wanted.push([info.mirror_in, 'in']);
  if (info.mirror_out !== null) wanted.push([info.mirror_out, 'out']);
  return wanted.length > 0 ? wanted : 'tap_info names neither mirror_in nor mirror_out';
}

/** The vhosts of the flow's source and service ports, or why they cannot be tapped. */
function endsOf(info: TapInfo, ctx: FlowContext, topology: TapTopology) {
  const source = ctx.carriedOn.get(info.source_port);
  const service = ctx.carriedOn.get(info.service_port);
  if (source === undefined) return `source port ${info.source_port} is not plugged on this host`;
  if (service === undefined) return `service port ${info.service_port} is not plugged on this host`;
  if (source === service) return 'source and service ports are on the same vhost';
  if (!topology.ends.has(source) || !topology.ends.has(service))
    return 'source or service vhost has no forwarders (tap-as-a-service needs them)';
  return { source, service };
}

/** Why one of the wanted mirrors cannot serve the flow now, if one cannot. */
function mirrorProblem(
  flowId: string,
  wanted: Array<[number, 'in' | 'out']>,
  source: number,
  ctx: FlowContext,
  topology: TapTopology,
): string | undefined {
  for (const [mirrorId, direction] of wanted) {
    if (!topology.mirrors[mirrorId]) return `mirror ${mirrorId} is not in the host's layout`;
    const slot = ctx.host.mirrors.get(mirrorId);
    if ((slot ? heldBy(slot.holder) : undefined) !== flowId)
      return `mirror slot ${mirrorId} is not held by this tap flow`;
    if (ctx.usedMirrors.has(mirrorId) || ctx.usedSources.has(`${direction}/${source}`))
      return `mirror ${mirrorId} or the ${direction} direction of vhost ${source} serves another tap flow`;
  }
  return undefined;
}

/** What one flow's keys ask for, given the flows before it (pure). */
function judgeFlow(tap: TapKeysOf, ctx: FlowContext): Verdict {
  const { flowId, action, info } = tap;
  if (!action) return { kind: 'none' };
  if (!action.ok) return problem(`unexpected tap_action value ${JSON.stringify(action.raw)}`);
  if (action.value === 'unplug') return { kind: 'unplug', unplug: unplugOf(tap, ctx.host) };
  if (!info) return problem('tap_action is plug but tap_info is missing');
  if (!info.ok) return problem(info.problem);
  const topology = ctx.topology;
  if (!topology) return problem('the host has no spp_mirror (no mirrors in its layout)');
  const wanted = wantedMirrors(info.value);
  if (typeof wanted === 'string') return problem(wanted);
  const ends = endsOf(info.value, ctx, topology);
  if (typeof ends === 'string') return problem(ends);
  const blocked = mirrorProblem(flowId, wanted, ends.source, ctx, topology);
  if (blocked) return problem(blocked);
  return {
    kind: 'plug',
    mirrors: wanted.map(([mirrorId, direction]) => [mirrorId, { direction, ...ends, flowId }]),
    plug: {
      flowId,
      infoRevision: info.modRevision,
      mirrors: wanted.map(([mirrorId]) => mirrorId),
      sourcePort: info.value.source_port,
      servicePort: info.value.service_port,
      reportedUp: isUp(tap.status),
    },
  };
}

/**
 * The taps etcd wants on this host (pure). A tap flow is wired only when its keys say plug,
 * its tap_info is valid, each of its mirror slots holds its id, its source and service ports
 * are ports the host's vhosts carry now (plug requests on vhosts behind forwarders) and not
 * being unplugged; so a port's traffic is only ever copied to taps etcd has for that port.
 * A mirror, or one direction of one source vhost, serves one flow (the first by id).
 */
export function deriveTaps(
  host: HostState,
  topology: TapTopology | undefined,
  desired: DesiredState,
): DesiredTaps {
  if (host.taps.size === 0) return NO_TAPS;
  const result: DesiredTaps = {
    mirrors: [],
    plugs: [],
    unplugs: [],
    problems: [],
    ports: new Set(),
  };
  const carriedOn = new Map<string, number>();
  for (const [vhostId, wish] of desired.vhosts)
    if (wish.kind === 'carry') carriedOn.set(wish.portId, vhostId);
  const ctx: FlowContext = {
    host,
    topology,
    carriedOn,
    usedMirrors: new Set(),
    usedSources: new Set(),
  };
  const flows = [...host.taps.values()].sort((a, b) => (a.flowId < b.flowId ? -1 : 1));
  for (const tap of flows) {
    const verdict = judgeFlow(tap, ctx);
    if (verdict.kind === 'problem')
      result.problems.push({ flowId: tap.flowId, reason: verdict.reason });
    else if (verdict.kind === 'unplug') result.unplugs.push(verdict.unplug);
    else if (verdict.kind === 'plug') {
      for (const [mirrorId, mirrorTap] of verdict.mirrors) {
        ctx.usedMirrors.add(mirrorId);
        ctx.usedSources.add(`${mirrorTap.direction}/${mirrorTap.source}`);
        result.mirrors.push([mirrorId, mirrorTap]);
      }
      result.ports.add(verdict.plug.sourcePort);
      result.ports.add(verdict.plug.servicePort);
      result.plugs.push(verdict.plug);
    }
  }
  return result;
}
