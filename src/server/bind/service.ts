import type { EtcdAgentRequirement } from '../agent-gate.js';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { EtcdStore } from '../../etcd/store.js';
import type { HostSnapshot } from '../../snapshot/snapshot.js';
import { errorMessage } from '../../util/errors.js';
import type { BinderMetrics } from '../metrics.js';
import { LateUps } from './late-up.js';
import { RunningPairs, SlotReservations } from './reservations.js';
import type { RequestCounter } from './runner.js';
import { BindRunner } from './runner.js';
import type { BindOutcome, BindRequest } from './types.js';

export interface BindServiceOptions {
  bindTimeoutMs: number;
  requireEtcdAgent: EtcdAgentRequirement;
  /** Directory of the vhost-user sockets in the answers (`<dir>/sock<N>`). */
  socketDir?: string;
  /** Test hook: runs after a bind's wait ended without `up`, before its rollback. */
  beforeRollback?: (host: string, portId: string) => Promise<void>;
}

/**
 * Binds ports (SYSTEM.md §4), idempotently per host and port. Each bind is a small state
 * machine (machine.ts) driven by a runner; this class holds what binds of one process
 * share: slot reservations, the binds in flight, the memory of rolled-back binds.
 */
export class BindService {
  readonly reservations = new SlotReservations();
  readonly running = new RunningPairs();
  private readonly inflight = new Map<string, Promise<BindOutcome>>();
  private readonly lateUps: LateUps;
  private readonly shutdown = new AbortController();

  constructor(
    private readonly store: EtcdStore,
    private readonly snapshot: HostSnapshot,
    private readonly logger: Logger,
    private readonly metrics: BinderMetrics,
    private readonly options: BindServiceOptions,
  ) {
    this.lateUps = new LateUps(store, logger);
  }

  start(): void {
    this.lateUps.start(this.snapshot);
  }

  /** Ends every wait at once (their binds roll back and answer `error`). */
  abortWaits(reason: string): void {
    this.shutdown.abort(reason);
  }

  /** Aborts the waits and waits for background work (undoing late `up`s) to finish. */
  async stop(): Promise<void> {
    this.abortWaits('the binding service is stopping');
    await Promise.allSettled([...this.inflight.values()]);
    await this.lateUps.stop();
  }

  isBinding(host: string, portId: string): boolean {
    return this.running.has(host, portId);
  }

  /** Binds a port; never throws. The same bind already running here shares its answer. */
  bind(request: BindRequest): Promise<BindOutcome> {
    const sameKey = JSON.stringify([
      request.host,
      request.portId,
      request.macAddress,
      request.segments,
      request.agents?.map((agent) => agent.alive),
    ]);
    const running = this.inflight.get(sameKey);
    if (running) return running;
    const promise = this.measured(request).finally(() => this.inflight.delete(sameKey));
    this.inflight.set(sameKey, promise);
    return promise;
  }

  private async measured(request: BindRequest): Promise<BindOutcome> {
    const started = performance.now();
    const counter: RequestCounter = { requests: 0, waitMs: 0 };
    const leave = this.running.enter(request.host, request.portId);
    this.metrics.inflight(1);
    let outcome: BindOutcome;
    try {
      outcome = await this.runner(request, counter).run();
    } catch (error) {
      outcome = { bound: false, reason: 'error', detail: `etcd: ${errorMessage(error)}` };
    } finally {
      leave();
      this.metrics.inflight(-1);
    }
    this.report(request, outcome, counter, (performance.now() - started) / 1000);
    return outcome;
  }

  private runner(request: BindRequest, counter: RequestCounter): BindRunner {
    const context = {
      request,
      requireEtcdAgent: this.options.requireEtcdAgent,
      deadline: Date.now() + this.options.bindTimeoutMs,
      bindTimeoutMs: this.options.bindTimeoutMs,
      ...(this.options.socketDir !== undefined ? { socketDir: this.options.socketDir } : {}),
      reserved: this.reservations,
      random: Math.random,
    };
    return new BindRunner(
      context,
      {
        store: this.store,
        snapshot: this.snapshot,
        reservations: this.reservations,
        lateUps: this.lateUps,
        shutdown: this.shutdown.signal,
        countRequest: (kind) => this.metrics.etcdRequest(kind),
        log: (message, fields) => this.logger.info(fields, message),
        ...(this.options.beforeRollback ? { beforeRollback: this.options.beforeRollback } : {}),
      },
      counter,
    );
  }

  private report(
    request: BindRequest,
    outcome: BindOutcome,
    counter: RequestCounter,
    seconds: number,
  ): void {
    const result = outcome.bound ? 'bound' : outcome.reason;
    this.metrics.bind(result, seconds);
    const line = {
      host: request.host,
      port_id: request.portId,
      vhost_id: outcome.bound ? outcome.vhost_id : null,
      result,
      duration_ms: Math.round(seconds * 100_000) / 100,
      etcd_requests: counter.requests,
      agent_wait_ms: Math.round(counter.waitMs * 100) / 100,
      ...(outcome.bound ? {} : { detail: outcome.detail }),
    };
    if (outcome.bound || outcome.reason !== 'error') this.logger.info(line, 'bind');
    else this.logger.error(line, 'bind');
  }
}
