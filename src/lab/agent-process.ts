import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildExit } from './children.js';
import { stopChild, trackChild } from './children.js';

const AGENT_BIN = fileURLToPath(new URL('../../../bin/neutron-spp-agent.js', import.meta.url));

/**
 * The V8 flags of bin/neutron-spp-agent.js's shebang, for spawning it with `node`: a small
 * young generation and no V8 worker threads save about 12 MB of idle RSS at no measured
 * cost. The optimizing compiler stays on: without it (`--no-opt`, 5 MB less RSS) a VLAN
 * plug+unplug cost the agent about a third more CPU. `NSPP_AGENT_FLAGS` overrides the
 * flags for measurements.
 */
export const AGENT_NODE_FLAGS = (
  process.env.NSPP_AGENT_FLAGS ?? '--max-semi-space-size=1 --v8-pool-size=0'
)
  .split(' ')
  .filter(Boolean);

export interface AgentProcessOptions {
  host: string;
  /** etcd `HOST:PORT`, or several, comma separated (a cluster). */
  etcd: string;
  /** spp-ctl (emulator) `http://HOST:PORT`. */
  sppCtlUrl: string;
  /** Extra INI lines per section, e.g. `{ spp: { reconcile_interval: '1' } }`. */
  ini?: Record<string, Record<string, string>>;
  logLevel?: string;
}

export type LogLine = Record<string, unknown> & { msg?: string };

/**
 * A real agent (`networking-spp agent`) in a child process with a generated config file,
 * for tests, the demo and the benchmarks. Its JSON log lines are collected so callers can
 * wait for events (e.g. `watching etcd`) instead of sleeping.
 */
export class AgentProcess {
  readonly logs: LogLine[] = [];
  private listeners: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    private readonly dir: string,
    readonly startedAt: number,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.notify();
        resolve({ code, signal });
      }),
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ msg: line });
      }
      this.notify();
    });
    child.stderr?.on('data', (chunk: Buffer) =>
      this.logs.push({ msg: chunk.toString(), stderr: true }),
    );
  }

  static async start(options: AgentProcessOptions): Promise<AgentProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'nspp-agent-'));
    const [etcdHost, etcdPort] = splitHostPort(options.etcd);
    const spp = new URL(options.sppCtlUrl);
    const etcd: Record<string, string> = options.etcd.includes(',')
      ? { etcd_endpoints: options.etcd }
      : { etcd_host: etcdHost, etcd_port: etcdPort };
    const sections: Record<string, Record<string, string>> = {
      DEFAULT: { host: options.host },
      spp: { ...etcd, api_ip_addr: spp.hostname, api_port: spp.port },
    };
    for (const [section, values] of Object.entries(options.ini ?? {})) {
      sections[section] = { ...sections[section], ...values };
    }
    const text = Object.entries(sections)
      .map(([section, values]) =>
        [`[${section}]`, ...Object.entries(values).map(([k, v]) => `${k} = ${v}`)].join('\n'),
      )
      .join('\n\n');
    const configFile = join(dir, 'agent.ini');
    await writeFile(configFile, `${text}\n`);
    const startedAt = performance.now();
    const child = trackChild(
      spawn(
        process.execPath,
        [
          ...AGENT_NODE_FLAGS,
          AGENT_BIN,
          '--config-file',
          configFile,
          '--log-level',
          options.logLevel ?? 'info',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      ),
    );
    return new AgentProcess(child, dir, startedAt);
  }

  /** Resolves with the first log line (from `from` on) that `match` accepts; rejects on exit or deadline. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let index = from;
      const check = () => {
        for (; index < this.logs.length; index++) {
          const line = this.logs[index] as LogLine;
          if (match(line)) return done(() => resolve(line));
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          return done(() =>
            reject(
              new Error(`agent exited before the expected log line; last lines:\n${this.tail()}`),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `no matching agent log line within ${timeoutMs} ms; last lines:\n${this.tail()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const done = (finish: () => void) => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((listener) => listener !== check);
        finish();
      };
      this.listeners.push(check);
      check();
    });
  }

  waitForMessage(message: string, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return this.waitForLog((line) => line.msg === message, timeoutMs, from);
  }

  tail(count = 15): string {
    return this.logs
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ChildExit> {
    const result = await stopChild(this.child, graceMs, signal);
    await rm(this.dir, { recursive: true, force: true });
    return result;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

function splitHostPort(endpoint: string): [string, string] {
  const cut = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, cut).replace(/^\[|\]$/g, ''), endpoint.slice(cut + 1)];
}
