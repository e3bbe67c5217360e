import { pino } from 'pino';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { EmulatorServer } from '../emulator/server.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { HostSnapshot } from '../snapshot/snapshot.js';
import { buildHost } from '../hosts/admin.js';
import { AGENT_NODE_FLAGS, AgentProcess } from '../lab/agent-process.js';
import { cpuMs } from './cpu.js';
import { EtcdServer } from '../lab/etcd-server.js';
import { requestPlug } from '../lab/port-requests.js';
import type { HostConfig } from '../layout/schema.js';
import { planHostLayout } from '../layout/host-layout.js';
import { InputError } from '../util/errors.js';
import { bigHostMappings, sharedCoreLayout } from './emulator.js';
import type { Percentiles } from './stats.js';
import { describePercentiles, percentiles, roundMs } from './stats.js';
import type { BenchSuite } from './suites.js';

/**
 * `networking-spp bench agent`: the compute agent as a child process against a private etcd
 * and the SPP emulator. Start-up, idle memory and SIGTERM are measured on a host of 4 NICs ×
 * 8 vhosts (default layout); plug latency is the time from the etcd transaction that writes
 * a plug request to the watch event of `port_status = up`; the restart figure is the time
 * from spawning an agent on a host with 64 plugged ports to its first full reconcile.
 */

const START_RUNS = 5;
const DEFAULT_PLUGS = 200;
const IDLE_SETTLE_MS = 2000;
const STEP_TIMEOUT_MS = 15_000;

/** 4 NICs × 8 vhosts, default layout: 2·8 + 2 workers + master = 19 cores per NIC. */
function startHost(): HostConfig {
  const mappings = Array.from({ length: 4 }, (_, nic) => {
    const mask = ((1n << 19n) - 1n) << BigInt(19 * nic);
    return `00:0${4 + nic}.0#phys${nic}#8#0x${mask.toString(16)}`;
  }).join(',');
  return planHostLayout({ mappings }).config;
}

/** 4 NICs × 16 vhosts = 64 vhosts, forwarders sharing cores (16 cores per NIC). */
function restartHost(): HostConfig {
  const mappings = bigHostMappings(4, 16);
  const layout = sharedCoreLayout(4, 16);
  return planHostLayout({ mappings, custom: { layout, file: 'bench layout' } }).config;
}

interface BenchHost {
  name: string;
  config: HostConfig;
  emulator: EmulatorServer;
}

interface AgentBenchResult {
  suite: 'agent';
  start_to_watching_ms: Percentiles;
  start_to_reconciled_fresh_spp_ms: number;
  start_to_reconciled_built_spp_ms: Percentiles;
  rss_idle_mb: number;
  sigterm_to_exit_ms: Percentiles;
  plug_flat_ms: Percentiles;
  plug_vlan_ms: Percentiles;
  unplug_ms: Percentiles;
  /** CPU of the agent process per plug+unplug (ms), sequential; null where /proc is missing. */
  agent_cpu_ms_per_plug_unplug: { flat: number | null; vlan: number | null };
  agent_node_flags: string;
  restart_64_plugged_to_reconciled_ms: number;
  command: string;
}

function plugCount(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return DEFAULT_PLUGS;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new InputError(`--plugs: must be an integer 1..100000, got "${String(value)}"`);
  }
  return count;
}

async function rssMb(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Resolves per port id when its port_status key is written `up` or deleted (seen by a snapshot). */
class StatusWatch {
  private readonly waiters = new Map<string, (at: number) => void>();
  private readonly aborter = new AbortController();
  private readonly snapshot: HostSnapshot;
  private done: Promise<void> = Promise.resolve();

  private constructor(store: EtcdStore, host: string) {
    this.snapshot = new HostSnapshot(store, { host }, pino({ level: 'silent' }));
  }

  static async start(store: EtcdStore, host: string): Promise<StatusWatch> {
    const watch = new StatusWatch(store, host);
    await watch.snapshot.load(watch.aborter.signal);
    watch.snapshot.listeners.onChanges((changes) => {
      const at = performance.now();
      for (const change of changes) {
        if (change.kind !== 'port_status') continue;
        const state =
          change.type === 'delete'
            ? 'gone'
            : watch.snapshot.host(host).ports.get(change.portId)?.status?.raw;
        watch.waiters.get(`${change.portId}:${state}`)?.(at);
      }
    });
    watch.done = watch.snapshot.run(watch.aborter.signal);
    return watch;
  }

  /** The time the watch delivered `port_status/<port> = up` ('up') or its deletion ('gone'). */
  when(portId: string, state: 'up' | 'gone'): Promise<number> {
    const key = `${portId}:${state}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${state} for port ${portId} within ${STEP_TIMEOUT_MS} ms`)),
        STEP_TIMEOUT_MS,
      );
      this.waiters.set(key, (at) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(at);
      });
    });
  }

  async close(): Promise<void> {
    this.aborter.abort();
    await this.done.catch(() => undefined);
  }
}

async function startAgent(
  etcd: EtcdServer,
  host: BenchHost,
): Promise<{ agent: AgentProcess; watchingMs: number; reconciledMs: number }> {
  const agent = await AgentProcess.start({
    host: host.name,
    etcd: etcd.endpoint,
    sppCtlUrl: host.emulator.url,
    ini: { spp: { reconcile_interval: '5' } },
  });
  await agent.waitForMessage('watching etcd', STEP_TIMEOUT_MS);
  const watchingMs = performance.now() - agent.startedAt;
  await agent.waitForMessage('host reconciled', STEP_TIMEOUT_MS);
  const reconciledMs = performance.now() - agent.startedAt;
  return { agent, watchingMs, reconciledMs };
}

async function stopAgent(agent: AgentProcess): Promise<number> {
  const started = performance.now();
  const exit = await agent.stop('SIGTERM');
  if (exit.code !== 0) throw new Error(`agent exited with ${exit.code ?? exit.signal} on SIGTERM`);
  return performance.now() - started;
}

function mac(index: number): string {
  const hex = index.toString(16).padStart(4, '0');
  return `fa:16:3e:01:${hex.slice(0, 2)}:${hex.slice(2)}`;
}

/** Plugs then unplugs `count` ports one after the other on one physnet's vhosts. */
async function plugSeries(
  store: EtcdStore,
  host: string,
  count: number,
  kind: 'flat' | 'vlan',
): Promise<{ plug: number[]; unplug: number[] }> {
  const physnet = kind === 'flat' ? 'phys0' : 'phys1';
  const firstVhost = kind === 'flat' ? 0 : 8;
  const plug: number[] = [];
  const unplug: number[] = [];
  const watch = await StatusWatch.start(store, host);
  try {
    for (let index = 0; index < count; index++) {
      const id = `bench-${kind}-${index}`;
      const port = {
        portId: id,
        physnet,
        vhostId: firstVhost + (index % 8),
        mac: mac(index + (kind === 'flat' ? 0 : 0x8000)),
        ...(kind === 'vlan' ? { vlanId: 100 + (index % 100) } : {}),
      };
      const up = watch.when(id, 'up');
      const plugStarted = performance.now();
      await requestPlug(store, host, port);
      plug.push((await up) - plugStarted);
      const gone = watch.when(id, 'gone');
      const unplugStarted = performance.now();
      await store.put(keys.action(host, id), 'unplug');
      unplug.push((await gone) - unplugStarted);
    }
  } finally {
    await watch.close();
  }
  return { plug, unplug };
}

/** Measures a restart of the agent on a host whose 64 vhosts all carry a port. */
async function restartWithPluggedPorts(
  etcd: EtcdServer,
  store: EtcdStore,
  host: BenchHost,
): Promise<number> {
  const { agent } = await startAgent(etcd, host);
  const vhosts = host.config.vf.flatMap((vf, nic) =>
    Array.from({ length: vf.num_vhost }, (_, local) => ({
      physnet: vf.physical_network,
      vhostId: nic * vf.num_vhost + local,
    })),
  );
  const watch = await StatusWatch.start(store, host.name);
  try {
    const ups = vhosts.map(({ physnet, vhostId }) => {
      const id = `restart-${vhostId}`;
      const up = watch.when(id, 'up');
      const vlan = vhostId % 2 === 1 ? { vlanId: 200 + vhostId } : {};
      return requestPlug(store, host.name, {
        portId: id,
        physnet,
        vhostId,
        mac: mac(vhostId),
        ...vlan,
      })
        .then(() => up)
        .then(() => undefined);
    });
    await Promise.all(ups);
  } finally {
    await watch.close();
  }
  await stopAgent(agent);
  const restarted = await startAgent(etcd, host);
  const reconciled = restarted.agent.logs.find((line) => line.msg === 'host reconciled');
  await stopAgent(restarted.agent);
  if (reconciled?.plugged !== vhosts.length) {
    throw new Error(
      `expected ${vhosts.length} plugged ports, the agent saw ${reconciled?.plugged}`,
    );
  }
  return restarted.reconciledMs;
}

async function benchHost(store: EtcdStore, name: string, config: HostConfig): Promise<BenchHost> {
  await buildHost(store, name, config, { force: true });
  const emulator = await EmulatorServer.start(hostSpecFromLayout(config, { dialect: '18.08' }));
  return { name, config, emulator };
}

async function runAgentBench(
  plugs: number,
  log: (line: string) => void,
): Promise<AgentBenchResult> {
  const etcd = await EtcdServer.launch();
  const store = etcd.connectStore();
  const hosts: BenchHost[] = [];
  try {
    const main = await benchHost(store, 'bench-agent', startHost());
    hosts.push(main);
    const watching: number[] = [];
    const reconciled: number[] = [];
    const sigterm: number[] = [];
    let rss = NaN;
    let fresh = NaN;
    for (let run = 0; run < START_RUNS; run++) {
      const started = await startAgent(etcd, main);
      watching.push(started.watchingMs);
      if (run === 0) fresh = started.reconciledMs;
      else reconciled.push(started.reconciledMs);
      if (run === START_RUNS - 1) {
        await delay(IDLE_SETTLE_MS);
        rss = await rssMb(started.agent.child.pid);
      }
      sigterm.push(await stopAgent(started.agent));
    }
    log(`start -> watching etcd: ${describePercentiles(percentiles(watching))}`);

    const { agent } = await startAgent(etcd, main);
    const cpuBefore = cpuMs(agent.child.pid);
    const flat = await plugSeries(store, main.name, plugs, 'flat');
    const cpuFlat = cpuMs(agent.child.pid);
    log(`flat plugs: ${describePercentiles(percentiles(flat.plug))}`);
    const vlan = await plugSeries(store, main.name, plugs, 'vlan');
    const cpuVlan = cpuMs(agent.child.pid);
    log(`VLAN plugs: ${describePercentiles(percentiles(vlan.plug))}`);
    await stopAgent(agent);
    const perPlug = (from: number | undefined, to: number | undefined) =>
      from === undefined || to === undefined ? null : roundMs((to - from) / plugs);

    const big = await benchHost(store, 'bench-agent-64', restartHost());
    hosts.push(big);
    const restart = await restartWithPluggedPorts(etcd, store, big);

    return {
      suite: 'agent',
      start_to_watching_ms: percentiles(watching),
      start_to_reconciled_fresh_spp_ms: roundMs(fresh),
      start_to_reconciled_built_spp_ms: percentiles(reconciled),
      rss_idle_mb: rss,
      sigterm_to_exit_ms: percentiles(sigterm),
      plug_flat_ms: percentiles(flat.plug),
      plug_vlan_ms: percentiles(vlan.plug),
      unplug_ms: percentiles([...flat.unplug, ...vlan.unplug]),
      agent_cpu_ms_per_plug_unplug: {
        flat: perPlug(cpuBefore, cpuFlat),
        vlan: perPlug(cpuFlat, cpuVlan),
      },
      agent_node_flags: AGENT_NODE_FLAGS.join(' '),
      restart_64_plugged_to_reconciled_ms: roundMs(restart),
      command: `node bin/networking-spp.js bench agent${plugs === DEFAULT_PLUGS ? '' : ` --plugs ${plugs}`}`,
    };
  } finally {
    for (const host of hosts) await host.emulator.stop();
    store.close();
    await etcd.dispose();
  }
}

export const agentBench: BenchSuite = {
  description:
    'compute agent (child process, real etcd, SPP emulator): start-up, idle RSS, SIGTERM, plug latency, restart with 64 plugged ports',
  async run(options) {
    const plugs = plugCount(options.plugs);
    const progress = (line: string) => process.stderr.write(`  … ${line}\n`);
    const result = await runAgentBench(plugs, progress);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const row = (label: string, value: string) => `  ${label.padEnd(44)} ${value}`;
    process.stdout.write(
      [
        'agent bench: 4 NICs × 8 vhosts (default layout), emulator 18.08, real etcd',
        row('start -> watching etcd', describePercentiles(result.start_to_watching_ms)),
        row(
          'start -> reconciled (SPP empty: builds)',
          `${result.start_to_reconciled_fresh_spp_ms} ms`,
        ),
        row(
          'start -> reconciled (SPP built)',
          describePercentiles(result.start_to_reconciled_built_spp_ms),
        ),
        row('RSS idle', `${result.rss_idle_mb} MB`),
        row('SIGTERM -> exit', describePercentiles(result.sigterm_to_exit_ms)),
        row('plug flat (plug written -> up seen)', describePercentiles(result.plug_flat_ms)),
        row('plug VLAN (plug written -> up seen)', describePercentiles(result.plug_vlan_ms)),
        row('unplug (unplug written -> keys gone)', describePercentiles(result.unplug_ms)),
        row(
          'agent CPU per plug+unplug, flat / VLAN',
          `${result.agent_cpu_ms_per_plug_unplug.flat} / ${result.agent_cpu_ms_per_plug_unplug.vlan} ms (node ${result.agent_node_flags || 'without flags'})`,
        ),
        row(
          'restart, 64 plugged ports -> reconciled',
          `${result.restart_64_plugged_to_reconciled_ms} ms`,
        ),
        `reproduce: ${result.command}`,
        '',
      ].join('\n'),
    );
  },
};
