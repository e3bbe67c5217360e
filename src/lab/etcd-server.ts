import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_ETCD_SETTINGS, createEtcdClient } from '../etcd/connection.js';
import { EtcdStore } from '../etcd/store.js';
import { stopChild, trackChild } from './children.js';
import { freePort, portTaken } from './ports.js';

/** Launches tried when a port was taken between its choice and etcd's listen. */
const LAUNCH_ATTEMPTS = 3;

const CANDIDATES = ['/usr/bin/etcd', '/usr/local/bin/etcd', '/usr/sbin/etcd'];

export function findEtcdBinary(): string {
  const fromEnv = process.env.ETCD_BINARY;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'etcd'))) return join(dir, 'etcd');
  }
  const found = CANDIDATES.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      'etcd is not installed: install Debian package etcd-server (as root: apt-get install -y etcd-server), or set ETCD_BINARY',
    );
  }
  return found;
}

/** Server-side TLS for tests of the client's TLS settings; clients must present a cert signed by the CA. */
export interface EtcdServerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A private single-member etcd on free loopback ports with its own data directory.
 * `stop()` then `start()` restarts it on the same ports with its data (for fault tests);
 * `dispose()` stops it and removes the data.
 */
export class EtcdServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly binary: string,
    readonly tls?: EtcdServerTls,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /** A client of this etcd with the default timeouts (plain TCP, no auth). */
  connectStore(): EtcdStore {
    return EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: [this.endpoint] });
  }

  /** Process id of the running etcd, undefined while stopped. */
  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Starts a fresh etcd; on ports taken meanwhile by another process, again on new ones. */
  static async launch(options: { tls?: EtcdServerTls } = {}): Promise<EtcdServer> {
    const binary = findEtcdBinary();
    for (let attempt = 1; ; attempt++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'nspp-etcd-'));
      const ports = [await freePort(), await freePort()] as const;
      const server = new EtcdServer(dataDir, ...ports, binary, options.tls);
      try {
        await server.start();
        return server;
      } catch (error) {
        await server.dispose();
        if (!portTaken(error) || attempt >= LAUNCH_ATTEMPTS) throw error;
      }
    }
  }

  async start(timeoutMs = 15_000): Promise<void> {
    const client = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      '--name',
      'nspp',
      '--data-dir',
      join(this.dataDir, 'data'),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `nspp=${peer}`,
      '--initial-cluster-state',
      'new',
      '--log-level',
      'error',
      ...(this.tls
        ? ['--cert-file', this.tls.certFile, '--key-file', this.tls.keyFile, '--client-cert-auth']
        : []),
      ...(this.tls ? ['--trusted-ca-file', this.tls.caFile] : []),
    ];
    const child = trackChild(spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const deadline = Date.now() + timeoutMs;
    const probe = createEtcdClient({
      endpoints: [client],
      requestTimeoutMs: 1000,
      dialTimeoutMs: 500,
      ...(this.tls ? { tls: this.tls } : {}),
    });
    try {
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
        try {
          await probe.maintenance.status();
          return;
        } catch {
          if (Date.now() > deadline)
            throw new Error(`etcd did not become healthy in ${timeoutMs} ms: ${stderr}`);
          await delay(50);
        }
      }
    } finally {
      probe.close();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child, 5000);
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
