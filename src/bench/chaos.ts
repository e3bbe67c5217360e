import { z } from 'zod';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { EmulatorServer } from '../emulator/server.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { FREE } from '../etcd/values.js';
import { buildHost } from '../hosts/admin.js';
import { AgentProcess } from '../lab/agent-process.js';
import { EtcdCluster } from '../lab/etcd-cluster.js';
import { ServerProcess, ServiceClient, twoNicMappings } from '../lab/stack.js';
import { TcpProxy } from '../lab/tcp-proxy.js';
import { planHostLayout } from '../layout/host-layout.js';
import type { HostConfig } from '../layout/schema.js';
import { Backoff, sleep } from '../util/backoff.js';
import { withDeadline } from '../util/deadline.js';
import { InputError, errorMessage } from '../util/errors.js';
import { percentiles, roundMs } from './stats.js';
import type { BenchSuite } from './suites.js';

/** The faults of issue 17, one at a time and all together. */
export const FAULTS = {
  none: 'no fault (baseline)',
  a: 'SIGKILL of the etcd leader (restarted after a while)',
  b: 'SIGKILL of a random agent (restarted)',
  c: 'restart of a random spp_vf',
  d: 'SIGKILL of a service instance (restarted; the driver retries on the other one)',
  e: "one member's client traffic black-holed or cut through its relay, then restored",
  all: 'a to e together',
} as const;
export type FaultName = keyof typeof FAULTS;

const TOKEN = 'chaos-token';
const LIVENESS_TTL_S = 4;
const AGENT_INI = {
  spp: {
    reconcile_interval: '2',
    retry_max_interval: '1',
    agent_liveness_ttl: String(LIVENESS_TTL_S),
  },
};

export interface ChaosOptions {
  hosts: number;
  vhosts: number;
  binds: number;
  concurrency: number;
  faults: FaultName[];
  /** Milliseconds between two injections of a fault. */
  faultEveryMs: number;
  logger?: Logger;
}

export interface ChaosRow {
  fault: FaultName;
  binds: number;
  bound: number;
  /** Binds that failed on every attempt (the driver retries on the other instance). */
  failed: number;
  /** Attempts that failed and were retried. */
  retried: number;
  /** Why attempts failed (no_free_vhost is expected: unplugs complete asynchronously). */
  reasons: Record<string, number>;
  injections: number;
  /** Ports the driver holds bound that are not up in etcd and programmed in SPP. */
  lost: number;
  /** Slots held by a port the driver does not hold, after the agents settled, before any sync. */
  leaked: number;
  /** Ports holding more than one slot, or slots holding the same port twice. */
  double: number;
  /** Processes not running, or agents whose liveness key is not refreshed. */
  stuck: number;
  bind_p50_ms: number;
  bind_p99_ms: number;
  seconds: number;
  /** What the audit found, in words (empty when all is well). */
  problems: string[];
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'logger'>;
  rows: ChaosRow[];
  /** At the end: processes that needed SIGKILL after one second of SIGTERM. */
  stop: { processes: number; needed_sigkill: string[] };
  command: string;
}

interface Held {
  portId: string;
  host: string;
  physnet: string;
  mac: string;
  vlan?: number;
  vhostId: number;
}

/** One compute host: layout in etcd, emulated SPP, a real agent reaching etcd through the relays. */
class ChaosHost {
  agent: AgentProcess | undefined;
  constructor(
    readonly name: string,
    readonly config: HostConfig,
    readonly emulator: EmulatorServer,
    private readonly etcd: string,
  ) {}

  async startAgent(): Promise<void> {
    const agent = await AgentProcess.start({
      host: this.name,
      etcd: this.etcd,
      sppCtlUrl: this.emulator.url,
      ini: AGENT_INI,
      logLevel: 'info',
    });
    this.agent = agent;
    await agent.waitForMessage('watching etcd', 30_000);
  }

  physnets(): string[] {
    return this.config.vf.map((vf) => vf.physical_network);
  }
}

/** A binding service instance that can be killed and started again (on a new port). */
class ChaosService {
  process: ServerProcess | undefined;
  client: ServiceClient | undefined;
  constructor(private readonly etcd: string) {}

  async start(): Promise<void> {
    const process = await ServerProcess.start({
      etcd: this.etcd,
      token: TOKEN,
      bindTimeoutS: 20,
      syncGraceS: 60,
      logLevel: 'info',
    });
    this.process = process;
    this.client = new ServiceClient(process.url, TOKEN, 8);
  }

  async kill(): Promise<void> {
    const process = this.process;
    const client = this.client;
    this.process = undefined;
    this.client = undefined;
    await client?.close();
    await process?.stop(0);
  }
}

const bindAnswerSchema = z.object({
  bound: z.boolean(),
  reason: z.string().optional(),
  vhost_id: z.number().int().optional(),
});

/** The whole lab of the fault suite. */
class ChaosLab {
  readonly relays: TcpProxy[] = [];
  readonly hosts: ChaosHost[] = [];
  readonly services: ChaosService[] = [];

  private constructor(
    readonly cluster: EtcdCluster,
    readonly store: EtcdStore,
  ) {}

  static async start(options: ChaosOptions, log: Logger): Promise<ChaosLab> {
    const cluster = await EtcdCluster.launch({ members: 3 });
    const lab = new ChaosLab(cluster, cluster.connectStore());
    try {
      for (const endpoint of cluster.endpoints) {
        const [host = '', port = ''] = endpoint.split(':');
        lab.relays.push(await TcpProxy.start(host, Number(port)));
      }
      const viaRelays = lab.relays.map((relay) => relay.endpoint).join(',');
      const mappings = twoNicMappings(options.vhosts);
      for (let index = 1; index <= options.hosts; index++) {
        const name = `chaos-${index}`;
        const { config } = planHostLayout({ mappings });
        await buildHost(lab.store, name, config, { force: true });
        const emulator = await EmulatorServer.start(hostSpecFromLayout(config));
        lab.hosts.push(new ChaosHost(name, config, emulator, viaRelays));
      }
      for (const host of lab.hosts) await host.startAgent();
      await Promise.all(lab.hosts.map((host) => lab.waitLive(host.name, 30_000)));
      for (let index = 0; index < 2; index++) {
        const service = new ChaosService(viaRelays);
        await service.start();
        lab.services.push(service);
      }
      log.info({ hosts: options.hosts, members: 3, services: 2 }, 'chaos lab started');
      return lab;
    } catch (error) {
      await lab.stop();
      throw error;
    }
  }

  async waitLive(host: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.store.get(keys.agent(host)).catch(() => undefined))) {
      if (Date.now() > deadline) throw new Error(`agent of ${host} not live in ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Stops everything: SIGTERM with one second of grace; returns who needed SIGKILL. */
  async stop(): Promise<string[]> {
    const killed: string[] = [];
    const term = async (name: string, stop: () => Promise<{ signal: string | null }>) => {
      const exit = await stop().catch(() => ({ signal: 'SIGKILL' }));
      if (exit.signal === 'SIGKILL') killed.push(name);
    };
    await Promise.all([
      ...this.hosts.map((host) =>
        host.agent ? term(`agent ${host.name}`, () => host.agent!.stop('SIGTERM', 1000)) : null,
      ),
      ...this.services.map(async (service, index) => {
        const process = service.process;
        await service.client?.close();
        if (process) {
          await term(`service ${index}`, async () => {
            const exited = process.exited;
            await process.stop(1000);
            return exited;
          });
        }
      }),
    ]);
    for (const host of this.hosts) await host.emulator.stop();
    for (const relay of this.relays) await relay.stop();
    this.store.close();
    await this.cluster.dispose();
    return killed;
  }
}

/** What the storm and the faults share: the lab, a stop signal and counters. */
interface Run {
  lab: ChaosLab;
  signal: AbortSignal;
  injections: number;
  problems: string[];
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

async function injectA(run: Run): Promise<void> {
  const leader = await run.lab.cluster.waitForLeader();
  await run.lab.cluster.kill(leader);
  await sleep(1500, run.signal);
  await run.lab.cluster.restart(leader);
}

async function injectB(run: Run): Promise<void> {
  const host = pick(run.lab.hosts);
  const agent = host.agent;
  host.agent = undefined;
  await agent?.stop('SIGKILL', 0);
  await sleep(500, run.signal);
  await host.startAgent();
}

async function injectC(run: Run): Promise<void> {
  const host = pick(run.lab.hosts);
  host.emulator.restartProcess(1 + Math.floor(Math.random() * host.config.vf.length));
  await sleep(0, run.signal);
}

async function injectD(run: Run): Promise<void> {
  const service = pick(run.lab.services);
  await service.kill();
  await sleep(500, run.signal);
  await service.start();
}

async function injectE(run: Run): Promise<void> {
  const relay = pick(run.lab.relays);
  if (Math.random() < 0.5) relay.blackhole();
  else relay.cut();
  await sleep(3000, run.signal);
  relay.restore();
}

const INJECTORS: Record<Exclude<FaultName, 'none' | 'all'>, (run: Run) => Promise<void>> = {
  a: injectA,
  b: injectB,
  c: injectC,
  d: injectD,
  e: injectE,
};

async function injectLoop(
  run: Run,
  inject: (run: Run) => Promise<void>,
  everyMs: number,
): Promise<void> {
  await sleep(everyMs / 2, run.signal);
  while (!run.signal.aborted) {
    try {
      await inject(run);
      run.injections++;
    } catch (error) {
      if (!run.signal.aborted) run.problems.push(`fault injection failed: ${errorMessage(error)}`);
    }
    await sleep(everyMs, run.signal);
  }
}

/** The Neutron-like driver: binds (half flat, half VLAN) and unbinds at `concurrency`. */
class Storm {
  readonly held = new Map<string, Held>();
  readonly latencies: number[] = [];
  bound = 0;
  failed = 0;
  retried = 0;
  /** Unbinds of failed attempts that no instance answered (the sync's job then). */
  readonly unanswered: string[] = [];
  /** Why attempts failed: the service's reason, HTTP status or "no answer". */
  readonly reasons: Record<string, number> = {};
  private issued = 0;
  private sequence = 0;

  constructor(
    private readonly lab: ChaosLab,
    private readonly total: number,
    private readonly prefix: string,
  ) {}

  async run(concurrency: number, perWorker: number): Promise<void> {
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        const mine: Held[] = [];
        while (this.issued < this.total) {
          this.issued++;
          const port = await this.bindOne(worker);
          if (port) mine.push(port);
          if (mine.length > perWorker) await this.unbindOne(mine.shift() as Held);
        }
      }),
    );
  }

  private nextPort(): { id: string; mac: string } {
    this.sequence++;
    const hex = this.sequence.toString(16).padStart(6, '0');
    return {
      id: `${this.prefix}-${hex}`,
      mac: `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`,
    };
  }

  /** One bind as a driver does it: on failure, again on the other instance (bounded). */
  private async bindOne(worker: number): Promise<Held | undefined> {
    const port = this.nextPort();
    const vlan = this.sequence % 2 === 0 ? 100 + (this.sequence % 3000) : undefined;
    const backoff = new Backoff(100, 2000);
    const started = performance.now();
    for (let attempt = 0; attempt < 12; attempt++) {
      const host = pick(this.lab.hosts);
      const physnet = host.physnets()[vlan === undefined ? 0 : 1] as string;
      const service = this.lab.services[(worker + attempt) % this.lab.services.length];
      const client = service?.client;
      const answer = client
        ? await client
            .post('/v1/ml2/bind', {
              port: { id: port.id, mac_address: port.mac },
              host: host.name,
              segments: [
                vlan === undefined
                  ? { id: 's', network_type: 'flat', physical_network: physnet }
                  : {
                      id: 's',
                      network_type: 'vlan',
                      physical_network: physnet,
                      segmentation_id: vlan,
                    },
              ],
            })
            .catch(() => undefined)
        : undefined;
      const body = answer?.status === 200 ? bindAnswerSchema.safeParse(answer.body) : undefined;
      if (body?.success && body.data.bound && body.data.vhost_id !== undefined) {
        this.bound++;
        this.latencies.push(performance.now() - started);
        const held: Held = {
          portId: port.id,
          host: host.name,
          physnet,
          mac: port.mac,
          vhostId: body.data.vhost_id,
          ...(vlan !== undefined ? { vlan } : {}),
        };
        this.held.set(port.id, held);
        return held;
      }
      const why = body?.success
        ? (body.data.reason ?? 'not bound')
        : answer
          ? `HTTP ${answer.status}`
          : 'no answer';
      this.reasons[why] = (this.reasons[why] ?? 0) + 1;
      // Not bound there: as Neutron would, unbind that attempt (it may have half happened,
      // e.g. a bind that timed out and whose rollback failed), retried until answered.
      if (!(await this.unbindAnswered(port.id, host.name, worker))) {
        this.unanswered.push(`${port.id} on ${host.name}`);
      }
      this.retried++;
      await sleep(backoff.next());
    }
    this.failed++;
    return undefined;
  }

  /** Unbinds through either instance until one answers 200 (bounded); false if none did. */
  private async unbindAnswered(portId: string, host: string, first = 0): Promise<boolean> {
    const backoff = new Backoff(100, 2000);
    for (let attempt = 0; attempt < 20; attempt++) {
      const client = this.lab.services[(first + attempt) % this.lab.services.length]?.client;
      const answer = await client
        ?.post('/v1/ml2/unbind', { port_id: portId, host })
        .catch(() => undefined);
      if (answer?.status === 200) return true;
      await sleep(backoff.next());
    }
    return false;
  }

  private async unbindOne(port: Held): Promise<void> {
    this.held.delete(port.portId);
    // Not answered: still bound as far as the driver knows (an unbind the sync would repeat).
    if (!(await this.unbindAnswered(port.portId, port.host))) this.held.set(port.portId, port);
  }
}

interface AuditResult {
  lost: number;
  leaked: number;
  double: number;
  stuck: number;
  problems: string[];
}

/** Settles (bounded), then compares the driver's view with etcd and SPP. */
async function audit(lab: ChaosLab, held: Map<string, Held>): Promise<AuditResult> {
  const problems: string[] = [];
  const deadline = Date.now() + 60_000;
  let last: AuditResult = { lost: 0, leaked: 0, double: 0, stuck: 0, problems };
  for (;;) {
    last = await auditOnce(lab, held);
    if (last.lost + last.leaked + last.double + last.stuck === 0 || Date.now() > deadline) break;
    await sleep(500);
  }
  return last;
}

async function auditOnce(lab: ChaosLab, held: Map<string, Held>): Promise<AuditResult> {
  const problems: string[] = [];
  let lost = 0;
  let leaked = 0;
  let double = 0;
  let stuck = 0;
  for (const host of lab.hosts) {
    const slots = await lab.store.getPrefix(keys.hostPrefix('vhost', host.name));
    const holders = new Map<string, number>();
    for (const kv of slots.kvs) {
      if (kv.value === FREE) continue;
      holders.set(kv.value, (holders.get(kv.value) ?? 0) + 1);
      if (held.get(kv.value)?.host !== host.name) {
        leaked++;
        const action = await lab.store.get(keys.action(host.name, kv.value));
        const warnings = (host.agent?.logs ?? [])
          .filter((line) => Number(line.level) >= 40)
          .slice(-3)
          .map((line) => line.msg)
          .join(' | ');
        problems.push(
          `${kv.key} held by ${kv.value}, which the driver does not hold on this host (action ${action?.value ?? 'absent'}; agent's last warnings: ${warnings || 'none'})`,
        );
      }
    }
    for (const [portId, count] of holders) {
      if (count > 1) {
        double++;
        problems.push(`${portId} holds ${count} slots on ${host.name}`);
      }
    }
    const tables = await Promise.all(
      host.config.vf.map(async (_, index) => {
        const response = await fetch(`${host.emulator.url}/v1/vfs/${index + 1}`);
        const status = (await response.json()) as { classifier_table?: Array<{ value: string }> };
        return (status.classifier_table ?? []).map((entry) => entry.value.toLowerCase());
      }),
    );
    for (const port of held.values()) {
      if (port.host !== host.name) continue;
      const slot = slots.kvs.find(
        (kv) => kv.key === keys.vhost(host.name, port.physnet, port.vhostId),
      );
      const status = await lab.store.get(keys.portStatus(host.name, port.portId));
      const programmed = tables.some((table) =>
        table.some((value) => value.endsWith(port.mac.toLowerCase())),
      );
      if (slot?.value !== port.portId || status?.value !== 'up' || !programmed) {
        lost++;
        problems.push(
          `${port.portId} on ${host.name}: slot ${slot?.value ?? 'absent'}, status ${status?.value ?? 'absent'}, ${programmed ? '' : 'not '}programmed`,
        );
      }
    }
    const agentAlive = host.agent?.child.exitCode === null && host.agent.child.signalCode === null;
    const live = await lab.store.get(keys.agent(host.name));
    if (!agentAlive || !live) {
      stuck++;
      problems.push(
        `agent of ${host.name}: ${agentAlive ? 'running' : 'not running'}, ${live ? 'live' : 'no liveness key'}`,
      );
    }
  }
  for (let index = 0; index < lab.cluster.size; index++) {
    if (lab.cluster.pid(index) === undefined) {
      stuck++;
      problems.push(`etcd member ${index} not running`);
    }
  }
  for (const [index, service] of lab.services.entries()) {
    if (service.process?.pid === undefined) {
      stuck++;
      problems.push(`service ${index} not running`);
    }
  }
  return { lost, leaked, double, stuck, problems };
}

/** Everything back to normal between runs: members, agents, services, relays. */
async function heal(lab: ChaosLab): Promise<void> {
  for (const relay of lab.relays) relay.restore();
  for (let index = 0; index < lab.cluster.size; index++) await lab.cluster.restart(index);
  for (const host of lab.hosts) {
    if (!host.agent || host.agent.child.exitCode !== null || host.agent.child.signalCode !== null)
      await host.startAgent();
  }
  for (const service of lab.services) if (!service.process) await service.start();
  await Promise.all(lab.hosts.map((host) => lab.waitLive(host.name, 60_000)));
}

/** Runs the storm under each fault and audits after each run. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.logger ?? pino({ level: 'warn' });
  const lab = await ChaosLab.start(options, log);
  const rows: ChaosRow[] = [];
  let neededKill: string[] = [];
  try {
    // Each worker holds up to this many ports besides the one it binds: half the binds go
    // to each physnet (one NIC each), which has half the host's vhosts; about half the
    // capacity stays free for unplugs still completing.
    const perPhysnet = options.hosts * Math.floor(options.vhosts / 2);
    const perWorker = Math.max(0, Math.floor(perPhysnet / options.concurrency) - 1);
    for (const fault of options.faults) {
      await heal(lab);
      const stop = new AbortController();
      const run: Run = { lab, signal: stop.signal, injections: 0, problems: [] };
      const names =
        fault === 'all' ? (['a', 'b', 'c', 'd', 'e'] as const) : fault === 'none' ? [] : [fault];
      const storm = new Storm(lab, options.binds, `chaos-${fault}-${Date.now().toString(36)}`);
      const started = performance.now();
      const injectors = names.map((name) => injectLoop(run, INJECTORS[name], options.faultEveryMs));
      try {
        await storm.run(options.concurrency, perWorker);
      } finally {
        stop.abort();
        await Promise.all(injectors);
      }
      const seconds = (performance.now() - started) / 1000;
      await heal(lab);
      const found = await audit(lab, storm.held);
      const latency = percentiles(storm.latencies);
      const row: ChaosRow = {
        fault,
        binds: options.binds,
        bound: storm.bound,
        failed: storm.failed,
        retried: storm.retried,
        reasons: storm.reasons,
        injections: run.injections,
        lost: found.lost,
        leaked: found.leaked,
        double: found.double,
        stuck: found.stuck,
        bind_p50_ms: roundMs(latency.p50),
        bind_p99_ms: roundMs(latency.p99),
        seconds: Math.round(seconds * 10) / 10,
        problems: [
          ...run.problems,
          ...storm.unanswered.map((port) => `driver's unbind of ${port} never answered`),
          ...found.problems,
        ].slice(0, 20),
      };
      rows.push(row);
      log.info({ ...row }, 'chaos run audited');
      // Unbind what the driver still holds, so the next run starts from free slots.
      await Promise.all(
        [...storm.held.values()].map((port) =>
          lab.services[0]?.client?.post('/v1/ml2/unbind', {
            port_id: port.portId,
            host: port.host,
          }),
        ),
      );
      await waitAllFree(lab);
    }
  } finally {
    neededKill = await lab.stop();
  }
  return {
    options: {
      hosts: options.hosts,
      vhosts: options.vhosts,
      binds: options.binds,
      concurrency: options.concurrency,
      faults: options.faults,
      faultEveryMs: options.faultEveryMs,
    },
    rows,
    stop: { processes: options.hosts + 2, needed_sigkill: neededKill },
    command: `node bin/networking-spp.js bench chaos --hosts ${options.hosts} --vhosts ${options.vhosts} --binds ${options.binds} --concurrency ${options.concurrency} --faults ${options.faults.join(',')}`,
  };
}

async function waitAllFree(lab: ChaosLab): Promise<void> {
  await withDeadline(
    (async () => {
      for (;;) {
        const reads = await Promise.all(
          lab.hosts.map((host) => lab.store.getPrefix(keys.hostPrefix('vhost', host.name))),
        );
        if (reads.every((read) => read.kvs.every((kv) => kv.value === FREE))) return;
        await sleep(200);
      }
    })(),
    60_000,
    'every slot free between runs',
  ).catch(() => undefined);
}

const positive = (name: string, value: string | boolean | undefined, fallback: number): number => {
  if (value === undefined || value === true) return fallback;
  const parsed = z.coerce.number().int().positive().safeParse(value);
  if (!parsed.success)
    throw new InputError(`--${name}: expected a positive integer, got "${value}"`);
  return parsed.data;
};

function parseFaults(value: string | boolean | undefined): FaultName[] {
  if (value === undefined || value === true) return ['a', 'b', 'c', 'd', 'e', 'all'];
  const names = String(value)
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(name in FAULTS)) {
      throw new InputError(`--faults: unknown fault "${name}" (${Object.keys(FAULTS).join(', ')})`);
    }
  }
  return names as FaultName[];
}

function table(report: ChaosReport): string {
  const head = [
    'fault',
    'binds',
    'bound',
    'failed',
    'retried',
    'faults',
    'lost',
    'leaked',
    'double',
    'stuck',
    'p50 ms',
    'p99 ms',
    's',
  ];
  const rows = report.rows.map((row) =>
    [
      row.fault,
      row.binds,
      row.bound,
      row.failed,
      row.retried,
      row.injections,
      row.lost,
      row.leaked,
      row.double,
      row.stuck,
      row.bind_p50_ms,
      row.bind_p99_ms,
      row.seconds,
    ].map(String),
  );
  const widths = head.map((cell, index) =>
    Math.max(cell.length, ...rows.map((row) => (row[index] as string).length)),
  );
  const line = (cells: string[]) =>
    cells.map((cell, index) => cell.padStart(widths[index] as number)).join('  ');
  const legend = Object.entries(FAULTS).map(([name, what]) => `  ${name}: ${what}`);
  const reasons = report.rows.map(
    (row) =>
      `  [${row.fault}] retried because: ${
        Object.entries(row.reasons)
          .map(([why, count]) => `${why} ${count}`)
          .join(', ') || 'nothing'
      }`,
  );
  const problems = report.rows.flatMap((row) =>
    row.problems.map((problem) => `  [${row.fault}] ${problem}`),
  );
  return [
    line(head),
    ...rows.map(line),
    '',
    ...legend,
    '',
    ...reasons,
    '',
    `stopped by SIGTERM within 1 s: ${report.stop.processes - report.stop.needed_sigkill.length} of ${report.stop.processes} agents and services${report.stop.needed_sigkill.length ? ` (needed SIGKILL: ${report.stop.needed_sigkill.join(', ')})` : ''}`,
    ...(problems.length ? ['', 'problems:', ...problems] : []),
    '',
    `reproduce: ${report.command}`,
  ].join('\n');
}

export const chaosSuite: BenchSuite = {
  description:
    'fault suite: storm of binds/unbinds under etcd, agent, SPP, service and network faults',
  async run(flags) {
    const options: ChaosOptions = {
      hosts: positive('hosts', flags.hosts, 4),
      vhosts: positive('vhosts', flags.vhosts, 8),
      binds: positive('binds', flags.binds, 1000),
      concurrency: positive('concurrency', flags.concurrency, 8),
      faults: parseFaults(flags.faults),
      faultEveryMs: 4000,
    };
    const report = await runChaos(options);
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${table(report)}\n`);
  },
};
