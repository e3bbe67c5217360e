import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { EmulatorServer } from '../emulator/server.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { buildHost } from '../hosts/admin.js';
import { MAX_LCORE } from '../layout/coremask.js';
import { planHostLayout } from '../layout/host-layout.js';
import type { HostConfig } from '../layout/schema.js';
import type { ProcessStatus } from '../spp/status.js';
import { errorMessage } from '../util/errors.js';
import { AgentProcess } from './agent-process.js';
import type { LogLine } from './agent-process.js';
import { stopChild, trackChild } from './children.js';
import { EtcdServer } from './etcd-server.js';
import { freePort } from './ports.js';

const CLI = fileURLToPath(new URL('../../../bin/networking-spp.js', import.meta.url));

/**
 * NIC mappings for a host with `vhosts` vhost slots on two NICs: phys1 (NIC 0) gets the
 * larger half, phys2 (NIC 1) the rest. Each NIC with v vhosts needs 2v+2 worker cores plus
 * its master core; the NICs get consecutive, non-overlapping core ranges from core 1 up.
 */
export function twoNicMappings(vhosts: number): string {
  if (!Number.isInteger(vhosts) || vhosts < 2) {
    throw new Error(`a host needs at least 2 vhosts (one per NIC), got ${vhosts}`);
  }
  const counts = [Math.ceil(vhosts / 2), Math.floor(vhosts / 2)];
  let next = 1;
  const nics = counts.map((count, index) => {
    const width = 2 * count + 3;
    if (next + width > MAX_LCORE) {
      throw new Error(
        `${vhosts} vhosts need ${2 * (2 * vhosts + 6) + 1} cores, more than DPDK's ${MAX_LCORE} lcores`,
      );
    }
    const mask = ((1n << BigInt(width)) - 1n) << BigInt(next);
    next += width;
    return `00:0${4 + index}.0#phys${index + 1}#${count}#0x${mask.toString(16)}`;
  });
  return nics.join(',');
}

export interface LabHostSpec {
  name: string;
  /** Operator NIC mappings, e.g. `00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0x7f00`. */
  mappings: string;
}

export interface LabStackOptions {
  hosts: LabHostSpec[];
  /** [spp_server] bind_timeout in seconds (default 20). */
  bindTimeoutS?: number;
  /** [spp_server] sync_grace in seconds (default 60). */
  syncGraceS?: number;
  /** Extra agent INI lines per section. */
  agentIni?: Record<string, Record<string, string>>;
  agentLogLevel?: string;
  serverLogLevel?: string;
  /** How many agents start at once (they are Node processes: start-up is CPU-bound). */
  startConcurrency?: number;
  /** Progress: called once per finished step. */
  onStep?: (step: string, ms: number) => void;
}

/** The binding service in a child process (`networking-spp server`), its JSON log collected. */
export class ServerProcess {
  /** The last lines (for error reports). */
  readonly recent: LogLine[] = [];
  private readonly lineListeners = new Set<(line: LogLine) => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    private readonly dir: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        resolve({ code, signal });
      }),
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      this.recent.push(line);
      if (this.recent.length > 50) this.recent.shift();
      for (const listener of this.lineListeners) listener(line);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.recent.push({ msg: chunk.toString(), stderr: true });
      if (this.recent.length > 50) this.recent.shift();
    });
  }

  static async start(options: {
    /** `HOST:PORT`, or several, comma separated (a cluster). */
    etcd: string;
    token: string;
    bindTimeoutS: number;
    syncGraceS: number;
    logLevel: string;
  }): Promise<ServerProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'nspp-server-'));
    const port = await freePort();
    const cut = options.etcd.lastIndexOf(':');
    const ini = [
      '[spp]',
      ...(options.etcd.includes(',')
        ? [`etcd_endpoints = ${options.etcd}`]
        : [
            `etcd_host = ${options.etcd.slice(0, cut)}`,
            `etcd_port = ${options.etcd.slice(cut + 1)}`,
          ]),
      '',
      '[spp_server]',
      'listen_address = 127.0.0.1',
      `listen_port = ${port}`,
      `auth_token = ${options.token}`,
      `bind_timeout = ${options.bindTimeoutS}`,
      `sync_grace = ${options.syncGraceS}`,
      '',
    ].join('\n');
    const configFile = join(dir, 'server.ini');
    await writeFile(configFile, ini, { mode: 0o600 });
    const child = trackChild(
      spawn(
        process.execPath,
        [CLI, 'server', '--config-file', configFile, '--log-level', options.logLevel],
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      ),
    );
    const server = new ServerProcess(child, `http://127.0.0.1:${port}`, dir);
    try {
      await server.waitForMessage('binding service started', 20_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  get pid(): number | undefined {
    return this.child.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }

  /** Calls `listener` for every log line from now on; returns the unsubscribe function. */
  onLine(listener: (line: LogLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  waitForMessage(message: string, timeoutMs: number): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const found = this.recent.find((line) => line.msg === message);
      if (found) return resolve(found);
      let settled = false;
      const finish = (action: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        action();
      };
      const off = this.onLine((line) => {
        if (line.msg === message) finish(() => resolve(line));
      });
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `the binding service did not log "${message}" within ${timeoutMs} ms; last lines:\n${this.tail()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      void this.exited.then(({ code, signal }) =>
        finish(() =>
          reject(
            new Error(
              `the binding service exited (${signal ?? `code ${code}`}) before "${message}"; last lines:\n${this.tail()}`,
            ),
          ),
        ),
      );
    });
  }

  tail(count = 10): string {
    return this.recent
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }

  async stop(graceMs = 8000): Promise<void> {
    await stopChild(this.child, graceMs);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
}

/** A keep-alive HTTP client for the binding service's API, with the bearer token. */
export class ServiceClient {
  private readonly pool: Pool;

  constructor(
    readonly url: string,
    private readonly token: string,
    connections = 16,
  ) {
    this.pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  async post<T = unknown>(path: string, body: unknown): Promise<HttpAnswer<T>> {
    const response = await this.pool.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(body),
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: parseJson(text) as T };
  }

  async get<T = unknown>(path: string): Promise<HttpAnswer<T>> {
    const response = await this.pool.request({ method: 'GET', path });
    const text = await response.body.text();
    return { status: response.statusCode, body: parseJson(text) as T };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function agentPid(record: string): number | undefined {
  try {
    const pid = (JSON.parse(record) as { pid?: unknown }).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** One compute host of the lab: its layout in etcd, an emulated SPP and a real agent process. */
export class LabHost {
  agent: AgentProcess | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    readonly config: HostConfig,
    readonly emulator: EmulatorServer,
    private readonly store: EtcdStore,
    private readonly agentOptions: {
      etcd: string;
      ini: Record<string, Record<string, string>>;
      logLevel: string;
    },
  ) {}

  /**
   * Starts the agent and waits until it watches etcd, has built every component and holds
   * its liveness key (the service binds nothing on a host without it).
   */
  async startAgent(): Promise<AgentProcess> {
    if (this.agent) throw new Error(`host ${this.name} already runs an agent`);
    const agent = await AgentProcess.start({
      host: this.name,
      etcd: this.agentOptions.etcd,
      sppCtlUrl: this.emulator.url,
      ini: this.agentOptions.ini,
      logLevel: this.agentOptions.logLevel,
    });
    if (this.closed) {
      await agent.stop('SIGKILL');
      throw new Error(`host ${this.name} is closed`);
    }
    this.agent = agent;
    await agent.waitForMessage('watching etcd', 30_000);
    await this.waitForComponents(agent);
    await this.waitForLiveness(agent);
    return agent;
  }

  /** Stops the agent (SIGTERM, or e.g. SIGKILL to simulate a crash). */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await agent?.stop(signal, 5000);
  }

  /** Stops the agent for good: an agent start still under way is undone. */
  async close(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.closed = true;
    await this.stopAgent(signal);
  }

  /** spp_vf k's status as spp-ctl shows it (k = NIC index + 1). */
  async vfStatus(clientId: number): Promise<ProcessStatus> {
    const response = await fetch(`${this.emulator.url}/v1/vfs/${clientId}`);
    if (!response.ok) throw new Error(`GET /v1/vfs/${clientId}: ${response.status}`);
    return (await response.json()) as ProcessStatus;
  }

  private async waitForLiveness(agent: AgentProcess): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const kv = await this.store.get(keys.agent(this.name));
      // The key of a killed agent lingers until its lease expires: wait for this agent's own.
      if (kv && agentPid(kv.value) === agent.child.pid) return;
      if (agent.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `the agent of ${this.name} did not write its liveness key; last lines:\n${agent.tail()}`,
        );
      }
      await delay(20);
    }
  }

  private async waitForComponents(agent: AgentProcess): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const statuses = await Promise.all(
        this.config.vf.map((_, index) => this.vfStatus(index + 1)),
      );
      const built = statuses.every((status, index) =>
        (this.config.vf[index]?.components ?? []).every((wanted) => {
          const actual = status.components.find((component) => component.name === wanted.name);
          return (
            actual !== undefined &&
            (actual.rx_port?.length ?? 0) >= wanted.rx_port.length &&
            (actual.tx_port?.length ?? 0) >= wanted.tx_port.length
          );
        }),
      );
      if (built) return;
      if (agent.child.exitCode !== null) {
        throw new Error(`the agent of ${this.name} exited; last lines:\n${agent.tail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the agent of ${this.name} did not build the SPP components within 30 s; last lines:\n${agent.tail()}`,
        );
      }
      await delay(20);
    }
  }
}

/**
 * A private networking-spp installation on loopback: its own etcd, N compute hosts (layout
 * written to etcd, an SPP emulator, a real agent process each) and the binding service in a
 * child process. `stop()` stops everything it started, in reverse order, even when called
 * while `start()` is still running (e.g. on Ctrl-C); it is idempotent.
 */
export class LabStack {
  readonly token = randomBytes(16).toString('hex');
  etcd: EtcdServer | undefined;
  store: EtcdStore | undefined;
  server: ServerProcess | undefined;
  client: ServiceClient | undefined;
  readonly hosts: LabHost[] = [];
  private readonly cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
  private stopping: Promise<void> | undefined;

  constructor(readonly options: LabStackOptions) {}

  static async start(options: LabStackOptions): Promise<LabStack> {
    const stack = new LabStack(options);
    await stack.start();
    return stack;
  }

  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Starts every part; on failure (or a stop meanwhile) whatever started is stopped again. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Process ids of every child process still running (etcd, server, agents). */
  pids(): { etcd?: number; server?: number; agents: Record<string, number> } {
    const agents: Record<string, number> = {};
    for (const host of this.hosts) {
      const pid = host.agent?.child.pid;
      if (pid !== undefined && host.agent?.child.exitCode === null) agents[host.name] = pid;
    }
    const etcd = this.etcd?.pid;
    const server = this.server?.pid;
    return {
      ...(etcd !== undefined ? { etcd } : {}),
      ...(server !== undefined ? { server } : {}),
      agents,
    };
  }

  host(name: string): LabHost {
    const found = this.hosts.find((host) => host.name === name);
    if (!found) throw new Error(`no lab host ${name}`);
    return found;
  }

  /** Stops everything started, last started first; safe to call at any time and repeatedly. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const failures: string[] = [];
      for (const cleanup of [...this.cleanups].reverse()) {
        try {
          await cleanup.run();
        } catch (error) {
          failures.push(`${cleanup.name}: ${errorMessage(error)}`);
        }
      }
      this.cleanups.length = 0;
      if (failures.length > 0) throw new Error(`stopping the lab: ${failures.join('; ')}`);
    })();
    return this.stopping;
  }

  private track(name: string, run: () => Promise<void>): void {
    if (this.stopping) {
      // stop() is already past this point: undo this part right away.
      void run().catch(() => undefined);
      throw new Error('the lab is stopping');
    }
    this.cleanups.push({ name, run });
  }

  private async step<T>(name: string, work: () => Promise<T>): Promise<T> {
    if (this.stopping) throw new Error('the lab is stopping');
    const started = performance.now();
    const result = await work();
    this.options.onStep?.(name, performance.now() - started);
    return result;
  }

  private async startParts(): Promise<void> {
    const options = this.options;
    const etcd = await this.step('etcd started', async () => {
      const server = await EtcdServer.launch();
      this.etcd = server;
      this.track('etcd', () => server.dispose());
      return server;
    });
    const store = etcd.connectStore();
    this.store = store;
    this.track('etcd client', async () => store.close());

    const agentIni = options.agentIni ?? {};
    await this.step(
      `${options.hosts.length} host layout(s) written, emulators started`,
      async () => {
        for (const spec of options.hosts) {
          const { config } = planHostLayout({ mappings: spec.mappings });
          await buildHost(store, spec.name, config, { force: true });
          const emulator = await EmulatorServer.start(hostSpecFromLayout(config));
          const host = new LabHost(spec.name, config, emulator, store, {
            etcd: etcd.endpoint,
            ini: agentIni,
            logLevel: options.agentLogLevel ?? 'info',
          });
          this.hosts.push(host);
          this.track(`emulator of ${spec.name}`, () => emulator.stop());
        }
      },
    );

    // All agents stop together; without etcd (e.g. a terminal's Ctrl-C reached it too)
    // they could not release their liveness key anyway, so they are killed outright.
    this.track('agents', async () => {
      const signal = this.etcd?.pid === undefined ? 'SIGKILL' : 'SIGTERM';
      await Promise.all(this.hosts.map((host) => host.close(signal)));
    });
    await this.step(`${options.hosts.length} agent(s) started, SPP components built`, async () => {
      const queue = [...this.hosts];
      const workers = Array.from(
        { length: Math.max(1, options.startConcurrency ?? 4) },
        async () => {
          for (let host = queue.shift(); host; host = queue.shift()) {
            if (this.stopping) throw new Error('the lab is stopping');
            await host.startAgent();
          }
        },
      );
      await Promise.all(workers);
    });

    await this.step('binding service started', async () => {
      const server = await ServerProcess.start({
        etcd: etcd.endpoint,
        token: this.token,
        bindTimeoutS: options.bindTimeoutS ?? 20,
        syncGraceS: options.syncGraceS ?? 60,
        logLevel: options.serverLogLevel ?? 'info',
      });
      this.server = server;
      this.track('binding service', () => server.stop());
      const client = new ServiceClient(server.url, this.token);
      this.client = client;
      this.track('HTTP client', () => client.close());
    });
  }
}

/**
 * Handles SIGINT/SIGTERM for a program that owns a lab: the first signal stops the lab
 * (every child process) and exits with `exitCode(signal)` (default 130 / 143); a second
 * one exits at once (the exit hook of children.ts still kills the children). Returns the
 * function that removes the handlers.
 */
export function stopOnSignals(
  stack: LabStack,
  hooks: {
    onSignal?: (signal: NodeJS.Signals) => void;
    exitCode?: (signal: NodeJS.Signals) => number;
  } = {},
): () => void {
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    const code = hooks.exitCode?.(signal) ?? (signal === 'SIGINT' ? 130 : 143);
    if (received) process.exit(code);
    received = true;
    hooks.onSignal?.(signal);
    void stack
      .stop()
      .catch((error: unknown) => process.stderr.write(`${errorMessage(error)}\n`))
      .finally(() => process.exit(code));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
