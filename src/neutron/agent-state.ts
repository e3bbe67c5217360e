import type { AgentRecord } from '../etcd/values.js';
import type { RpcRequest } from './oslo-message.js';
import { osloTime } from './oslo-message.js';

/** How Neutron knows this agent; ML2 asks `host_agents(AGENT_TYPE)`. */
export const AGENT_TYPE = 'SPP neutron agent';
export const AGENT_BINARY = 'neutron-spp-agent';
/** The agent consumes no Neutron topic (its work comes from etcd), as the original. */
export const AGENT_TOPIC = 'N/A';
/** Version of Neutron's PluginReportStateAPI that carries `time`. */
export const REPORT_STATE_VERSION = '1.2';

/** Free-form `configurations` shown by `GET /v2.0/agents`. */
export interface AgentConfigurations {
  physnets: string[];
  vhosts: Record<string, { total: number; free: number }>;
  spp_dialect: string | null;
  version: string;
  /** `ok`, or `unreachable: <why>` while binds on the host are refused as spp_unreachable. */
  spp: string;
}

/** The configurations from the agent's liveness record and its count of free slots. */
export function agentConfigurations(
  record: AgentRecord,
  free: Record<string, number>,
): AgentConfigurations {
  const physnets = Object.keys(record.physnets).sort();
  const vhosts: AgentConfigurations['vhosts'] = {};
  for (const physnet of physnets) {
    const total = record.physnets[physnet]?.vhosts.length ?? 0;
    vhosts[physnet] = { total, free: Math.min(total, free[physnet] ?? total) };
  }
  const spp = record.spp?.state === 'unreachable' ? `unreachable: ${record.spp.problem}` : 'ok';
  return {
    physnets,
    vhosts,
    spp_dialect: record.dialect ?? null,
    version: record.version,
    spp,
  };
}

export interface AgentStateInput {
  host: string;
  configurations: object;
  /** True until one report has been acknowledged: Neutron then records `started_at`. */
  startFlag: boolean;
}

/** The `agent_state` dict Neutron's agents_db expects. */
export function buildAgentState(input: AgentStateInput): Record<string, unknown> {
  return {
    agent_type: AGENT_TYPE,
    binary: AGENT_BINARY,
    host: input.host,
    topic: AGENT_TOPIC,
    configurations: input.configurations,
    ...(input.startFlag ? { start_flag: true } : {}),
  };
}

/** The `report_state` RPC (neutron.agent.rpc.PluginReportStateAPI) for `agentState` at `now`. */
export function reportStateRequest(
  agentState: Record<string, unknown>,
  now: Date,
): Omit<RpcRequest, 'call'> {
  return {
    method: 'report_state',
    version: REPORT_STATE_VERSION,
    args: { agent_state: { agent_state: agentState }, time: osloTime(now) },
  };
}
