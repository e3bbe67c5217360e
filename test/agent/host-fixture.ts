import { EmulatorServer } from '../../src/emulator/server.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import type { Dialect } from '../../src/emulator/spec.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { buildHost } from '../../src/hosts/admin.js';
import { AgentProcess } from '../../src/lab/agent-process.js';
import type { HostConfig } from '../../src/layout/schema.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { ProcessStatus } from '../../src/spp/status.js';

export interface ComputeHostFixture {
  host: string;
  config: HostConfig;
  emulator: EmulatorServer;
  agent: AgentProcess | undefined;
  startAgent(ini?: Record<string, Record<string, string>>): Promise<AgentProcess>;
  status(clientId: number, kind?: 'vfs' | 'mirrors'): Promise<ProcessStatus>;
  stop(): Promise<void>;
}

/** A compute host for agent tests: layout in etcd, an emulated SPP, and (on demand) the real agent. */
export async function computeHost(options: {
  store: EtcdStore;
  etcd: string;
  host: string;
  mappings?: string;
  mirror?: string;
  config?: HostConfig;
  dialect?: Dialect;
}): Promise<ComputeHostFixture> {
  const config =
    options.config ??
    planHostLayout({
      mappings: options.mappings ?? '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02',
      ...(options.mirror ? { mirror: options.mirror } : {}),
    }).config;
  await buildHost(options.store, options.host, config, { force: true });
  const emulator = await EmulatorServer.start(
    hostSpecFromLayout(config, { dialect: options.dialect ?? '18.08' }),
  );
  const fixture: ComputeHostFixture = {
    host: options.host,
    config,
    emulator,
    agent: undefined,
    async startAgent(ini = {}) {
      const agent = await AgentProcess.start({
        host: options.host,
        etcd: options.etcd,
        sppCtlUrl: emulator.url,
        ini: { ...ini, spp: { reconcile_interval: '0.5', retry_max_interval: '0.5', ...ini.spp } },
      });
      fixture.agent = agent;
      // Built and matching etcd: tests start from a settled host.
      await agent.waitForMessage('host reconciled', 15_000);
      return agent;
    },
    async status(clientId, kind = 'vfs') {
      const response = await fetch(`${emulator.url}/v1/${kind}/${clientId}`);
      return (await response.json()) as ProcessStatus;
    },
    async stop() {
      await fixture.agent?.stop();
      fixture.agent = undefined;
      await emulator.stop();
    },
  };
  return fixture;
}
