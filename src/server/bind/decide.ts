import { keys } from '../../etcd/keys.js';
import type { HostConfig } from '../../layout/schema.js';
import { layoutPhysnets, layoutSlotNames } from '../../layout/slots.js';
import type { HostState } from '../../snapshot/model.js';
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

/** Why the host's agent counts as down, or undefined when it is alive. */
export function agentDown(
  request: BindRequest,
  host: HostState,
  requireEtcdAgent: boolean,
): string | undefined {
  if (requireEtcdAgent && !host.agent) {
    return `no SPP agent is alive on host ${request.host}: its liveness key ${keys.agent(request.host)} is absent (agent stopped or its lease expired)`;
  }
  if (request.agents && !request.agents.some((agent) => agent.alive)) {
    return request.agents.length === 0
      ? `Neutron knows no SPP agent on host ${request.host}`
      : `Neutron reports the SPP agent on host ${request.host} as down`;
  }
  return undefined;
}

export type HostDecision =
  | { refusal: BindOutcome & { bound: false } }
  | { wanted: Wanted; segmentId: string; facts: HostFacts };

/** The checks of SYSTEM.md §4 steps 1–3 on one view of the host (pure). */
export function decideHost(
  request: BindRequest,
  host: HostState,
  requireEtcdAgent: boolean,
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
  const down = agentDown(request, host, requireEtcdAgent);
  if (down) return { refusal: refuse('agent_down', down) };
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
