import type { Logger } from 'pino';
import type { EtcdStore } from '../../etcd/store.js';
import { FREE } from '../../etcd/values.js';
import type { TapInfo } from '../../etcd/values.js';
import { keys } from '../../etcd/keys.js';
import type { HostState } from '../../snapshot/model.js';
import { isUp } from '../../snapshot/model.js';
import { readAllHosts, readHost } from '../../snapshot/read.js';
import type { HostSnapshot } from '../../snapshot/snapshot.js';
import { errorMessage } from '../../util/errors.js';
import { KeySubscription } from '../bind/subscription.js';
import type { RevisionClock } from '../revision-clock.js';
import type { DeleteResult, TapFlowRequest, TapRefusal } from './plan.js';
import type {
  TapCreateOutcome,
  TapDeleteOutcome,
  TapMetrics,
  TapServiceOptions,
  TapSyncFlow,
  TapSyncReport,
} from './types.js';
import {
  flowRevisions,
  hostOfFlow,
  hostOfPort,
  planTapCreate,
  planTapDelete,
  planTapRollback,
  tapInfoValue,
  tapKeyNames,
} from './plan.js';

const MAX_ATTEMPTS = 16;
const LATE_UP_MEMORY_MS = 10 * 60_000;

interface RolledBack {
  host: string;
  flowId: string;
  info: TapInfo;
  slots: string[];
  revision: number;
  until: number;
}

/**
 * Tap flows through the binding service: create (mirror slots, tap_info, tap_action in one
 * transaction, then a wait for the agent's `tap_status = up` subscribed before anything is
 * read, rolled back on timeout unless the `up` came), delete and full sync. Idempotent: a
 * retried create of the same flow waits for the same request.
 */
export class TapService {
  private readonly shutdown = new AbortController();
  private readonly rolledBack = new Map<string, RolledBack>();
  private readonly running = new Set<Promise<unknown>>();
  private off: (() => void) | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly snapshot: HostSnapshot,
    private readonly clock: RevisionClock,
    private readonly logger: Logger,
    private readonly options: TapServiceOptions,
    private readonly metrics?: TapMetrics,
  ) {}

  /** Watches for an agent's `up` arriving after a rollback (the original agent writes it unguarded). */
  start(): void {
    this.off = this.snapshot.listeners.onChanges((changes) => {
      for (const change of changes) {
        if (change.kind !== 'tap_status' || change.type !== 'put') continue;
        const entry = this.rolledBack.get(change.key);
        if (!entry || change.modRevision <= entry.revision) continue;
        this.rolledBack.delete(change.key);
        void this.track(this.undoLateUp(entry, change.modRevision));
      }
    });
  }

  async stop(): Promise<void> {
    this.shutdown.abort('the binding service is stopping');
    this.off?.();
    await Promise.allSettled([...this.running]);
  }

  /** The host of a tap service's port, or why a tap cannot use it. */
  checkServicePort(
    portId: string,
  ): { ok: true; host: string } | { ok: false; reason: TapRefusal; detail: string } {
    const host = hostOfPort(this.snapshot.hosts(), portId);
    if (host === undefined)
      return {
        ok: false,
        reason: 'not_spp_port',
        detail: `port ${portId} is not bound by SPP on any host`,
      };
    return { ok: true, host };
  }

  async create(request: TapFlowRequest): Promise<TapCreateOutcome> {
    const started = performance.now();
    const outcome = await this.track(this.createFlow(request));
    const seconds = (performance.now() - started) / 1000;
    const result = outcome.active ? 'active' : outcome.reason;
    this.metrics?.tapCreate(result, seconds);
    this.logger.info(
      {
        tap_flow_id: request.flowId,
        source_port: request.sourcePort,
        service_port: request.servicePort,
        direction: request.direction,
        ...(outcome.active
          ? { host: outcome.host, mirror_in: outcome.mirror_in, mirror_out: outcome.mirror_out }
          : { detail: outcome.detail }),
        result,
        duration_ms: Math.round(seconds * 10000) / 10,
      },
      'tap flow create',
    );
    return outcome;
  }

  /** The host both ports are bound on, or why the flow cannot be created. */
  private async flowHost(request: TapFlowRequest): Promise<string | TapCreateOutcome> {
    const { sourcePort, servicePort } = request;
    if (sourcePort === servicePort) {
      return {
        active: false,
        reason: 'same_port',
        detail: 'the source port is the tap service port',
      };
    }
    const { sourceHost, serviceHost } = await this.hostsOf(sourcePort, servicePort);
    if (sourceHost === undefined || serviceHost === undefined) {
      const which =
        sourceHost === undefined ? `source port ${sourcePort}` : `tap service port ${servicePort}`;
      return {
        active: false,
        reason: 'not_spp_port',
        detail: `${which} is not bound by SPP on any host`,
      };
    }
    if (sourceHost !== serviceHost) {
      return {
        active: false,
        reason: 'cross_host',
        detail: `source port ${sourcePort} is on host ${sourceHost} but the tap service port ${servicePort} is on host ${serviceHost}; SPP taps need both on one host`,
      };
    }
    return sourceHost;
  }

  private async createFlow(request: TapFlowRequest): Promise<TapCreateOutcome> {
    const host = await this.flowHost(request);
    if (typeof host !== 'string') return host;
    const k = tapKeyNames(host, request.flowId);
    const deadline = Date.now() + this.options.tapTimeoutMs;
    // Listen before looking: no `up` can slip between the look and the wait.
    const subscription = new KeySubscription(
      this.snapshot.listeners,
      [k.status],
      this.shutdown.signal,
    );
    try {
      return await this.claimAndWait(subscription, host, request, deadline);
    } catch (error) {
      return { active: false, reason: 'error', detail: `etcd: ${errorMessage(error)}` };
    } finally {
      subscription.close();
    }
  }

  /** Plans from the snapshot, writes (re-reading after a conflict), then waits for `up`. */
  private async claimAndWait(
    subscription: KeySubscription,
    host: string,
    request: TapFlowRequest,
    deadline: number,
  ): Promise<TapCreateOutcome> {
    let state: HostState = this.snapshot.host(host);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const plan = planTapCreate(state, request);
      if (plan.kind === 'refuse')
        return { active: false, reason: plan.reason, detail: plan.detail };
      if (plan.kind === 'wait') {
        if (plan.up) {
          const { mirror_in, mirror_out } = plan.info;
          return { active: true, host, mirror_in, mirror_out };
        }
        return this.waitUp(subscription, host, request, plan.info, plan.infoRevision, deadline);
      }
      const result = await this.store.transaction(plan.conditions, plan.operations);
      if (result.succeeded)
        return this.waitUp(subscription, host, request, plan.info, result.revision, deadline);
      state = (await readHost(this.store, host)).host;
    }
    return {
      active: false,
      reason: 'error',
      detail: `tap flow ${request.flowId}: host ${host} kept changing`,
    };
  }

  /**
   * The hosts of both ports, from the snapshot; a port it does not show is looked up in
   * etcd itself (the snapshot may not have caught up with a bind that just finished).
   */
  private async hostsOf(sourcePort: string, servicePort: string) {
    let sourceHost = hostOfPort(this.snapshot.hosts(), sourcePort);
    let serviceHost = hostOfPort(this.snapshot.hosts(), servicePort);
    if (sourceHost === undefined || serviceHost === undefined) {
      const fresh = [...(await readAllHosts(this.store)).hosts.values()];
      sourceHost = hostOfPort(fresh, sourcePort);
      serviceHost = hostOfPort(fresh, servicePort);
    }
    return { sourceHost, serviceHost };
  }

  private async waitUp(
    subscription: KeySubscription,
    host: string,
    request: TapFlowRequest,
    info: TapInfo,
    infoRevision: number,
    deadline: number,
  ): Promise<TapCreateOutcome> {
    const mirrors = { mirror_in: info.mirror_in, mirror_out: info.mirror_out };
    for (;;) {
      const event = await subscription.next(deadline, infoRevision);
      if (event.type === 'put' && event.raw === 'up') return { active: true, host, ...mirrors };
      if (event.type === 'resync') {
        if (isUp(this.snapshot.host(host).taps.get(request.flowId)?.status))
          return { active: true, host, ...mirrors };
        continue;
      }
      if (event.type === 'timeout' || event.type === 'aborted') {
        return this.rollback(
          host,
          request,
          info,
          infoRevision,
          event.type === 'aborted' ? event.reason : undefined,
        );
      }
    }
  }

  private async rollback(
    host: string,
    request: TapFlowRequest,
    info: TapInfo,
    infoRevision: number,
    aborted: string | undefined,
  ): Promise<TapCreateOutcome> {
    const { flowId } = request;
    const slots = [info.mirror_in, info.mirror_out]
      .filter((id): id is number => id !== null)
      .map((id) => ({ key: keys.mirror(host, id) }));
    const plan = planTapRollback(host, flowId, infoRevision, slots);
    const result = await this.store.transaction(plan.conditions, plan.operations);
    if (!result.succeeded) {
      const fresh = await readHost(this.store, host);
      if (isUp(fresh.host.taps.get(flowId)?.status)) {
        return { active: true, host, mirror_in: info.mirror_in, mirror_out: info.mirror_out };
      }
      return {
        active: false,
        reason: 'error',
        detail: `tap flow ${flowId}: no up from the agent on host ${host}, and its keys changed meanwhile; left as they are`,
      };
    }
    const now = Date.now();
    for (const [key, entry] of this.rolledBack) if (entry.until < now) this.rolledBack.delete(key);
    this.rolledBack.set(tapKeyNames(host, flowId).status, {
      host,
      flowId,
      info,
      slots: slots.map((slot) => slot.key),
      revision: result.revision,
      until: now + LATE_UP_MEMORY_MS,
    });
    this.logger.warn(
      { host, tap_flow_id: flowId },
      'tap flow rolled back: no up from the agent in time',
    );
    return {
      active: false,
      reason: aborted !== undefined ? 'error' : 'timeout',
      detail:
        aborted ??
        `the SPP agent on host ${host} did not wire tap flow ${flowId} within ${this.options.tapTimeoutMs / 1000} s; the request was rolled back`,
    };
  }

  /** An `up` after the rollback: the tap may be wired; ask the agent to unplug it (slots taken back). */
  private async undoLateUp(entry: RolledBack, statusRevision: number): Promise<void> {
    const k = tapKeyNames(entry.host, entry.flowId);
    const untouched = [
      { key: k.info, absent: true } as const,
      { key: k.action, absent: true } as const,
      { key: k.status, modRevision: statusRevision },
    ];
    const log = { host: entry.host, tap_flow_id: entry.flowId };
    try {
      const reclaim = await this.store.transaction(
        [...untouched, ...entry.slots.map((key) => ({ key, equals: FREE }))],
        [
          ...entry.slots.map((key) => ({ put: key, value: entry.flowId })),
          { put: k.info, value: tapInfoValue(entry.info) },
          { put: k.action, value: 'unplug' },
        ],
      );
      if (reclaim.succeeded) {
        this.logger.warn(log, 'agent reported the tap up after its rollback; unplug requested');
        return;
      }
      const drop = await this.store.transaction(untouched, [{ delete: k.status }]);
      if (drop.succeeded) {
        this.logger.error(
          log,
          'agent reported the tap up after its rollback and its mirrors are in use again; removed the stray tap_status',
        );
      }
    } catch (error) {
      this.logger.error({ ...log, err: errorMessage(error) }, 'could not undo a late tap up');
    }
  }

  async delete(flowId: string): Promise<TapDeleteOutcome> {
    // The snapshot may not show a flow created a moment ago (by another instance): look in
    // etcd itself before answering not_found, so that no flow is left behind.
    let host = hostOfFlow(this.snapshot.hosts(), flowId);
    let state = host === undefined ? undefined : this.snapshot.host(host);
    if (host === undefined) {
      const fresh = (await readAllHosts(this.store)).hosts;
      host = hostOfFlow(fresh.values(), flowId);
      state = host === undefined ? undefined : fresh.get(host);
    }
    if (host === undefined || state === undefined)
      return { tap_flow_id: flowId, result: 'not_found' };
    const result = await this.deleteOn(host, flowId, state, false);
    this.logger.info({ host, tap_flow_id: flowId, result }, 'tap flow delete');
    return { tap_flow_id: flowId, host, result };
  }

  private async deleteOn(
    host: string,
    flowId: string,
    first: HostState,
    dryRun: boolean,
  ): Promise<DeleteResult> {
    let state = first;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const plan = planTapDelete(state, flowId);
      if (plan.kind === 'none' || dryRun) return plan.result;
      const result = await this.store.transaction(plan.conditions, plan.operations);
      if (result.succeeded) return plan.result;
      state = (await readHost(this.store, host)).host;
    }
    throw new Error(`tap flow ${flowId} on host ${host} kept changing during delete`);
  }

  /**
   * Full sync against Neutron's list of tap flows: flows (or mirror slots) etcd has for ids
   * Neutron does not know are deleted, unless changed within `sync_grace`; flows Neutron has
   * that no host carries are reported (the driver marks them ERROR).
   */
  async sync(flows: TapSyncFlow[], dryRun: boolean): Promise<TapSyncReport> {
    const known = new Set(flows.map((flow) => flow.id));
    const report: TapSyncReport = { removed: [], missing: [], recent: [], dry_run: dryRun };
    const seen = new Set<string>();
    for (const host of [...this.snapshot.hosts()]) {
      for (const [flowId, revision] of flowRevisions(host)) {
        seen.add(flowId);
        if (known.has(flowId)) continue;
        if (this.clock.ageOf(revision) < this.options.syncGraceMs) {
          report.recent.push(flowId);
          continue;
        }
        const result = await this.deleteOn(host.host, flowId, host, dryRun);
        report.removed.push({ tap_flow_id: flowId, host: host.host, result });
      }
    }
    for (const flow of flows) if (!seen.has(flow.id)) report.missing.push(flow.id);
    this.logger.info(
      { removed: report.removed.length, missing: report.missing.length, dry_run: dryRun },
      'tap flow sync',
    );
    return report;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return work;
  }
}
