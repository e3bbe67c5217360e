import type { HostConfig } from '../../layout/schema.js';
import { layoutPhysnets, layoutSlotNames } from '../../layout/slots.js';
import type { HostState } from '../../snapshot/model.js';
import { valueOf } from '../../snapshot/model.js';
import type { EtcdAgentRequirement, GateDecision } from '../agent-gate.js';
import { judgeAgent } from '../agent-gate.js';
import type { BindOutcome, BindReason, BindRequest, Segment } from './types.js';
import type { Wanted } from './plan.js';

/** What a bind needs to know about a host's layout, derived once per layout value. */
export interface HostFacts {
  physnets: ReadonlySet<string>;
  slots: ReadonlySet<string>;
}

const factsMemo = new WeakMap<HostConfig, HostFacts>();

export function hostFacts(config: HostConfig): HostFacts {
  let facts = factsMemo.get(config);
  if (!facts) {
    facts = { physnets: layoutPhysnets(config), slots: layoutSlotNames(config) };
    factsMemo.set(config, facts);
  }
  return facts;
}

export function refuse(reason: BindReason, detail: string): BindOutcome & { bound: false } {
  return { bound: false, reason, detail };
}

/** The first flat or vlan segment on a physical network the host serves. */
export function selectSegment(
  segments: readonly Segment[],
  physnets: ReadonlySet<string>,
): { segment: Segment; physnet: string; vlanId?: number } | undefined {
  for (const segment of segments) {
    const type = segment.network_type.toLowerCase();
    const physnet = segment.physical_network;
    if (!physnet || !physnets.has(physnet)) continue;
    if (type === 'flat') return { segment, physnet };
    if (type === 'vlan') {
      const vlanId = segment.segmentation_id;
      if (typeof vlanId === 'number' && vlanId >= 1 && vlanId <= 4094)
        return { segment, physnet, vlanId };
    }
  }
  return undefined;
}

/** Whether the host's agent may take the bind, by `requirement` (agent-gate.ts). */
export function judgeHostAgent(
  request: BindRequest,
  host: HostState,
  requirement: EtcdAgentRequirement,
): GateDecision {
  return judgeAgent(requirement, {
    host: request.host,
    livenessKey: host.agent !== undefined,
    kindMarker: host.agentKind !== undefined,
    ...(request.agents ? { neutronAgents: request.agents } : {}),
  });
}

/** Why binds cannot go to the host's SPP now although its agent lives, if they cannot. */
function sppDown(request: BindRequest, host: HostState): string | undefined {
  const spp = valueOf(host.agent)?.spp;
  if (!spp || spp.state === 'ok') return undefined;
  return `the SPP agent on host ${request.host} cannot reach SPP: ${spp.problem ?? 'no detail'}`;
}

export type HostDecision =
  | { refusal: BindOutcome & { bound: false } }
  | { wanted: Wanted; segmentId: string; facts: HostFacts };

/** The checks of SYSTEM.md §4 steps 1–3 on one view of the host (pure). */
export function decideHost(
  request: BindRequest,
  host: HostState,
  requirement: EtcdAgentRequirement,
): HostDecision {
  const config = host.configuration;
  if (!config) {
    return {
      refusal: refuse('not_spp_host', `host ${request.host} has no SPP configuration in etcd`),
    };
  }
  if (!config.ok) return { refusal: refuse('error', config.problem) };
  const facts = hostFacts(config.value);
  const selected = selectSegment(request.segments, facts.physnets);
  if (!selected) {
    const served = [...facts.physnets].sort().join(', ');
    return {
      refusal: refuse(
        'no_segment',
        `no flat or vlan segment on a physical network SPP serves on host ${request.host} (${served})`,
      ),
    };
  }
  const gate = judgeHostAgent(request, host, requirement);
  if (!gate.alive) return { refusal: refuse('agent_down', gate.reason) };
  const spp = sppDown(request, host);
  if (spp) return { refusal: refuse('spp_unreachable', spp) };
  return {
    wanted: {
      macAddress: request.macAddress,
      physnet: selected.physnet,
      ...(selected.vlanId !== undefined ? { vlanId: selected.vlanId } : {}),
    },
    segmentId: selected.segment.id,
    facts,
  };
}
