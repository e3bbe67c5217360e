import type { RpcRequest } from './oslo-message.js';

/** Version of ML2's agent RPC API (neutron.plugins.ml2.rpc.RpcCallbacks) these calls need. */
export const PLUGIN_RPC_VERSION = '1.5';

export interface DeviceRequest {
  /** The port id (or MAC) the agent wired or unwired. */
  device: string;
  host: string;
  /** Free-form id of the reporting agent, e.g. `spp-agent-<host>`. */
  agentId: string;
}

/**
 * `update_device_up` / `update_device_down` on topic `q-plugin`: what L2 agents send once a
 * port is wired (ML2 then releases the port's L2 provisioning block and, with no other
 * block left, sets it ACTIVE) or unwired (status DOWN).
 */
export function deviceStatusRequest(up: boolean, request: DeviceRequest): Omit<RpcRequest, 'call'> {
  return {
    method: up ? 'update_device_up' : 'update_device_down',
    version: PLUGIN_RPC_VERSION,
    args: { device: request.device, agent_id: request.agentId, host: request.host },
  };
}
