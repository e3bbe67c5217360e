import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { EmulatorServer } from '../emulator/server.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { DEFAULT_ETCD_SETTINGS } from '../etcd/connection.js';
import { buildHost } from '../hosts/admin.js';
import { AgentProcess } from '../lab/agent-process.js';
import { EtcdServer } from '../lab/etcd-server.js';
import { NeutronServer } from '../lab/neutron-server.js';
import { freePort } from '../lab/ports.js';
import { RabbitMqServer } from '../lab/rabbitmq.js';
import { planHostLayout } from '../layout/host-layout.js';
import type { NeutronNetwork, NeutronPort } from '../neutron/api-client.js';
import { NeutronApi } from '../neutron/api-client.js';
import { startServer } from '../server/index.js';
import { InputError } from '../util/errors.js';
import type { Percentiles } from './stats.js';
import { describePercentiles, percentiles, roundMs } from './stats.js';
import type { BenchSuite } from './suites.js';

/**
 * `networking-spp bench neutron`: ports bound through a real neutron-server (ML2 with the
 * repository's `spp` driver) on a private stack: etcd, RabbitMQ, the binding service, one
 * compute host (SPP emulator + agent process reporting over RabbitMQ). Each port is created
 * with `POST /v2.0/ports` and `binding:host_id`; its latency runs from the POST to the
 * port being ACTIVE (the POST answer when it already says so, else the first GET that
 * does). Half of the ports are on a flat network, half on a VLAN network.
 */

const DEFAULT_PORTS = 50;
const HOST = 'bench-compute';
const ACTIVE_TIMEOUT_MS = 60_000;

interface NeutronBenchResult {
  suite: 'neutron';
  ports: number;
  concurrency: number;
  create_to_active_ms: Percentiles;
  post_answer_ms: Percentiles;
  active_in_post_answer: number;
  /** Inside the POST: the service's bind, and the part of it spent waiting for the agent. */
  service_bind_ms: Percentiles;
  agent_wait_ms: Percentiles;
  agent_start_to_alive_in_neutron_ms: number;
  neutron_start_ms: number;
  command: string;
}

function positive(
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  max: number,
) {
  if (value === undefined || value === false) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InputError(`--${name}: must be an integer 1..${max}, got "${String(value)}"`);
  }
  return n;
}

/** Two NICs (phys1, phys2) with `perNic` vhosts each, default layout, disjoint core ranges. */
function benchMappings(perNic: number): string {
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

async function untilActive(api: NeutronApi, port: NeutronPort): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  let current: NeutronPort | undefined = port;
  while (current?.status !== 'ACTIVE') {
    if (current?.['binding:vif_type'] === 'binding_failed') {
      throw new Error(`port ${port.id} failed to bind`);
    }
    if (Date.now() > deadline) throw new Error(`port ${port.id} not ACTIVE in time`);
    await delay(20);
    current = await api.getPort(port.id);
  }
}

async function runNeutronBench(
  count: number,
  concurrency: number,
  progress: (line: string) => void,
): Promise<NeutronBenchResult> {
  const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const binds: Array<{ duration: number; wait: number }> = [];
  const bindLog = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) {
          if (!line.includes('"msg":"bind"')) continue;
          const entry = JSON.parse(line) as {
            result?: string;
            duration_ms?: number;
            agent_wait_ms?: number;
          };
          if (entry.result === 'bound') {
            binds.push({ duration: entry.duration_ms ?? NaN, wait: entry.agent_wait_ms ?? NaN });
          }
        }
        done();
      },
    }),
  );
  progress('starting etcd and RabbitMQ');
  const [etcd, rabbit] = await Promise.all([EtcdServer.launch(), RabbitMqServer.launch()]);
  const store = etcd.connectStore();
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const token = 'bench-token';
    const service = await startServer(
      {
        listenAddress: '127.0.0.1',
        listenPort: await freePort(),
        authToken: token,
        authDisabled: false,
        bindTimeoutMs: 20_000,
        syncGraceMs: 60_000,
        requireEtcdAgent: 'true',
        shutdownGraceMs: 2000,
        etcd: { ...DEFAULT_ETCD_SETTINGS, endpoints: [etcd.endpoint] },
      },
      { logger: bindLog, defaultMetrics: false },
    );
    cleanups.push(() => service.close());
    const config = planHostLayout({ mappings: benchMappings(Math.ceil(count / 2)) }).config;
    await buildHost(store, HOST, config, { force: true });
    const emulator = await EmulatorServer.start(hostSpecFromLayout(config, { dialect: '18.08' }), {
      logger: quiet,
    });
    cleanups.push(() => emulator.stop());

    progress('starting neutron-server (schema from models, about 10-30 s)');
    const neutronStarted = performance.now();
    const neutron = await NeutronServer.launch({
      transportUrl: rabbit.transportUrl,
      spp: {
        service_url: service.url,
        auth_token: token,
        request_timeout: '30',
        sync_interval: '60',
      },
    });
    const neutronStartMs = performance.now() - neutronStarted;
    cleanups.push(() => neutron.dispose());
    const api = new NeutronApi(neutron.url);

    progress('starting the agent');
    const agentStarted = performance.now();
    const agent = await AgentProcess.start({
      host: HOST,
      etcd: etcd.endpoint,
      sppCtlUrl: emulator.url,
      ini: {
        DEFAULT: { transport_url: rabbit.transportUrl },
        AGENT: { report_interval: '2' },
        spp: { reconcile_interval: '5' },
      },
      logLevel: 'warn',
    });
    cleanups.push(async () => {
      await agent.stop();
    });
    for (;;) {
      const agents = await api.listAgents();
      if (agents.some((a) => a.host === HOST && a.alive)) break;
      if (performance.now() - agentStarted > 60_000)
        throw new Error('agent never alive in Neutron');
      await delay(20);
    }
    const agentAliveMs = performance.now() - agentStarted;

    const networks: NeutronNetwork[] = [
      await api.createNetwork({
        name: 'bench-flat',
        networkType: 'flat',
        physicalNetwork: 'phys1',
      }),
      await api.createNetwork({
        name: 'bench-vlan',
        networkType: 'vlan',
        physicalNetwork: 'phys2',
        segmentationId: 100,
      }),
    ];
    progress(`creating ${count} ports (concurrency ${concurrency})`);
    const toActive: number[] = [];
    const postAnswer: number[] = [];
    let activeInAnswer = 0;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const network = networks[index % 2] as NeutronNetwork;
        const started = performance.now();
        const port = await api.createPort(network.id, { 'binding:host_id': HOST });
        postAnswer.push(performance.now() - started);
        if (port.status === 'ACTIVE') activeInAnswer++;
        await untilActive(api, port);
        toActive.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return {
      suite: 'neutron',
      ports: count,
      concurrency,
      create_to_active_ms: percentiles(toActive),
      post_answer_ms: percentiles(postAnswer),
      active_in_post_answer: activeInAnswer,
      service_bind_ms: percentiles(binds.map((b) => b.duration)),
      agent_wait_ms: percentiles(binds.map((b) => b.wait)),
      agent_start_to_alive_in_neutron_ms: roundMs(agentAliveMs),
      neutron_start_ms: roundMs(neutronStartMs),
      command: `node bin/networking-spp.js bench neutron${count === DEFAULT_PORTS ? '' : ` --binds ${count}`}${concurrency === 1 ? '' : ` --concurrency ${concurrency}`}`,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    store.close();
    await rabbit.dispose();
    await etcd.dispose();
  }
}

export const neutronBench: BenchSuite = {
  description:
    'ports through a real neutron-server + RabbitMQ + binding service + agent: POST /v2.0/ports to ACTIVE',
  async run(options) {
    const count = positive('binds', options.binds, DEFAULT_PORTS, 120);
    const concurrency = positive('concurrency', options.concurrency, 1, 16);
    const progress = (line: string) => process.stderr.write(`  … ${line}\n`);
    const result = await runNeutronBench(count, concurrency, progress);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const row = (label: string, value: string) => `  ${label.padEnd(44)} ${value}`;
    process.stdout.write(
      [
        `neutron bench: ${count} ports (half flat, half VLAN), concurrency ${concurrency}, one host, real neutron-server 21 (SQLite) + RabbitMQ`,
        row('POST /v2.0/ports -> port ACTIVE', describePercentiles(result.create_to_active_ms)),
        row('POST /v2.0/ports answer', describePercentiles(result.post_answer_ms)),
        row('ACTIVE already in the POST answer', `${result.active_in_post_answer}/${count}`),
        row('  of which: service bind', describePercentiles(result.service_bind_ms)),
        row('  of which: waiting for the agent', describePercentiles(result.agent_wait_ms)),
        row(
          'agent start -> alive in GET /v2.0/agents',
          `${result.agent_start_to_alive_in_neutron_ms} ms`,
        ),
        row('neutron-server start (schema + first answer)', `${result.neutron_start_ms} ms`),
        `reproduce: ${result.command}`,
        '',
      ].join('\n'),
    );
  },
};
