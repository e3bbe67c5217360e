import type { Lease } from 'etcd3';
import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import type { AgentKindRecord, AgentRecord } from '../etcd/values.js';
import { encodeJson } from '../etcd/values.js';
import { sleep } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';

/** The durable record that tells the service this host runs our agent (agent-gate.ts). */
function agentKindRecord(record: AgentRecord): AgentKindRecord {
  return { agent: 'networking-spp', version: record.version };
}

/** What the liveness key needs of the agent's watch (EtcdSync). */
export interface OwnWriteWatch {
  /** Resolves true once the watch has delivered the agent key at `revision` (or later). */
  confirmOwnWrite(revision: number, timeoutMs: number): Promise<boolean>;
  /** Re-creates the watches (they were found silent). */
  restartWatches(): void;
}

/**
 * The agent's liveness key `agent/<host>`, bound to a lease that is refreshed only while the
 * agent's etcd session AND its watch work: every ttl/3 the record is rewritten and the
 * lease is kept alive only once the watch has delivered that write back. A silent watch
 * is re-created; if it stays silent the lease expires and the binding service stops
 * sending ports to this host.
 */
export class Liveness {
  private lease: Lease | undefined;
  private healthy: boolean | undefined;
  /** Cuts the wait before the next beat short (the record changed). */
  private wake = new AbortController();
  /** `agent_kind/<host>` is written with the record once per lease (a host destroy removes it). */
  private kindWrittenFor: Lease | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly sync: OwnWriteWatch,
    private readonly ttlS: number,
    private readonly record: () => AgentRecord,
    private readonly logger: Logger,
  ) {}

  /** No refresh has failed since the last one that worked (true before the first one). */
  get live(): boolean {
    return this.healthy !== false;
  }

  private get key(): string {
    return keys.agent(this.record().host);
  }

  async run(signal: AbortSignal): Promise<void> {
    const periodMs = (this.ttlS * 1000) / 3;
    while (!signal.aborted) {
      const started = Date.now();
      await this.beat(Math.max(200, periodMs - 100));
      const wait = AbortSignal.any([signal, this.wake.signal]);
      await sleep(Math.max(0, periodMs - (Date.now() - started)), wait);
      if (this.wake.signal.aborted) this.wake = new AbortController();
    }
  }

  /** Rewrites the record now rather than at the next period (e.g. SPP became unreachable). */
  nudge(): void {
    this.wake.abort();
  }

  /** Revokes the lease so the key disappears at once (clean shutdown). */
  async release(timeoutMs = 1000): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    const deadline = new AbortController();
    await Promise.race([
      lease.revoke().catch(() => undefined),
      sleep(timeoutMs, deadline.signal),
    ]).finally(() => deadline.abort());
  }

  private async beat(confirmWithinMs: number): Promise<void> {
    try {
      const lease = await this.currentLease();
      const revision = await this.writeRecord(lease);
      if (!(await this.sync.confirmOwnWrite(revision, confirmWithinMs))) {
        this.setHealthy(false, 'the etcd watch did not deliver our own write; re-creating watches');
        this.sync.restartWatches();
        return;
      }
      const answer = await lease.keepaliveOnce();
      if (Number(answer.TTL) <= 0) throw new Error('lease expired');
      this.setHealthy(true);
    } catch (error) {
      this.lease?.release();
      this.lease = undefined;
      this.setHealthy(false, `liveness key not refreshed: ${errorMessage(error)}`);
    }
  }

  private async currentLease(): Promise<Lease> {
    if (this.lease) return this.lease;
    const lease = this.store.client.lease(this.ttlS, { autoKeepAlive: false });
    lease.on('lost', () => undefined);
    await lease.grant();
    this.lease = lease;
    return lease;
  }

  private async writeRecord(lease: Lease): Promise<number> {
    const leaseId = await lease.grant();
    const record = this.record();
    const kind =
      this.kindWrittenFor === lease
        ? []
        : [{ put: keys.agentKind(record.host), value: encodeJson(agentKindRecord(record)) }];
    const result = await this.store.transaction(
      [],
      [{ put: this.key, value: encodeJson(record), lease: leaseId }, ...kind],
    );
    this.kindWrittenFor = lease;
    return result.revision;
  }

  private setHealthy(healthy: boolean, why?: string): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    if (healthy) this.logger.info({ key: this.key, ttl_s: this.ttlS }, 'liveness key refreshed');
    else this.logger.warn({ key: this.key, err: why }, 'agent not live in etcd');
  }
}
