import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { PlacementServer } from '../../src/lab/placement-server.js';
import { PlacementClient } from '../../src/placement/client.js';
import { createDispatcher } from '../../src/placement/http.js';
import { NoAuth } from '../../src/placement/keystone.js';
import type { PlacementOptions } from '../../src/placement/options.js';
import type { PlacementService, PlacementServiceDeps } from '../../src/placement/service.js';
import { createPlacementService } from '../../src/placement/service.js';

export const RC = 'CUSTOM_SPP_VHOST';

/** A private etcd and a real Placement, and an admin client playing Nova and the operator. */
export interface PlacementLab {
  etcd: EtcdServer;
  placement: PlacementServer;
  store: EtcdStore;
  admin: PlacementClient;
  close(): Promise<void>;
}

export async function startLab(): Promise<PlacementLab> {
  const [etcd, placement] = await Promise.all([EtcdServer.launch(), PlacementServer.launch()]);
  const store = etcd.connectStore();
  const dispatcher: Agent = createDispatcher({ insecure: false });
  const admin = new PlacementClient(new NoAuth(placement.url), dispatcher, 10_000, '1.36');
  return {
    etcd,
    placement,
    store,
    admin,
    async close() {
      store.close();
      await dispatcher.close();
      await Promise.all([etcd.dispose(), placement.dispose()]);
    },
  };
}

/** Sync options for tests: noauth to `url`, short intervals, a 4 s leader lease. */
export function syncOptions(
  url: string,
  overrides: Partial<PlacementOptions> = {},
): PlacementOptions {
  return {
    enabled: true,
    auth: { type: 'noauth', endpoint: url },
    timeoutMs: 2000,
    tls: { insecure: false },
    syncIntervalMs: 2000,
    leaderTtlS: 4,
    retryMaxMs: 1000,
    hypervisorNames: new Map(),
    ...overrides,
  };
}

/** A pino logger whose lines are kept (parsed) instead of printed. */
export function capturedLogger(): { logger: Logger; logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), logs };
}

export interface RunningSync {
  service: PlacementService;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Runs one Placement sync instance in the background until stop(). */
export function runSync(
  options: PlacementOptions,
  deps: Omit<PlacementServiceDeps, 'logger'>,
): RunningSync {
  const { logger, logs } = capturedLogger();
  const service = createPlacementService(options, { settleMs: 20, ...deps, logger });
  const controller = new AbortController();
  const running = service.run(controller.signal);
  return {
    service,
    logs,
    async stop() {
      controller.abort();
      await running;
    },
  };
}

/** Registers a compute node as Nova does: a root provider named after the hypervisor. */
export async function novaComputeNode(admin: PlacementClient, name: string): Promise<string> {
  const created = await admin.request('POST', '/resource_providers', {
    body: { name, uuid: randomUUID() },
  });
  const { uuid, generation } = created.body as { uuid: string; generation: number };
  await admin.setInventories(uuid, generation, {
    VCPU: { total: 8, reserved: 0, min_unit: 1, max_unit: 8, step_size: 1, allocation_ratio: 1 },
    MEMORY_MB: {
      total: 16384,
      reserved: 0,
      min_unit: 1,
      max_unit: 16384,
      step_size: 1,
      allocation_ratio: 1,
    },
  });
  return uuid;
}

export interface SppProvider {
  name: string;
  uuid: string;
  parent: string | null;
  total?: number;
  reserved?: number;
  traits: string[];
}

/** Our providers as Placement lists them now, by name. */
export async function sppProviders(admin: PlacementClient): Promise<Map<string, SppProvider>> {
  const result = new Map<string, SppProvider>();
  for (const provider of await admin.listProviders()) {
    if (!provider.name.includes(':SPP neutron agent:')) continue;
    const [inventories, traits] = await Promise.all([
      admin.inventories(provider.uuid),
      admin.traits(provider.uuid),
    ]);
    const inventory = inventories.inventories[RC];
    result.set(provider.name, {
      name: provider.name,
      uuid: provider.uuid,
      parent: provider.parent_provider_uuid ?? null,
      ...(inventory ? { total: inventory.total, reserved: inventory.reserved } : {}),
      traits: [...traits.traits].sort(),
    });
  }
  return result;
}

/**
 * Names of the compute nodes Placement offers for a flavor asking 1 VCPU, 512 MB and, in
 * request group 1, `slots` vhost slots with the physnet's trait (as Nova asks with
 * `resources1:CUSTOM_SPP_VHOST=1`, `trait1:CUSTOM_PHYSNET_PHYS2=required`).
 */
export async function candidateHosts(
  admin: PlacementClient,
  trait: string,
  slots = 1,
): Promise<string[]> {
  const query = new URLSearchParams({
    resources: 'VCPU:1,MEMORY_MB:512',
    resources1: `${RC}:${slots}`,
    required1: trait,
    group_policy: 'isolate',
  });
  const answer = await admin.request('GET', `/allocation_candidates?${query.toString()}`);
  const body = answer.body as {
    allocation_requests: Array<{ allocations: Record<string, unknown> }>;
    provider_summaries: Record<string, { parent_provider_uuid: string | null }>;
  };
  const names = new Map((await admin.listProviders()).map((each) => [each.uuid, each.name]));
  const roots = new Set<string>();
  for (const request of body.allocation_requests) {
    for (const uuid of Object.keys(request.allocations)) {
      if (body.provider_summaries[uuid]?.parent_provider_uuid === null) {
        roots.add(names.get(uuid) ?? uuid);
      }
    }
  }
  return [...roots].sort();
}

/** Allocates for one consumer (an instance) as Nova does after scheduling. */
export async function allocate(
  admin: PlacementClient,
  consumer: string,
  allocations: Record<string, Record<string, number>>,
): Promise<void> {
  await admin.request('PUT', `/allocations/${consumer}`, {
    body: {
      allocations: Object.fromEntries(
        Object.entries(allocations).map(([uuid, resources]) => [uuid, { resources }]),
      ),
      project_id: randomUUID(),
      user_id: randomUUID(),
      consumer_generation: null,
    },
    expect: [204],
  });
}
