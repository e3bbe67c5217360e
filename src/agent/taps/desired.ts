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
  const usedMirrors = new Set<number>();
  const usedSources = new Set<string>();
  const held = (mirrorId: number) => {
    const slot = host.mirrors.get(mirrorId);
    return slot ? heldBy(slot.holder) : undefined;
  };
  const flows = [...host.taps.values()].sort((a, b) => (a.flowId < b.flowId ? -1 : 1));
  for (const tap of flows) {
    const { flowId, action, info } = tap;
    if (!action) continue;
    const problem = (reason: string) => result.problems.push({ flowId, reason });
    if (!action.ok) {
      problem(`unexpected tap_action value ${JSON.stringify(action.raw)}`);
      continue;
    }
    if (action.value === 'unplug') {
      const slots = [...host.mirrors.values()]
        .filter((slot) => heldBy(slot.holder) === flowId)
        .map((slot) => slot.mirrorId)
        .sort((a, b) => a - b);
      result.unplugs.push({
        flowId,
        ...(info?.ok ? { infoRevision: info.modRevision } : {}),
        slots,
      });
      continue;
    }
    if (!info) {
      problem('tap_action is plug but tap_info is missing');
      continue;
    }
    if (!info.ok) {
      problem(info.problem);
      continue;
    }
    if (!topology) {
      problem('the host has no spp_mirror (no mirrors in its layout)');
      continue;
    }
    const value = info.value;
    const wanted: Array<[number, 'in' | 'out']> = [];
    if (value.mirror_in !== null) wanted.push([value.mirror_in, 'in']);
    if (value.mirror_out !== null) wanted.push([value.mirror_out, 'out']);
    if (value.mirror_in !== null && value.mirror_in === value.mirror_out) {
      problem(`tap_info names mirror ${value.mirror_in} for both directions`);
      continue;
    }
    if (wanted.length === 0) {
      problem('tap_info names neither mirror_in nor mirror_out');
      continue;
    }
    const source = carriedOn.get(value.source_port);
    const service = carriedOn.get(value.service_port);
    if (source === undefined || service === undefined) {
      problem(
        `${source === undefined ? `source port ${value.source_port}` : `service port ${value.service_port}`} is not plugged on this host`,
      );
      continue;
    }
    if (source === service) {
      problem('source and service ports are on the same vhost');
      continue;
    }
    if (!topology.ends.has(source) || !topology.ends.has(service)) {
      problem('source or service vhost has no forwarders (tap-as-a-service needs them)');
      continue;
    }
    const blocked = wanted.find(([mirrorId, direction]) => {
      if (!topology.mirrors[mirrorId]) {
        problem(`mirror ${mirrorId} is not in the host's layout`);
        return true;
      }
      if (held(mirrorId) !== flowId) {
        problem(`mirror slot ${mirrorId} is not held by this tap flow`);
        return true;
      }
      if (usedMirrors.has(mirrorId) || usedSources.has(`${direction}/${source}`)) {
        problem(
          `mirror ${mirrorId} or the ${direction} direction of vhost ${source} serves another tap flow`,
        );
        return true;
      }
      return false;
    });
    if (blocked) continue;
    for (const [mirrorId, direction] of wanted) {
      usedMirrors.add(mirrorId);
      usedSources.add(`${direction}/${source}`);
      result.mirrors.push([mirrorId, { direction, source, service, flowId }]);
    }
    result.ports.add(value.source_port);
    result.ports.add(value.service_port);
    result.plugs.push({
      flowId,
      infoRevision: info.modRevision,
      mirrors: wanted.map(([mirrorId]) => mirrorId),
      sourcePort: value.source_port,
      servicePort: value.service_port,
      reportedUp: isUp(tap.status),
    });
  }
  return result;
}
