import { convertValue } from '../config/option.js';
import { keys } from '../etcd/keys.js';
import type { Condition, EtcdStore } from '../etcd/store.js';

/*
 * Whether a bind may go to a host's SPP agent, per host, in a cloud that still runs the
 * original agent on some hosts (issue 15). `require_etcd_agent`:
 * - true: our lease-bound liveness key `agent/<host>` must exist (every host runs ours);
 * - false: only Neutron's view (the original agent does not write etcd liveness);
 * - auto: hosts known to run our agent are judged by etcd, the others by Neutron.
 * A host runs our agent if it holds our liveness key now, or the durable, non-leased
 * `agent_kind/<host>` our agent writes: without that marker an agent of ours that died
 * (key lapsed) would look like an original agent, and Neutron, which keeps a dead agent
 * "alive" for agent_down_time (75 s), would be trusted instead of etcd.
 * In every mode Neutron's view, when the bind request carries it, must show one alive
 * agent, as today.
 */

export type EtcdAgentRequirement = 'true' | 'false' | 'auto';

/** `[spp_server] require_etcd_agent`: an oslo boolean or `auto`. */
export function parseEtcdAgentRequirement(raw: string): EtcdAgentRequirement {
  if (raw.toLowerCase() === 'auto') return 'auto';
  try {
    return convertValue({ kind: 'boolean' }, raw) === true ? 'true' : 'false';
  } catch {
    throw new Error('must be true, false or auto');
  }
}

export type AgentKind = 'networking-spp' | 'original';

/** What etcd and Neutron say about a host's agent at bind time. */
export interface AgentEvidence {
  host: string;
  /** Our liveness key `agent/<host>` exists (its lease is alive). */
  livenessKey: boolean;
  /** Our durable marker `agent_kind/<host>` exists. */
  kindMarker: boolean;
  /** Neutron's view of the host's SPP agents, when the driver could read it. */
  neutronAgents?: ReadonlyArray<{ alive: boolean }>;
}

/** Which kind of agent the host runs, as far as etcd tells ("original" also means none). */
export function agentKindOf(
  evidence: Pick<AgentEvidence, 'livenessKey' | 'kindMarker'>,
): AgentKind {
  return evidence.livenessKey || evidence.kindMarker ? 'networking-spp' : 'original';
}

export type GateDecision =
  | {
      alive: true;
      judgedBy: 'etcd' | 'neutron' | 'nothing';
      /** Conditions the bind's transaction must carry (the liveness key still there). */
      guards: Condition[];
    }
  | { alive: false; judgedBy: 'etcd' | 'neutron'; reason: string };

function neutronDown(evidence: AgentEvidence): string | undefined {
  const agents = evidence.neutronAgents;
  if (!agents || agents.some((agent) => agent.alive)) return undefined;
  return agents.length === 0
    ? `Neutron knows no SPP agent on host ${evidence.host}`
    : `Neutron reports the SPP agent on host ${evidence.host} as down`;
}

/** Judges whether the host's agent is alive for a bind, under `requirement`. */
export function judgeAgent(
  requirement: EtcdAgentRequirement,
  evidence: AgentEvidence,
): GateDecision {
  const byEtcd =
    requirement === 'true' ||
    (requirement === 'auto' && agentKindOf(evidence) === 'networking-spp');
  if (byEtcd && !evidence.livenessKey) {
    const kind = evidence.kindMarker && requirement === 'auto' ? ' (it runs our agent)' : '';
    return {
      alive: false,
      judgedBy: 'etcd',
      reason: `no SPP agent is alive on host ${evidence.host}${kind}: its liveness key ${keys.agent(evidence.host)} is absent (agent stopped or its lease expired)`,
    };
  }
  const neutron = neutronDown(evidence);
  if (neutron) return { alive: false, judgedBy: 'neutron', reason: neutron };
  if (byEtcd) {
    return {
      alive: true,
      judgedBy: 'etcd',
      guards: [{ key: keys.agent(evidence.host), present: true }],
    };
  }
  if (requirement === 'auto' && !evidence.neutronAgents) {
    return {
      alive: false,
      judgedBy: 'neutron',
      reason: `host ${evidence.host} does not run our agent (no ${keys.agentKind(evidence.host)}) and the bind request carries no Neutron view of its agents to judge it by`,
    };
  }
  return { alive: true, judgedBy: evidence.neutronAgents ? 'neutron' : 'nothing', guards: [] };
}

/** Reads a host's etcd evidence (liveness key and kind marker) in one request. */
export async function readAgentEvidence(
  store: EtcdStore,
  host: string,
  neutronAgents?: ReadonlyArray<{ alive: boolean }>,
): Promise<AgentEvidence> {
  const snapshot = await store.read([{ get: keys.agent(host) }, { get: keys.agentKind(host) }]);
  const present = (key: string) => snapshot.kvs.some((kv) => kv.key === key);
  return {
    host,
    livenessKey: present(keys.agent(host)),
    kindMarker: present(keys.agentKind(host)),
    ...(neutronAgents ? { neutronAgents } : {}),
  };
}
