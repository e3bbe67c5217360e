import { buildHost, deleteHostKeys } from '../../src/hosts/admin.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { HostConfig } from '../../src/layout/schema.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { FakeAgent } from './fake-agent.js';

export interface ComputeHostOptions {
  store: EtcdStore;
  host: string;
  /** NIC mappings as an operator gives them, e.g. `00:04.0#phys1#2#0xfe`. */
  mappings?: string;
  /** Or a configuration written as is (e.g. more vhosts than a real core mask allows). */
  config?: HostConfig;
  /** Start without an agent (the host's agent is down). */
  noAgent?: boolean;
  guardedStatus?: boolean;
  leaseTtlS?: number;
}

export interface ComputeHost {
  host: string;
  config: HostConfig;
  agent: FakeAgent | undefined;
  /** Starts a (new) agent, stopping the previous one first. */
  startAgent(options?: { guardedStatus?: boolean }): Promise<FakeAgent>;
  stop(): Promise<void>;
}

/**
 * A compute host as the binding service sees it: its layout and slots in etcd and an agent
 * answering plug/unplug requests. The agent is a FakeAgent for now; a real agent with the
 * SPP emulator can be slotted in here without changing the tests.
 */
export async function startComputeHost(options: ComputeHostOptions): Promise<ComputeHost> {
  const { store, host } = options;
  const config =
    options.config ??
    planHostLayout({ mappings: options.mappings ?? '00:04.0#phys1#2#0xfe' }).config;
  await buildHost(store, host, config, { force: true });
  const computeHost: ComputeHost = {
    host,
    config,
    agent: undefined,
    async startAgent(agentOptions = {}) {
      await computeHost.agent?.stop();
      const agent = new FakeAgent({
        store,
        host,
        config,
        guardedStatus: agentOptions.guardedStatus ?? options.guardedStatus ?? true,
        leaseTtlS: options.leaseTtlS ?? 5,
      });
      await agent.start();
      computeHost.agent = agent;
      return agent;
    },
    async stop() {
      await computeHost.agent?.stop();
      computeHost.agent = undefined;
      await deleteHostKeys(store, host);
    },
  };
  if (!options.noAgent) await computeHost.startAgent();
  return computeHost;
}

/** A host configuration with `vhosts` slots on one physnet and no components (fake agent only). */
export function wideConfig(physnet: string, vhosts: number): HostConfig {
  return {
    vf: [
      {
        physical_network: physnet,
        pci_address: '00:04.0',
        num_vhost: vhosts,
        core_mask: '0x3',
        components: [],
      },
    ],
  };
}
