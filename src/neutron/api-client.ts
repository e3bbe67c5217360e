import { z } from 'zod';
import { describeIssues } from '../util/validation.js';

/**
 * A minimal client of Neutron's REST API (v2.0) for the lab, tests and benchmarks. With
 * `auth_strategy = noauth` it sends no X-Project-Id header, so requests run as admin and
 * provider attributes are allowed.
 */

const portSchema = z.object({
  id: z.string(),
  network_id: z.string(),
  mac_address: z.string(),
  status: z.string(),
  'binding:host_id': z.string().nullable().optional(),
  'binding:vif_type': z.string().nullable().optional(),
  'binding:vif_details': z.record(z.string(), z.unknown()).nullable().optional(),
  revision_number: z.number().optional(),
});
export type NeutronPort = z.infer<typeof portSchema>;

/** One of a port's bindings (extension binding-extended: multiple port bindings). */
const bindingSchema = z.object({
  host: z.string(),
  status: z.string(),
  vif_type: z.string(),
  vif_details: z.record(z.string(), z.unknown()).nullable().optional(),
  vnic_type: z.string().optional(),
});
export type NeutronBinding = z.infer<typeof bindingSchema>;

const networkSchema = z.object({
  id: z.string(),
  name: z.string(),
  'provider:network_type': z.string().nullable().optional(),
  'provider:physical_network': z.string().nullable().optional(),
  'provider:segmentation_id': z.number().nullable().optional(),
});
export type NeutronNetwork = z.infer<typeof networkSchema>;

const agentSchema = z.object({
  id: z.string(),
  agent_type: z.string(),
  binary: z.string(),
  host: z.string(),
  topic: z.string().nullable().optional(),
  alive: z.boolean(),
  admin_state_up: z.boolean().optional(),
  configurations: z.record(z.string(), z.unknown()),
  started_at: z.string().nullable().optional(),
  heartbeat_timestamp: z.string().nullable().optional(),
});
export type NeutronAgent = z.infer<typeof agentSchema>;

const tapServiceSchema = z.looseObject({ id: z.string(), port_id: z.string(), status: z.string() });
export type NeutronTapService = z.infer<typeof tapServiceSchema>;

const tapFlowSchema = z.looseObject({
  id: z.string(),
  tap_service_id: z.string(),
  source_port: z.string(),
  direction: z.string(),
  status: z.string(),
});
export type NeutronTapFlow = z.infer<typeof tapFlowSchema>;

export class NeutronApiError extends Error {
  override readonly name = 'NeutronApiError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface NetworkSpec {
  name: string;
  networkType: 'flat' | 'vlan' | 'vxlan';
  physicalNetwork?: string;
  segmentationId?: number;
}

export class NeutronApi {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 60_000,
  ) {}

  async createNetwork(spec: NetworkSpec): Promise<NeutronNetwork> {
    const body = await this.request('POST', '/v2.0/networks', {
      network: {
        name: spec.name,
        'provider:network_type': spec.networkType,
        ...(spec.physicalNetwork ? { 'provider:physical_network': spec.physicalNetwork } : {}),
        ...(spec.segmentationId !== undefined
          ? { 'provider:segmentation_id': spec.segmentationId }
          : {}),
      },
    });
    return parse(z.object({ network: networkSchema }), body, 'network').network;
  }

  async deleteNetwork(id: string): Promise<void> {
    await this.request('DELETE', `/v2.0/networks/${id}`);
  }

  async createPort(networkId: string, fields: Record<string, unknown> = {}): Promise<NeutronPort> {
    const body = await this.request('POST', '/v2.0/ports', {
      port: { network_id: networkId, ...fields },
    });
    return parse(z.object({ port: portSchema }), body, 'port').port;
  }

  async getPort(id: string): Promise<NeutronPort | undefined> {
    try {
      const body = await this.request('GET', `/v2.0/ports/${id}`);
      return parse(z.object({ port: portSchema }), body, 'port').port;
    } catch (error) {
      if (error instanceof NeutronApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async updatePort(id: string, fields: Record<string, unknown>): Promise<NeutronPort> {
    const body = await this.request('PUT', `/v2.0/ports/${id}`, { port: fields });
    return parse(z.object({ port: portSchema }), body, 'port').port;
  }

  async deletePort(id: string): Promise<void> {
    await this.request('DELETE', `/v2.0/ports/${id}`);
  }

  async listPorts(query = ''): Promise<NeutronPort[]> {
    const body = await this.request('GET', `/v2.0/ports${query}`);
    return parse(z.object({ ports: z.array(portSchema) }), body, 'ports').ports;
  }

  /** POST /v2.0/ports/{id}/bindings: a new binding, INACTIVE when the port has an active one. */
  async createBinding(portId: string, host: string): Promise<NeutronBinding> {
    const body = await this.request('POST', `/v2.0/ports/${portId}/bindings`, {
      binding: { host },
    });
    return parse(z.object({ binding: bindingSchema }), body, 'binding').binding;
  }

  /** PUT /v2.0/ports/{id}/bindings/{host}/activate */
  async activateBinding(portId: string, host: string): Promise<NeutronBinding> {
    const path = `/v2.0/ports/${portId}/bindings/${encodeURIComponent(host)}/activate`;
    // Nova sends no body (with one, Zed's API passes port_id twice and answers 500).
    const body = await this.request('PUT', path);
    // Zed answers with the binding itself, not wrapped in {"binding": ...}.
    const answer = parse(
      z.union([z.object({ binding: bindingSchema }), bindingSchema]),
      body,
      'binding',
    );
    return 'binding' in answer ? answer.binding : answer;
  }

  /** DELETE /v2.0/ports/{id}/bindings/{host} (no mechanism driver is called). */
  async deleteBinding(portId: string, host: string): Promise<void> {
    await this.request('DELETE', `/v2.0/ports/${portId}/bindings/${encodeURIComponent(host)}`);
  }

  async listBindings(portId: string): Promise<NeutronBinding[]> {
    const body = await this.request('GET', `/v2.0/ports/${portId}/bindings`);
    return parse(z.object({ bindings: z.array(bindingSchema) }), body, 'bindings').bindings;
  }

  async listAgents(query = ''): Promise<NeutronAgent[]> {
    const body = await this.request('GET', `/v2.0/agents${query}`);
    return parse(z.object({ agents: z.array(agentSchema) }), body, 'agents').agents;
  }

  // -- tap-as-a-service (neutron_taas: /v2.0/taas/...) --------------------------------

  async createTapService(portId: string, name = 'tap-service'): Promise<NeutronTapService> {
    const body = await this.request('POST', '/v2.0/taas/tap_services', {
      tap_service: { port_id: portId, name },
    });
    return parse(z.object({ tap_service: tapServiceSchema }), body, 'tap service').tap_service;
  }

  async deleteTapService(id: string): Promise<void> {
    await this.request('DELETE', `/v2.0/taas/tap_services/${id}`);
  }

  async createTapFlow(
    tapServiceId: string,
    sourcePort: string,
    direction: 'IN' | 'OUT' | 'BOTH',
  ): Promise<NeutronTapFlow> {
    const body = await this.request('POST', '/v2.0/taas/tap_flows', {
      tap_flow: { tap_service_id: tapServiceId, source_port: sourcePort, direction },
    });
    return parse(z.object({ tap_flow: tapFlowSchema }), body, 'tap flow').tap_flow;
  }

  async getTapFlow(id: string): Promise<NeutronTapFlow | undefined> {
    try {
      const body = await this.request('GET', `/v2.0/taas/tap_flows/${id}`);
      return parse(z.object({ tap_flow: tapFlowSchema }), body, 'tap flow').tap_flow;
    } catch (error) {
      if (error instanceof NeutronApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async deleteTapFlow(id: string): Promise<void> {
    await this.request('DELETE', `/v2.0/taas/tap_flows/${id}`);
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new NeutronApiError(
        `${method} ${path}: ${response.status} ${text.slice(0, 500)}`,
        response.status,
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new Error(`unexpected answer: ${describeIssues(`Neutron ${what}`, result.error)}`);
  }
  return result.data;
}
