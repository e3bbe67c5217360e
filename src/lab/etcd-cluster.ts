import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_ETCD_SETTINGS, createEtcdClient } from '../etcd/connection.js';
import { EtcdStore } from '../etcd/store.js';
import { stopChild, trackChild } from './children.js';
import { findEtcdBinary } from './etcd-server.js';
import { freePort, portTaken } from './ports.js';

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | undefined;
  stderr: string;
}

/**
 * A private etcd cluster of N members (3 by default) on free loopback ports, each with its
 * own data directory, for failover tests and the fault suite. A member can be killed
 * (SIGKILL, e.g. the leader) and started again on the same ports with its data; `stop()`
 * kills every member, `dispose()` also removes the data.
 */
export class EtcdCluster {
  private constructor(
    readonly dataDir: string,
    private readonly members: Member[],
    private readonly binary: string,
  ) {}

  /** Starts a fresh cluster; on ports taken meanwhile by another process, again on new ones. */
  static async launch(options: { members?: number } = {}): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.launchOnce(options.members ?? 3);
      } catch (error) {
        if (!portTaken(error) || attempt >= 3) throw error;
      }
    }
  }

  private static async launchOnce(count: number): Promise<EtcdCluster> {
    const binary = findEtcdBinary();
    const dataDir = await mkdtemp(join(tmpdir(), 'nspp-etcd-cluster-'));
    const members: Member[] = [];
    for (let index = 0; index < count; index++) {
      members.push({
        name: `m${index}`,
        clientPort: await freePort(),
        peerPort: await freePort(),
        child: undefined,
        stderr: '',
      });
    }
    const cluster = new EtcdCluster(dataDir, members, binary);
    try {
      for (let index = 0; index < count; index++) cluster.spawnMember(index);
      await cluster.waitHealthy(30_000);
    } catch (error) {
      await cluster.dispose();
      throw error;
    }
    return cluster;
  }

  get size(): number {
    return this.members.length;
  }

  /** Every member's client endpoint `127.0.0.1:PORT`, in member order. */
  get endpoints(): string[] {
    return this.members.map((member) => `127.0.0.1:${member.clientPort}`);
  }

  endpoint(index: number): string {
    return this.endpoints[index] as string;
  }

  /** A client of the whole cluster with the default timeouts. */
  connectStore(): EtcdStore {
    return EtcdStore.connect({ ...DEFAULT_ETCD_SETTINGS, endpoints: this.endpoints });
  }

  /** Process id of member `index`, undefined while it is stopped. */
  pid(index: number): number | undefined {
    const child = this.members[index]?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Index of the member the running members agree is the leader, undefined without one. */
  async leader(timeoutMs = 1000): Promise<number | undefined> {
    const answers = await Promise.all(
      this.members.map(async (_member, index) => {
        if (this.pid(index) === undefined) return undefined;
        const client = createEtcdClient({
          endpoints: [this.endpoint(index)],
          requestTimeoutMs: timeoutMs,
          dialTimeoutMs: timeoutMs,
        });
        try {
          const status = await client.maintenance.status();
          return { index, self: status.header.member_id, leader: status.leader };
        } catch {
          return undefined;
        } finally {
          client.close();
        }
      }),
    );
    const leaderId = answers.find((answer) => answer && answer.leader !== '0')?.leader;
    return answers.find((answer) => answer?.self === leaderId)?.index;
  }

  /** Waits until a leader is elected and returns its index. */
  async waitForLeader(timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader();
      if (leader !== undefined) return leader;
      if (Date.now() > deadline) throw new Error(`no etcd leader within ${timeoutMs} ms`);
      await delay(50);
    }
  }

  /** Kills member `index` (SIGKILL by default: a crash, no goodbye to its peers). */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const member = this.members[index] as Member;
    const child = member.child;
    member.child = undefined;
    if (child) await stopChild(child, 5000, signal);
  }

  /** Starts member `index` again with its data, and waits until the cluster is healthy. */
  async restart(index: number, timeoutMs = 30_000): Promise<void> {
    if (this.pid(index) !== undefined) return;
    this.spawnMember(index);
    await this.waitHealthy(timeoutMs);
  }

  /** Kills every member. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, index) => this.kill(index)));
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  private spawnMember(index: number): void {
    const member = this.members[index] as Member;
    const peer = (m: Member) => `http://127.0.0.1:${m.peerPort}`;
    const client = `http://127.0.0.1:${member.clientPort}`;
    const args = [
      '--name',
      member.name,
      '--data-dir',
      join(this.dataDir, member.name),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer(member),
      '--initial-advertise-peer-urls',
      peer(member),
      '--initial-cluster',
      this.members.map((m) => `${m.name}=${peer(m)}`).join(','),
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      `nspp-${this.dataDir}`,
      '--log-level',
      'error',
    ];
    const child = trackChild(spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    member.child = child;
    member.stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      member.stderr = (member.stderr + chunk.toString()).slice(-4000);
    });
  }

  /** Every running member answers and the cluster serves a linearizable read. */
  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.members.flatMap((_, index) =>
      this.pid(index) !== undefined ? [this.endpoint(index)] : [],
    );
    for (;;) {
      for (const member of this.members) {
        const child = member.child;
        if (child && child.exitCode !== null)
          throw new Error(`etcd ${member.name} exited with ${child.exitCode}: ${member.stderr}`);
      }
      const ready = await Promise.all(
        running.map(async (endpoint) => {
          const probe = createEtcdClient({
            endpoints: [endpoint],
            requestTimeoutMs: 1000,
            dialTimeoutMs: 500,
          });
          try {
            await probe.get('/nspp-health').exec();
            return true;
          } catch {
            return false;
          } finally {
            probe.close();
          }
        }),
      );
      if (ready.every(Boolean)) return;
      if (Date.now() > deadline) {
        const detail = this.members.map((m) => `${m.name}: ${m.stderr}`).join('\n');
        throw new Error(`etcd cluster not healthy within ${timeoutMs} ms:\n${detail}`);
      }
      await delay(100);
    }
  }
}
