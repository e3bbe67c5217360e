import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import type { PlacementLeader } from '../etcd/values.js';
import { decodeJson, encodeJson, placementLeaderSchema } from '../etcd/values.js';
import { Backoff, sleep } from '../util/backoff.js';
import { settleWithin, withDeadline } from '../util/deadline.js';
import { errorMessage } from '../util/errors.js';

/** What the sync needs of the election. */
export interface Leadership {
  readonly isLeader: boolean;
  /** True while this instance's lease is known to outlive the next `ms` milliseconds. */
  canWrite(ms: number): boolean;
  /** Reads the leader key: does this instance still hold it? */
  confirm(): Promise<boolean>;
  onChange(listener: (leader: boolean) => void): () => void;
}

export interface ElectionOptions {
  /** Lease TTL in seconds; a dead leader is replaced after at most about this long. */
  ttlS: number;
  /** Unique per instance; default hostname:pid:random. */
  id?: string;
  key?: string;
}

/**
 * One leader among the binding-service instances: the key `placement_leader` created only
 * when absent, bound to a lease the leader keeps alive. Leadership is trusted locally only
 * until the last successful keep-alive's send time + TTL (minus a margin), so a leader cut off
 * from etcd stops writing before its lease can lapse and another instance take over.
 */
export class LeaderElection implements Leadership {
  readonly id: string;
  private readonly key: string;
  private readonly ttlMs: number;
  private leaseId: string | undefined;
  /** performance.now() until which this instance may act as leader; 0 when follower. */
  private validUntil = 0;
  private leader = false;
  private readonly listeners = new Set<(leader: boolean) => void>();

  constructor(
    private readonly store: EtcdStore,
    options: ElectionOptions,
    private readonly logger: Logger,
  ) {
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.key = options.key ?? keys.placementLeader();
    this.ttlMs = options.ttlS * 1000;
  }

  get isLeader(): boolean {
    return this.leader && performance.now() < this.validUntil;
  }

  canWrite(ms: number): boolean {
    return this.leader && performance.now() + ms < this.validUntil;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async confirm(): Promise<boolean> {
    if (!this.isLeader) return false;
    const kv = await this.store.get(this.key);
    const mine = kv !== undefined && kv.lease === this.leaseId && this.holder(kv.value) === this.id;
    if (!mine) this.lose('the leader key is no longer ours');
    return mine;
  }

  /** The current leader's record (for the admin view); undefined when there is none. */
  async currentLeader(): Promise<PlacementLeader | undefined> {
    const kv = await this.store.get(this.key);
    return kv ? decodeJson(placementLeaderSchema, kv.value, kv.key) : undefined;
  }

  /** Campaigns, holds and re-campaigns until `signal` aborts; then resigns (revokes the lease). */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(500, this.ttlMs / 3);
    while (!signal.aborted) {
      try {
        if (await this.campaign()) {
          backoff.reset();
          await this.hold(signal);
        } else {
          await sleep(this.pollMs(), signal);
        }
      } catch (error) {
        this.lose(`etcd: ${errorMessage(error)}`);
        await sleep(backoff.next(), signal);
      }
    }
    await this.resign();
  }

  private pollMs(): number {
    return Math.round((this.ttlMs / 3) * (0.8 + Math.random() * 0.4));
  }

  private holder(value: string): string | undefined {
    try {
      return decodeJson(placementLeaderSchema, value, this.key).id;
    } catch {
      return undefined;
    }
  }

  /** Takes the key if nobody holds it; true when this instance is now the leader. */
  private async campaign(): Promise<boolean> {
    if (await this.store.get(this.key)) return false;
    const grantedFrom = performance.now();
    const leaseId = await this.store.grantLease(Math.max(1, Math.ceil(this.ttlMs / 1000)));
    const record: PlacementLeader = {
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      since: new Date().toISOString(),
    };
    const result = await this.store.transaction(
      [{ key: this.key, absent: true }],
      [{ put: this.key, value: encodeJson(record), lease: leaseId }],
    );
    if (!result.succeeded) {
      await settleWithin(this.store.revokeLease(leaseId), 2000);
      return false;
    }
    this.leaseId = leaseId;
    this.extend(grantedFrom);
    this.setLeader(true);
    return true;
  }

  /** Keeps the lease alive every TTL/3 until a keep-alive fails for too long or `signal` aborts. */
  private async hold(signal: AbortSignal): Promise<void> {
    const leaseId = this.leaseId as string;
    while (!signal.aborted && this.leader) {
      await sleep(this.ttlMs / 3, signal);
      if (signal.aborted) return;
      while (this.leader && !signal.aborted) {
        const sentAt = performance.now();
        try {
          const ttl = await withDeadline(
            this.store.keepAliveOnce(leaseId, signal),
            this.ttlMs / 4,
            'lease keep-alive',
            signal,
          );
          if (ttl <= 0) throw new Error('the lease expired');
          this.extend(sentAt);
          break;
        } catch (error) {
          if (performance.now() >= this.validUntil) {
            this.lose(`lease not renewed: ${errorMessage(error)}`);
            return;
          }
          await sleep(this.ttlMs / 10, signal);
        }
      }
    }
  }

  private extend(sentAt: number): void {
    // etcd counts the TTL from when it handles the request, never before we sent it.
    this.validUntil = sentAt + this.ttlMs - this.ttlMs / 10;
  }

  private lose(why: string): void {
    this.leaseId = undefined;
    this.validUntil = 0;
    if (this.leader) {
      this.logger.warn({ instance: this.id, err: why }, 'Placement sync leadership lost');
      this.setLeader(false);
    }
  }

  private async resign(): Promise<void> {
    const leaseId = this.leaseId;
    const wasLeader = this.leader;
    this.validUntil = 0;
    this.setLeader(false);
    this.leaseId = undefined;
    if (leaseId) await settleWithin(this.store.revokeLease(leaseId), 2000);
    if (wasLeader) this.logger.info({ instance: this.id }, 'Placement sync leadership released');
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    if (leader) this.logger.info({ instance: this.id }, 'Placement sync leadership acquired');
    for (const listener of this.listeners) listener(leader);
  }
}
