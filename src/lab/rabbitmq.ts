import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import amqp from 'amqplib';
import { stopChild, trackChild } from './children.js';
import { freePort } from './ports.js';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD_CANDIDATES = ['/usr/bin/epmd', '/usr/lib/erlang/bin/epmd'];

export function findRabbitmq(): { server: string; epmd: string } {
  const server = process.env.RABBITMQ_SERVER_BINARY ?? SERVER;
  const epmd = EPMD_CANDIDATES.find((path) => existsSync(path));
  if (!existsSync(server) || !epmd) {
    throw new Error(
      'RabbitMQ is not installed: run scripts/ensure-system-deps.sh neutron as root (Debian package rabbitmq-server)',
    );
  }
  return { server, epmd };
}

/**
 * A private RabbitMQ broker on free loopback ports, with its own node name, Erlang cookie,
 * data and log directories, and its own epmd (on a private port, so stopping it touches no
 * other Erlang node). No plugins. `stop()` then `start()` restarts it on the same ports and
 * data (for fault tests); `dispose()` stops everything and removes the directories.
 */
export class RabbitMqServer {
  private child: ChildProcess | undefined;
  private epmd: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly dir: string,
    readonly amqpPort: number,
    readonly distPort: number,
    readonly epmdPort: number,
    readonly nodeName: string,
    private readonly binaries: { server: string; epmd: string },
  ) {}

  /** `rabbit://guest:guest@127.0.0.1:<port>/` for oslo's transport_url. */
  get transportUrl(): string {
    return `rabbit://guest:guest@127.0.0.1:${this.amqpPort}/`;
  }

  get amqpUrl(): string {
    return `amqp://guest:guest@127.0.0.1:${this.amqpPort}`;
  }

  static async launch(timeoutMs = 60_000): Promise<RabbitMqServer> {
    const binaries = findRabbitmq();
    const dir = await mkdtemp(join(tmpdir(), 'nspp-rabbitmq-'));
    const suffix = randomBytes(4).toString('hex');
    const ports = new Set<number>();
    for (let attempt = 0; ports.size < 3 && attempt < 20; attempt++) ports.add(await freePort());
    const [amqpPort, distPort, epmdPort] = [...ports] as [number, number, number];
    const server = new RabbitMqServer(
      dir,
      amqpPort,
      distPort,
      epmdPort,
      `nspp-${suffix}@localhost`,
      binaries,
    );
    try {
      await server.writeConfig();
      await server.start(timeoutMs);
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  private async writeConfig(): Promise<void> {
    for (const sub of ['home', 'mnesia', 'log']) await mkdir(join(this.dir, sub));
    await writeFile(join(this.dir, 'rabbitmq-env.conf'), '');
    await writeFile(join(this.dir, 'enabled_plugins'), '[].\n');
    await writeFile(
      join(this.dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.1 = 127.0.0.1:${this.amqpPort}`,
        'loopback_users.guest = true',
        'log.console = false',
        'log.file.level = warning',
        // A test machine's disk may be nearly full; do not block publishers for it.
        'disk_free_limit.absolute = 1MB',
        '',
      ].join('\n'),
    );
  }

  private environment(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      HOME: join(this.dir, 'home'),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_NODE_PORT: String(this.amqpPort),
      RABBITMQ_DIST_PORT: String(this.distPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ERL_EPMD_PORT: String(this.epmdPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    };
  }

  /** Starts the broker and resolves once it accepts AMQP connections. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) return;
    const env = this.environment();
    if (!this.epmd || this.epmd.exitCode !== null || this.epmd.signalCode !== null) {
      this.epmd = trackChild(
        spawn(this.binaries.epmd, ['-port', String(this.epmdPort), '-address', '127.0.0.1'], {
          env,
          stdio: 'ignore',
          detached: true,
        }),
      );
      // Else the broker would start an epmd daemon of its own, outside our process group.
      await this.waitForEpmd(Math.min(timeoutMs, 10_000));
    }
    this.output = '';
    const child = trackChild(
      spawn(this.binaries.server, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = undefined;
        throw new Error(
          `rabbitmq-server exited (${child.exitCode ?? child.signalCode}): ${this.output}`,
        );
      }
      if (await this.accepts()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `RabbitMQ did not accept connections within ${timeoutMs} ms: ${this.output}`,
        );
      }
      await delay(250);
    }
  }

  private async waitForEpmd(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const listening = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: this.epmdPort }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (listening) return;
      if (this.epmd?.exitCode !== null || Date.now() > deadline) {
        throw new Error(`epmd did not listen on 127.0.0.1:${this.epmdPort}`);
      }
      await delay(50);
    }
  }

  private async accepts(): Promise<boolean> {
    try {
      const connection = await amqp.connect(this.amqpUrl, { timeout: 1000 });
      connection.on('error', () => undefined);
      await connection.close();
      return true;
    } catch {
      return false;
    }
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Stops the broker (SIGTERM to its process group, SIGKILL after `graceMs`); epmd stays. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    await stopChild(child, graceMs);
  }

  async dispose(): Promise<void> {
    await this.stop();
    const epmd = this.epmd;
    this.epmd = undefined;
    if (epmd) await stopChild(epmd, 2000);
    await rm(this.dir, { recursive: true, force: true });
  }
}
