import type { IniOptions } from '../config/ini.js';
import type { AgentHandle, AgentSidecar } from './agent.js';

/**
 * The work that runs beside the agent, chosen from its config files. The heartbeat to
 * Neutron over RabbitMQ joins here when `[DEFAULT] transport_url` is set.
 */
export async function agentSidecars(
  _ini: IniOptions,
): Promise<(agent: AgentHandle) => AgentSidecar[]> {
  return () => [];
}
