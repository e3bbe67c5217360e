import { Pool } from 'undici';
import { z } from 'zod';
import { pino } from 'pino';
import type { EtcdStore } from '../etcd/store.js';
import { heldBy } from '../snapshot/model.js';
import { readAllHosts } from '../snapshot/read.js';
import { HostSnapshot } from '../snapshot/snapshot.js';
import type { LogLine } from '../lab/agent-process.js';
import type { ServiceClient } from '../lab/stack.js';
import { LabStack, stopOnSignals, twoNicMappings } from '../lab/stack.js';
import { withDeadline } from '../util/deadline.js';
import { InputError, errorMessage } from '../util/errors.js';
import { cpuMs } from './cpu.js';
import type { Percentiles } from './stats.js';
import { percentiles, roundMs } from './stats.js';
import type { BenchSuite } from './suites.js';

/** Targets of issue 5, checked (and printed) by every run. */
export const BIND_TARGETS = {
  flatP50Ms: 2.5,
  flatP50FloorMultiple: 2,
  vlanP50Ms: 3.5,
  concurrent8PerBindMs: 10,
  etcdRequestsPerBind: 3,
  throughputBindsPerS: 1000,
} as const;

const DEFAULTS = { hosts: 4, vhosts: 8, concurrency: 8, binds: 400 };
/** Sequential binds measured per segment type. */
const SEQUENTIAL_SAMPLES = 200;
const FLOOR_SAMPLES = 300;
const CONCURRENT_ROUNDS = 20;

function positiveInt(name: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined || value === false) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new InputError(`--${name}: must be a positive integer, got "${String(value)}"`);
  }
  return number;
}

const boundSchema = z.object({ bound: z.literal(true), vhost_id: z.number().int() });
const answerSchema = z.union([
  boundSchema,
  z.object({ bound: z.literal(false), reason: z.string(), detail: z.string() }),
]);

type Kind = 'flat' | 'vlan';
/** phys1 carries the flat binds, phys2 the VLAN binds (see twoNicMappings). */
const PHYSNET: Record<Kind, string> = { flat: 'phys1', vlan: 'phys2' };

interface Answer {
  host: string;
  physnet: string;
  vhostId: number;
}

/**
 * The bench's own view of every vhost slot, kept by an etcd watch: it checks every change
 * for double allocations (a slot overwritten while held, a port on two slots), checks each
 * freed slot against the bind answer of its port, and times unbinds (slot back to `None`).
 */
class SlotAuditor {
  readonly slots = new Map<string, string>();
  readonly portSlot = new Map<string, string>();
  readonly answers = new Map<string, Answer>();
  readonly problems: string[] = [];
  doubleAllocations = 0;
  freedCount = 0;
  private readonly waiters = new Map<string, (at: number) => void>();
  private readonly freedAt = new Map<string, number>();
  private readonly slotListeners = new Set<(host: string, physnet: string) => void>();
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly snapshot: HostSnapshot;

  constructor(store: EtcdStore) {
    this.snapshot = new HostSnapshot(store, 'all', pino({ level: 'silent' }));
  }

  /** Sees every slot change of every host, through the same snapshot the service uses. */
  async start(): Promise<void> {
    if (!(await this.snapshot.load(this.controller.signal))) return;
    for (const host of this.snapshot.hosts()) {
      for (const slot of host.slots.values())
        this.apply(host.host, slot.key, slot.physnet, slot.vhostId);
    }
    this.snapshot.listeners.onChanges((changes) => {
      for (const change of changes) {
        if (change.kind === 'vhost')
          this.apply(change.host, change.key, change.physnet, change.vhostId);
      }
    });
    this.snapshot.listeners.onStatus((status) => {
      if (status === 'resyncing')
        this.problems.push('the audit watch had to re-read etcd: changes may be missed');
    });
    this.loop = this.snapshot.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  /** Resolves with the time (performance.now) the port's slot went back to `None`. */
  freed(portId: string): Promise<number> {
    const at = this.freedAt.get(portId);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => this.waiters.set(portId, resolve));
  }

  /** Calls `listener` with the slot key whenever a slot becomes free. */
  onFree(listener: (host: string, physnet: string) => void): () => void {
    this.slotListeners.add(listener);
    return () => this.slotListeners.delete(listener);
  }

  private flag(problem: string): void {
    this.doubleAllocations++;
    if (this.problems.length < 20) this.problems.push(problem);
  }

  private apply(host: string, key: string, physnet: string, vhostId: number): void {
    const slot = this.snapshot.host(host).slots.get(key);
    const previous = this.slots.get(key);
    // undefined: free. An unreadable value counts as held, by that value.
    const value = slot && !slot.holder.free ? (heldBy(slot.holder) ?? slot.raw) : undefined;
    if (value !== undefined) {
      if (previous !== undefined && previous !== value) {
        this.flag(`slot ${key} given to ${value} while held by ${previous}`);
      }
      const other = this.portSlot.get(value);
      if (other !== undefined && other !== key) {
        this.flag(`port ${value} holds two slots: ${other} and ${key}`);
      }
      this.slots.set(key, value);
      this.portSlot.set(value, key);
      return;
    }
    this.slots.delete(key);
    if (previous === undefined) return;
    this.portSlot.delete(previous);
    this.freedCount++;
    const answer = this.answers.get(previous);
    if (
      answer &&
      (answer.host !== host || answer.physnet !== physnet || answer.vhostId !== vhostId)
    ) {
      this.flag(
        `port ${previous} was answered vhost ${answer.vhostId} on ${answer.host}/${answer.physnet} but held ${key}`,
      );
    }
    const now = performance.now();
    const waiter = this.waiters.get(previous);
    if (waiter) {
      this.waiters.delete(previous);
      waiter(now);
    } else this.freedAt.set(previous, now);
    for (const listener of this.slotListeners) listener(host, physnet);
  }
}

/** A counting semaphore of free slots per (host, physnet), released as the watch sees slots freed. */
class SlotBudget {
  private readonly free = new Map<string, number>();
  private readonly queues = new Map<string, Array<() => void>>();

  set(id: string, count: number): void {
    this.free.set(id, count);
  }

  async acquire(id: string): Promise<void> {
    const count = this.free.get(id) ?? 0;
    if (count > 0) {
      this.free.set(id, count - 1);
      return;
    }
    await new Promise<void>((resolve) => {
      const queue = this.queues.get(id) ?? [];
      queue.push(resolve);
      this.queues.set(id, queue);
    });
  }

  release(id: string): void {
    const next = this.queues.get(id)?.shift();
    if (next) next();
    else this.free.set(id, (this.free.get(id) ?? 0) + 1);
  }
}

interface BindRun {
  ms: number;
  vhostId: number;
}

class Binder {
  private counter = 0;
  failures: string[] = [];
  failed = 0;
  binds = 0;

  constructor(
    private readonly client: ServiceClient,
    private readonly auditor: SlotAuditor,
  ) {}

  newPort(): { id: string; mac: string; vlanId: number } {
    const n = ++this.counter;
    const hex = n.toString(16).padStart(6, '0');
    return {
      id: `bench-${hex}`,
      mac: `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`,
      vlanId: 100 + (n % 3000),
    };
  }

  /** One bind through the API; undefined (and counted) when not bound. */
  async bind(
    host: string,
    kind: Kind,
    portId?: string,
  ): Promise<(BindRun & { portId: string }) | undefined> {
    const port = this.newPort();
    const id = portId ?? port.id;
    const segment =
      kind === 'flat'
        ? {
            id: 'seg-flat',
            network_type: 'flat',
            physical_network: PHYSNET.flat,
            segmentation_id: null,
          }
        : {
            id: `seg-vlan-${port.vlanId}`,
            network_type: 'vlan',
            physical_network: PHYSNET.vlan,
            segmentation_id: port.vlanId,
          };
    const started = performance.now();
    const answer = await this.client.post('/v1/ml2/bind', {
      port: { id, mac_address: port.mac },
      host,
      segments: [segment],
    });
    const ms = performance.now() - started;
    this.binds++;
    const parsed = answerSchema.safeParse(answer.body);
    if (answer.status !== 200 || !parsed.success || !parsed.data.bound) {
      this.failed++;
      if (this.failures.length < 10) {
        this.failures.push(`${host} ${id}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      return undefined;
    }
    this.auditor.answers.set(id, { host, physnet: PHYSNET[kind], vhostId: parsed.data.vhost_id });
    return { ms, vhostId: parsed.data.vhost_id, portId: id };
  }

  /** Unbind; resolves with the ms from the call to the slot seen free in etcd. */
  async unbind(host: string, portId: string): Promise<number> {
    const freed = this.auditor.freed(portId);
    const started = performance.now();
    const answer = await this.client.post('/v1/ml2/unbind', { port_id: portId, host });
    if (answer.status !== 200) {
      throw new Error(
        `unbind ${portId} on ${host}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    }
    const at = await withDeadline(freed, 20_000, `slot of ${portId} on ${host} freed`);
    return at - started;
  }
}

/** Latency of one raw etcd compare-and-swap transaction and of one spp-ctl GET (emulator). */
async function measureFloor(
  store: EtcdStore,
  emulatorUrl: string,
): Promise<{ etcd: Percentiles; spp: Percentiles }> {
  const key = '/bench/floor';
  await store.put(key, '0');
  const etcd: number[] = [];
  for (let i = 0; i < FLOOR_SAMPLES + 20; i++) {
    const started = performance.now();
    const result = await store.transaction(
      [{ key, equals: String(i) }],
      [{ put: key, value: String(i + 1) }],
    );
    const ms = performance.now() - started;
    if (!result.succeeded) throw new Error('floor: the compare-and-swap failed');
    if (i >= 20) etcd.push(ms);
  }
  const pool = new Pool(emulatorUrl, { connections: 1 });
  const spp: number[] = [];
  try {
    for (let i = 0; i < FLOOR_SAMPLES + 20; i++) {
      const started = performance.now();
      const response = await pool.request({ method: 'GET', path: '/v1/vfs/1' });
      await response.body.text();
      const ms = performance.now() - started;
      if (response.statusCode !== 200)
        throw new Error(`floor: GET /v1/vfs/1 answered ${response.statusCode}`);
      if (i >= 20) spp.push(ms);
    }
  } finally {
    await pool.close();
  }
  return { etcd: percentiles(etcd), spp: percentiles(spp) };
}

export interface BindBenchResult {
  command: string;
  hosts: number;
  vhosts: number;
  concurrency: number;
  binds: number;
  binds_total: number;
  failed_binds: number;
  bind_flat_ms: Percentiles;
  bind_vlan_ms: Percentiles;
  unbind_ms: Percentiles;
  bind_concurrent8_one_host_ms: Percentiles;
  bind_under_load_ms: Percentiles;
  throughput_binds_per_s: number;
  double_allocations: number;
  leftover_keys: number;
  etcd_requests_per_bind: number;
  etcd_requests_per_bind_max: number;
  floor_etcd_txn_ms: number;
  floor_spp_get_ms: number;
  floor_ms: number;
  server_bind_ms: Percentiles;
  /** The service's own part of a sequential bind: its time minus the wait for the agent's `up`. */
  server_own_ms: Percentiles;
  /** CPU per bind (bind and its unbind) during the throughput phase, by part of the lab. */
  cpu_ms_per_bind_under_load: Record<string, number | null>;
  targets: Record<string, { target: string; measured: string; met: boolean }>;
  problems: string[];
}

interface RunOptions {
  hosts: number;
  vhosts: number;
  concurrency: number;
  binds: number;
  log: (line: string) => void;
}

async function sequential(
  binder: Binder,
  hosts: string[],
  kind: Kind,
  samples: number,
  unbinds: number[],
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const host = hosts[i % hosts.length] as string;
    const run = await binder.bind(host, kind);
    if (!run) continue;
    latencies.push(run.ms);
    unbinds.push(await binder.unbind(host, run.portId));
  }
  return latencies;
}

async function concurrentOnOneHost(
  binder: Binder,
  host: string,
  vhosts: number,
): Promise<number[]> {
  const perKind = { flat: Math.ceil(vhosts / 2), vlan: Math.floor(vhosts / 2) };
  const kinds: Kind[] = [];
  for (let i = 0; kinds.length < Math.min(8, vhosts); i++) {
    const kind: Kind = i % 2 === 0 ? 'flat' : 'vlan';
    if (kinds.filter((k) => k === kind).length < perKind[kind]) kinds.push(kind);
  }
  const latencies: number[] = [];
  for (let round = 0; round < CONCURRENT_ROUNDS; round++) {
    const runs = await Promise.all(kinds.map((kind) => binder.bind(host, kind)));
    for (const run of runs) if (run) latencies.push(run.ms);
    await Promise.all(runs.map((run) => (run ? binder.unbind(host, run.portId) : undefined)));
  }
  return latencies;
}

async function throughput(
  binder: Binder,
  auditor: SlotAuditor,
  hosts: string[],
  vhosts: number,
  concurrency: number,
  total: number,
): Promise<{ seconds: number; latencies: number[] }> {
  const budget = new SlotBudget();
  const perKind: Record<Kind, number> = {
    flat: Math.ceil(vhosts / 2),
    vlan: Math.floor(vhosts / 2),
  };
  for (const host of hosts) {
    for (const kind of ['flat', 'vlan'] as Kind[])
      budget.set(`${host}/${PHYSNET[kind]}`, perKind[kind]);
  }
  const off = auditor.onFree((host, physnet) => budget.release(`${host}/${physnet}`));
  const latencies: number[] = [];
  const unbinds: Array<Promise<unknown>> = [];
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let n = next++; n < total; n = next++) {
          const host = hosts[n % hosts.length] as string;
          const kind: Kind = Math.floor(n / hosts.length) % 2 === 0 ? 'flat' : 'vlan';
          const id = `${host}/${PHYSNET[kind]}`;
          await budget.acquire(id);
          const run = await binder.bind(host, kind);
          if (!run) {
            budget.release(id);
            continue;
          }
          latencies.push(run.ms);
          // The unbind completes in the background: the slot returns to the budget when freed.
          unbinds.push(binder.unbind(host, run.portId));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(unbinds);
    return { seconds, latencies };
  } finally {
    off();
  }
}

/** CPU used by each part of the lab so far (ms). */
function cpuByPart(stack: LabStack): Record<string, number | undefined> {
  const pids = stack.pids();
  const agents = Object.values(pids.agents).map(cpuMs);
  const own = process.cpuUsage();
  return {
    server: cpuMs(pids.server),
    agents: agents.every((ms) => ms !== undefined)
      ? agents.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)
      : undefined,
    etcd: cpuMs(pids.etcd),
    bench_client_and_emulators: (own.user + own.system) / 1000,
  };
}

/** Keys left behind once everything was unbound: a port with keys, or a held slot. */
async function leftovers(store: EtcdStore): Promise<string[]> {
  const { hosts } = await readAllHosts(store);
  return [...hosts.values()].flatMap((host) => [
    ...[...host.ports.keys()].map((portId) => `port ${portId} on ${host.host} still has keys`),
    ...host
      .sortedSlots()
      .filter((slot) => !slot.holder.free)
      .map((slot) => `${slot.key} = ${slot.raw}`),
  ]);
}

export async function runBindBench(options: RunOptions): Promise<BindBenchResult> {
  const { log } = options;
  const hostNames = Array.from(
    { length: options.hosts },
    (_, i) => `bench-${String(i + 1).padStart(2, '0')}`,
  );
  const mappings = twoNicMappings(options.vhosts);
  const slotsPerPhysnet = Math.floor(options.vhosts / 2);
  const workersPerHost = Math.ceil(options.concurrency / options.hosts);
  if (workersPerHost > 2 * slotsPerPhysnet) {
    log(
      `note: ${options.concurrency} workers over ${options.hosts} hosts will wait for free slots at times`,
    );
  }
  const stack = new LabStack({
    hosts: hostNames.map((name) => ({ name, mappings })),
    bindTimeoutS: 20,
    onStep: (step, ms) => log(`${step} (${Math.round(ms)} ms)`),
    startConcurrency: 2,
  });
  const release = stopOnSignals(stack);
  const serverBinds: Array<{ ms: number; waitMs: number; requests: number }> = [];
  try {
    log(`layout per host: ${mappings}`);
    await stack.start();
    const store = stack.store!;
    const client = stack.client!;
    const off = stack.server!.onLine((line: LogLine) => {
      if (line.msg === 'bind' && line.result === 'bound') {
        serverBinds.push({
          ms: Number(line.duration_ms),
          waitMs: Number(line.agent_wait_ms),
          requests: Number(line.etcd_requests),
        });
      }
    });
    const auditor = new SlotAuditor(store);
    await auditor.start();
    const binder = new Binder(client, auditor);

    const floor = await measureFloor(store, stack.hosts[0]!.emulator.url);
    log(`floor: etcd CAS txn p50 ${floor.etcd.p50} ms, spp-ctl GET p50 ${floor.spp.p50} ms`);

    // Warm-up: one bind of each kind per host (first connections, JIT).
    const warm: number[] = [];
    await sequential(binder, hostNames, 'flat', hostNames.length, warm);
    await sequential(binder, hostNames, 'vlan', hostNames.length, warm);

    const unbinds: number[] = [];
    const serverSeqStart = serverBinds.length;
    const flat = await sequential(binder, hostNames, 'flat', SEQUENTIAL_SAMPLES, unbinds);
    log(`sequential flat binds: p50 ${percentiles(flat).p50} ms`);
    const vlan = await sequential(binder, hostNames, 'vlan', SEQUENTIAL_SAMPLES, unbinds);
    log(`sequential VLAN binds: p50 ${percentiles(vlan).p50} ms`);
    const serverSeqEnd = serverBinds.length;
    const concurrent = await concurrentOnOneHost(binder, hostNames[0] as string, options.vhosts);
    log(
      `${Math.min(8, options.vhosts)} concurrent binds on one host: p50 ${percentiles(concurrent).p50} ms`,
    );
    const cpuBefore = cpuByPart(stack);
    const load = await throughput(
      binder,
      auditor,
      hostNames,
      options.vhosts,
      options.concurrency,
      options.binds,
    );
    const rate = options.binds / load.seconds;
    const cpuAfter = cpuByPart(stack);
    const cpuPerBind: Record<string, number | null> = {};
    for (const [part, after] of Object.entries(cpuAfter)) {
      const before = cpuBefore[part];
      cpuPerBind[part] =
        after === undefined || before === undefined
          ? null
          : roundMs((after - before) / options.binds);
    }
    log(
      `${options.binds} binds over ${options.hosts} hosts at concurrency ${options.concurrency}: ${Math.round(rate)} binds/s`,
    );

    // Let the server's last log lines arrive, then check that nothing was left behind.
    await withDeadline(
      (async () => {
        while (serverBinds.length < binder.binds - binder.failed)
          await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
      'the server log lines of every bind',
    ).catch(() => undefined);
    off();
    const left = await leftovers(store);
    await auditor.stop();
    const bound = binder.binds - binder.failed;
    if (auditor.freedCount < bound) {
      auditor.problems.push(`${bound - auditor.freedCount} bound port(s) were never seen freed`);
    }
    const requests = serverBinds.map((b) => b.requests);
    const perBind =
      requests.length > 0 ? requests.reduce((a, b) => a + b, 0) / requests.length : NaN;
    const floorMs = roundMs(floor.etcd.p50 + floor.spp.p50);
    const flatP = percentiles(flat);
    const vlanP = percentiles(vlan);
    const concP = percentiles(concurrent);
    const doubles = auditor.doubleAllocations;
    const targets: BindBenchResult['targets'] = {
      flat_p50: {
        target: `<= ${BIND_TARGETS.flatP50Ms} ms and <= ${BIND_TARGETS.flatP50FloorMultiple}x floor (${roundMs(BIND_TARGETS.flatP50FloorMultiple * floorMs)} ms)`,
        measured: `${flatP.p50} ms (${roundMs(flatP.p50 / floorMs)}x floor)`,
        met:
          flatP.p50 <= BIND_TARGETS.flatP50Ms &&
          flatP.p50 <= BIND_TARGETS.flatP50FloorMultiple * floorMs,
      },
      vlan_p50: {
        target: `<= ${BIND_TARGETS.vlanP50Ms} ms`,
        measured: `${vlanP.p50} ms`,
        met: vlanP.p50 <= BIND_TARGETS.vlanP50Ms,
      },
      concurrent8_one_host: {
        target: `<= ${BIND_TARGETS.concurrent8PerBindMs} ms per bind (p50)`,
        measured: `${concP.p50} ms`,
        met: concP.p50 <= BIND_TARGETS.concurrent8PerBindMs,
      },
      etcd_requests_per_bind: {
        target: `<= ${BIND_TARGETS.etcdRequestsPerBind}`,
        measured: String(roundMs(perBind)),
        met: perBind <= BIND_TARGETS.etcdRequestsPerBind,
      },
      throughput: {
        target: `>= ${BIND_TARGETS.throughputBindsPerS} binds/s (1,000 binds over 20 hosts)`,
        measured: `${Math.round(rate)} binds/s`,
        met: rate >= BIND_TARGETS.throughputBindsPerS,
      },
      double_allocations: {
        target: '0',
        measured: String(doubles),
        met: doubles === 0,
      },
    };
    return {
      command: `networking-spp bench bind --hosts ${options.hosts} --vhosts ${options.vhosts} --concurrency ${options.concurrency} --binds ${options.binds}`,
      hosts: options.hosts,
      vhosts: options.vhosts,
      concurrency: options.concurrency,
      binds: options.binds,
      binds_total: binder.binds,
      failed_binds: binder.failed,
      bind_flat_ms: flatP,
      bind_vlan_ms: vlanP,
      unbind_ms: percentiles(unbinds),
      bind_concurrent8_one_host_ms: concP,
      bind_under_load_ms: percentiles(load.latencies),
      throughput_binds_per_s: Math.round(rate * 10) / 10,
      double_allocations: doubles,
      leftover_keys: left.length,
      etcd_requests_per_bind: roundMs(perBind),
      etcd_requests_per_bind_max: requests.length > 0 ? Math.max(...requests) : NaN,
      floor_etcd_txn_ms: floor.etcd.p50,
      floor_spp_get_ms: floor.spp.p50,
      floor_ms: floorMs,
      server_bind_ms: percentiles(serverBinds.slice(serverSeqStart, serverSeqEnd).map((b) => b.ms)),
      server_own_ms: percentiles(
        serverBinds.slice(serverSeqStart, serverSeqEnd).map((b) => b.ms - b.waitMs),
      ),
      cpu_ms_per_bind_under_load: cpuPerBind,
      targets,
      problems: [
        ...auditor.problems,
        ...binder.failures,
        ...left.slice(0, 10).map((kv) => `left in etcd: ${kv}`),
      ],
    };
  } finally {
    await stack.stop().catch((error: unknown) => log(`cleanup: ${errorMessage(error)}`));
    release();
  }
}

function describe(p: Percentiles, floorMs: number): string {
  const x = (ms: number) => `${ms.toFixed(2)} (${(ms / floorMs).toFixed(1)}x)`;
  return `p50 ${x(p.p50)}  p90 ${x(p.p90)}  p99 ${x(p.p99)}  max ${x(p.max)}  n=${p.n}`;
}

export function printBindReport(result: BindBenchResult, print: (line: string) => void): void {
  const f = result.floor_ms;
  print('');
  print(`bind benchmark: ${result.command}`);
  print(
    `  floor (one etcd CAS txn + one spp-ctl GET): ${result.floor_etcd_txn_ms} + ${result.floor_spp_get_ms} = ${f} ms; figures in ms (multiple of the floor)`,
  );
  print(`  bind flat, sequential          ${describe(result.bind_flat_ms, f)}`);
  print(`  bind VLAN, sequential          ${describe(result.bind_vlan_ms, f)}`);
  print(`  unbind to slot free            ${describe(result.unbind_ms, f)}`);
  print(`  bind, 8 concurrent on 1 host   ${describe(result.bind_concurrent8_one_host_ms, f)}`);
  print(`  bind under load (throughput)   ${describe(result.bind_under_load_ms, f)}`);
  print(`  server-side bind time (seq.)   ${describe(result.server_bind_ms, f)}`);
  print(`  of which not waiting for agent ${describe(result.server_own_ms, f)}`);
  print(
    `  throughput: ${result.throughput_binds_per_s} binds/s (${result.binds} binds, ${result.hosts} hosts, concurrency ${result.concurrency})`,
  );
  print(
    `  CPU per bind+unbind under load (ms): ${Object.entries(result.cpu_ms_per_bind_under_load)
      .map(([part, ms]) => `${part} ${ms ?? '?'}`)
      .join(', ')}`,
  );
  print(
    `  etcd requests per bind (service side): ${result.etcd_requests_per_bind} average, ${result.etcd_requests_per_bind_max} max`,
  );
  print(
    `  binds: ${result.binds_total} total, ${result.failed_binds} not bound; double allocations: ${result.double_allocations}; keys left behind: ${result.leftover_keys}`,
  );
  print('  targets:');
  for (const [name, t] of Object.entries(result.targets)) {
    print(
      `    ${t.met ? 'met    ' : 'MISSED '} ${name.padEnd(24)} ${t.measured.padEnd(26)} target ${t.target}`,
    );
  }
  for (const problem of result.problems) print(`  problem: ${problem}`);
}

export const bindSuite: BenchSuite = {
  description: 'bind/unbind latency, throughput and correctness against a real local stack',
  async run(flags) {
    const options = {
      hosts: positiveInt('hosts', flags.hosts, DEFAULTS.hosts),
      vhosts: positiveInt('vhosts', flags.vhosts, DEFAULTS.vhosts),
      concurrency: positiveInt('concurrency', flags.concurrency, DEFAULTS.concurrency),
      binds: positiveInt('binds', flags.binds, DEFAULTS.binds),
    };
    if (options.vhosts < 2) throw new InputError('--vhosts: at least 2 (one per NIC)');
    const json = flags.json === true;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const result = await runBindBench({ ...options, log });
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else printBindReport(result, (line) => process.stdout.write(`${line}\n`));
    if (result.double_allocations > 0 || result.failed_binds > 0 || result.leftover_keys > 0) {
      process.exitCode = 1;
    }
  },
};
