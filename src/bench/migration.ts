import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { EmulatorServer } from '../emulator/server.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { DEFAULT_ETCD_SETTINGS } from '../etcd/connection.js';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { buildHost } from '../hosts/admin.js';
import { AgentProcess } from '../lab/agent-process.js';
import { EtcdServer } from '../lab/etcd-server.js';
import { NeutronServer } from '../lab/neutron-server.js';
import { freePort } from '../lab/ports.js';
import { RabbitMqServer } from '../lab/rabbitmq.js';
import { planHostLayout } from '../layout/host-layout.js';
import type { NeutronNetwork } from '../neutron/api-client.js';
import { NeutronApi } from '../neutron/api-client.js';
import { startServer } from '../server/index.js';
import { InputError } from '../util/errors.js';
import type { Percentiles } from './stats.js';
import { describePercentiles, percentiles } from './stats.js';
import type { BenchSuite } from './suites.js';

/**
 * `networking-spp bench migration`: live migration of ports through a real neutron-server's
 * multiple port bindings, one port at a time, half flat and half VLAN, between two compute
 * hosts (SPP emulator + agent each): `POST /v2.0/ports/{id}/bindings` on B (INACTIVE,
 * bound and plugged on B before the answer), `PUT .../bindings/B/activate` (the answer,
 * then the port ACTIVE again and A's slot free), `DELETE .../bindings/A`. Then a few
 * aborted migrations: `DELETE .../bindings/B` until B's slot is free (full sync).
 */

const DEFAULT_PORTS = 20;
const ABORTS = 3;
const HOSTS = ['bench-a', 'bench-b'] as const;
const TIMEOUT_MS = 60_000;
const SYNC_INTERVAL_S = 5;
const SYNC_GRACE_S = 5;

interface MigrationBenchResult {
  suite: 'migration';
  ports: number;
  create_binding_ms: Percentiles;
  activate_answer_ms: Percentiles;
  activate_to_active_ms: Percentiles;
  activate_to_source_free_ms: Percentiles;
  abort_to_target_free_ms: Percentiles;
  sync_interval_s: number;
  sync_grace_s: number;
  command: string;
}

function positive(value: string | boolean | undefined, fallback: number, max: number) {
  if (value === undefined || value === false) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InputError(`--binds: must be an integer 1..${max}, got "${String(value)}"`);
  }
  return n;
}

function mappings(perNic: number): string {
  let next = 1;
  return [0, 1]
    .map((nic) => {
      const width = 2 * perNic + 3;
      const mask = ((1n << BigInt(width)) - 1n) << BigInt(next);
      next += width;
      return `00:0${4 + nic}.0#phys${nic + 1}#${perNic}#0x${mask.toString(16)}`;
    })
    .join(',');
}

async function until(what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
  return performance.now() - started;
}

async function holdsSlot(store: EtcdStore, host: string, portId: string): Promise<boolean> {
  const slots = await store.getPrefix(keys.hostPrefix('vhost', host));
  return slots.kvs.some((kv) => kv.value === portId);
}

interface Stack {
  api: NeutronApi;
  store: EtcdStore;
  networks: NeutronNetwork[];
  cleanups: Array<() => Promise<void>>;
}

async function startStack(count: number, progress: (line: string) => void): Promise<Stack> {
  const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const cleanups: Stack['cleanups'] = [];
  const [etcd, rabbit] = await Promise.all([EtcdServer.launch(), RabbitMqServer.launch()]);
  const store = etcd.connectStore();
  cleanups.push(async () => {
    store.close();
    await rabbit.dispose();
    await etcd.dispose();
  });
  const token = 'bench-token';
  const service = await startServer(
    {
      listenAddress: '127.0.0.1',
      listenPort: await freePort(),
      authToken: token,
      authDisabled: false,
      bindTimeoutMs: 20_000,
      syncGraceMs: SYNC_GRACE_S * 1000,
      requireEtcdAgent: 'true',
      shutdownGraceMs: 2000,
      etcd: { ...DEFAULT_ETCD_SETTINGS, endpoints: [etcd.endpoint] },
    },
    { logger: quiet, defaultMetrics: false },
  );
  cleanups.push(() => service.close());
  const config = planHostLayout({ mappings: mappings(Math.ceil(count / 2) + ABORTS) }).config;
  const agents: AgentProcess[] = [];
  for (const host of HOSTS) {
    await buildHost(store, host, config, { force: true });
    const emulator = await EmulatorServer.start(hostSpecFromLayout(config, { dialect: '18.08' }), {
      logger: quiet,
    });
    cleanups.push(() => emulator.stop());
    const agent = await AgentProcess.start({
      host,
      etcd: etcd.endpoint,
      sppCtlUrl: emulator.url,
      ini: { DEFAULT: { transport_url: rabbit.transportUrl }, AGENT: { report_interval: '2' } },
      logLevel: 'warn',
    });
    agents.push(agent);
    cleanups.push(async () => {
      await agent.stop();
    });
  }
  progress('starting neutron-server (schema from models, about 10-30 s)');
  const neutron = await NeutronServer.launch({
    transportUrl: rabbit.transportUrl,
    spp: {
      service_url: service.url,
      auth_token: token,
      request_timeout: '30',
      sync_interval: String(SYNC_INTERVAL_S),
    },
  });
  cleanups.push(() => neutron.dispose());
  const api = new NeutronApi(neutron.url);
  await until('both agents alive in Neutron', async () => {
    const alive = (await api.listAgents()).filter((a) => a.alive).map((a) => a.host);
    return HOSTS.every((host) => alive.includes(host));
  });
  const networks = [
    await api.createNetwork({ name: 'mig-flat', networkType: 'flat', physicalNetwork: 'phys1' }),
    await api.createNetwork({
      name: 'mig-vlan',
      networkType: 'vlan',
      physicalNetwork: 'phys2',
      segmentationId: 100,
    }),
  ];
  return { api, store, networks, cleanups };
}

async function runMigrationBench(
  count: number,
  progress: (line: string) => void,
): Promise<MigrationBenchResult> {
  progress('starting etcd, RabbitMQ, the service, two hosts with agents');
  const stack = await startStack(count, progress);
  const { api, store, networks } = stack;
  const [a, b] = HOSTS;
  const samples = {
    create: [] as number[],
    answer: [] as number[],
    active: [] as number[],
    sourceFree: [] as number[],
    abort: [] as number[],
  };
  try {
    const vmPort = (index: number) =>
      api.createPort((networks[index % 2] as NeutronNetwork).id, {
        'binding:host_id': a,
        device_owner: 'compute:nova',
        device_id: `bench-vm-${index}`,
      });
    progress(`migrating ${count} ports one at a time`);
    for (let index = 0; index < count; index++) {
      const port = await vmPort(index);
      if (port.status !== 'ACTIVE') throw new Error(`port ${port.id} not ACTIVE on ${a}`);
      let started = performance.now();
      const binding = await api.createBinding(port.id, b);
      samples.create.push(performance.now() - started);
      if (binding.vif_type !== 'vhostuser') throw new Error(`${port.id} not bound on ${b}`);
      started = performance.now();
      await api.activateBinding(port.id, b);
      samples.answer.push(performance.now() - started);
      await until(
        `${port.id} ACTIVE`,
        async () => (await api.getPort(port.id))?.status === 'ACTIVE',
      );
      samples.active.push(performance.now() - started);
      await until(`${port.id} off ${a}`, async () => !(await holdsSlot(store, a, port.id)));
      samples.sourceFree.push(performance.now() - started);
      await api.deleteBinding(port.id, a);
    }
    progress(`${ABORTS} aborted migrations (slot on B freed by the full sync)`);
    for (let index = 0; index < ABORTS; index++) {
      const port = await vmPort(count + index);
      await api.createBinding(port.id, b);
      const started = performance.now();
      await api.deleteBinding(port.id, b);
      await until(`${port.id} off ${b}`, async () => !(await holdsSlot(store, b, port.id)));
      samples.abort.push(performance.now() - started);
    }
  } finally {
    for (const cleanup of stack.cleanups.reverse()) await cleanup().catch(() => undefined);
  }
  return {
    suite: 'migration',
    ports: count,
    create_binding_ms: percentiles(samples.create),
    activate_answer_ms: percentiles(samples.answer),
    activate_to_active_ms: percentiles(samples.active),
    activate_to_source_free_ms: percentiles(samples.sourceFree),
    abort_to_target_free_ms: percentiles(samples.abort),
    sync_interval_s: SYNC_INTERVAL_S,
    sync_grace_s: SYNC_GRACE_S,
    command: `node bin/networking-spp.js bench migration${count === DEFAULT_PORTS ? '' : ` --binds ${count}`}`,
  };
}

export const migrationBench: BenchSuite = {
  description: 'live migration through a real neutron-server: create binding on B, activate, abort',
  async run(options) {
    const count = positive(options.binds, DEFAULT_PORTS, 60);
    const progress = (line: string) => process.stderr.write(`  … ${line}\n`);
    const result = await runMigrationBench(count, progress);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const row = (label: string, value: string) => `  ${label.padEnd(46)} ${value}`;
    process.stdout.write(
      [
        `migration bench: ${count} ports (half flat, half VLAN) one at a time, host A -> B, real neutron-server 21 (SQLite) + RabbitMQ`,
        row(
          'POST /v2.0/ports/{id}/bindings (B) answer',
          describePercentiles(result.create_binding_ms),
        ),
        row('PUT .../bindings/B/activate answer', describePercentiles(result.activate_answer_ms)),
        row('  activate -> port ACTIVE (GET)', describePercentiles(result.activate_to_active_ms)),
        row('  activate -> slot on A free', describePercentiles(result.activate_to_source_free_ms)),
        row(
          `abort: DELETE .../bindings/B -> slot on B free`,
          `${describePercentiles(result.abort_to_target_free_ms)} (sync_interval ${result.sync_interval_s} s, sync_grace ${result.sync_grace_s} s)`,
        ),
        `reproduce: ${result.command}`,
        '',
      ].join('\n'),
    );
  },
};
