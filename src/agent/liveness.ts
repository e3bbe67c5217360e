import type { Logger } from 'pino';
import { classifyEtcdFailure } from '../etcd/failure.js';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { EtcdCallAborted } from '../etcd/store.js';
import type { AgentKindRecord, AgentRecord } from '../etcd/values.js';
import { encodeJson } from '../etcd/values.js';
import { sleep } from '../util/backoff.js';
import { DeadlineExceeded, settleWithin } from '../util/deadline.js';
import { errorMessage } from '../util/errors.js';

/** The durable record that tells the service this host runs our agent (agent-gate.ts). */
function agentKindRecord(record: AgentRecord): AgentKindRecord {
  return { agent: 'networking-spp', version: record.version };
}

/** What the liveness key needs of the agent's watch (EtcdSync). */
export interface OwnWriteWatch {
  /**
   * Resolves true once the watch has delivered the agent key at `revision` (or later),
   * false after `timeoutMs` or when `signal` aborts.
   */
  confirmOwnWrite(revision: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Re-creates the watches (they were found silent). */
  restartWatches(): void;
}

/** How long the revoke on the way out may hold up shutdown (ms). */
const RELEASE_WAIT_MS = 300;

/**
 * The agent's liveness key `agent/<host>`, bound to a lease that is refreshed only while the
 * agent's etcd session AND its watch work: every ttl/3 the record is rewritten and the
 * lease is kept alive only once the watch has delivered that write back. A silent watch
 * is re-created; if it stays silent the lease expires and the binding service stops
 * sending ports to this host.
 *
 * Every step of a beat has a deadline (the store's per-call deadline; the keep-alive runs
 * on a stream of its own that is cancelled at that deadline), and a beat that misses one
 * counts as failed: the connections to etcd are dropped and the next beat starts on fresh
 * ones with a fresh lease. A member that holds the connection but never answers
 * (black-holed) therefore costs the key for as long as it lasts, never for good.
 */
export class Liveness {
  private leaseId: string | undefined;
  private healthy: boolean | undefined;
  /** Cuts the wait before the next beat short (the record changed). */
  private wake = new AbortController();
  /** `agent_kind/<host>` is written with the record once per lease (a host destroy removes it). */
  private kindWrittenFor: string | undefined;

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
      await this.beat(Math.max(200, periodMs - 100), signal);
      const wait = AbortSignal.any([signal, this.wake.signal]);
      await sleep(Math.max(0, periodMs - (Date.now() - started)), wait);
      if (this.wake.signal.aborted) this.wake = new AbortController();
    }
  }

  /** Rewrites the record now rather than at the next period (e.g. SPP became unreachable). */
  nudge(): void {
    this.wake.abort();
  }

  /** Revokes the lease so the key disappears at once (clean shutdown), waiting briefly. */
  async release(timeoutMs = RELEASE_WAIT_MS): Promise<void> {
    const leaseId = this.leaseId;
    this.leaseId = undefined;
    if (leaseId) await settleWithin(this.store.revokeLease(leaseId), timeoutMs);
  }

  private async beat(confirmWithinMs: number, signal: AbortSignal): Promise<void> {
    try {
      const leaseId = this.leaseId ?? (await this.store.grantLease(this.ttlS));
      this.leaseId = leaseId;
      const revision = await this.writeRecord(leaseId);
      if (!(await this.sync.confirmOwnWrite(revision, confirmWithinMs, signal))) {
        if (signal.aborted) return;
        this.setHealthy(false, 'the etcd watch did not deliver our own write; re-creating watches');
        this.store.resetConnections();
        this.sync.restartWatches();
        return;
      }
      const ttl = await this.store.keepAliveOnce(leaseId, signal);
      if (ttl <= 0) throw new Error('lease expired');
      this.setHealthy(true);
    } catch (error) {
      if (signal.aborted || error instanceof EtcdCallAborted) return;
      // The lease may be gone or never kept alive: start over with a new one.
      this.leaseId = undefined;
      if (error instanceof DeadlineExceeded || classifyEtcdFailure(error).kind === 'unreachable')
        this.store.resetConnections();
      this.setHealthy(false, `liveness key not refreshed: ${errorMessage(error)}`);
    }
  }

  private async writeRecord(leaseId: string): Promise<number> {
    const record = this.record();
    const kind =
      this.kindWrittenFor === leaseId
        ? []
        : [{ put: keys.agentKind(record.host), value: encodeJson(agentKindRecord(record)) }];
    const result = await this.store.transaction(
      [],
      [{ put: this.key, value: encodeJson(record), lease: leaseId }, ...kind],
    );
    this.kindWrittenFor = leaseId;
    return result.revision;
  }

  private setHealthy(healthy: boolean, why?: string): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    if (healthy) this.logger.info({ key: this.key, ttl_s: this.ttlS }, 'liveness key refreshed');
    else this.logger.warn({ key: this.key, err: why }, 'agent not live in etcd');
  }
}
