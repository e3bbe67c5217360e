import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { Condition, EtcdStore, KeyValue, Operation, Read, TxnResult } from '../etcd/store.js';
import { FREE, decodeHostConfig } from '../etcd/values.js';
import { errorMessage } from '../util/errors.js';
import type { BinderMetrics } from './metrics.js';
import { noMetrics } from './metrics.js';
import type { Plan, PortView, Segment, SlotView, Wanted } from './plan.js';
import { planBind, portReads, portView, selectSegment, unchanged } from './plan.js';
import type { HubEvent } from './watch-hub.js';
import { WatchHub } from './watch-hub.js';

export type BindReason =
  'not_spp_host' | 'no_segment' | 'agent_down' | 'no_free_vhost' | 'timeout' | 'error';

export interface VifDetails {
  port_filter: false;
  vhostuser_mode: 'server';
  vhostuser_socket: string;
}

export type BindOutcome =
  | {
      bound: true;
      segment_id: string;
      vif_type: 'vhostuser';
      vif_details: VifDetails;
      vhost_id: number;
    }
  | { bound: false; reason: BindReason; detail: string };

export interface BindRequest {
  portId: string;
  macAddress: string;
  host: string;
  segments: Segment[];
  /** Neutron's view of the host's SPP agents, when the caller has it. */
  agents?: Array<{ alive: boolean }>;
}

export type UnbindResult = 'unplug_requested' | 'already_pending' | 'cleaned' | 'not_found';

export interface UnbindOutcome {
  port_id: string;
  host: string;
  result: UnbindResult;
  detail: string;
}

const UNBIND_DETAILS: Record<UnbindResult, (host: string, portId: string) => string> = {
  unplug_requested: (host, portId) =>
    `the SPP agent on host ${host} will unplug port ${portId} and free its slot`,
  already_pending: (_host, portId) => `an unplug of port ${portId} is already requested`,
  cleaned: (host, portId) =>
    `port ${portId} had keys but no bind_port on host ${host}; they were removed and its slot freed`,
  not_found: (host, portId) => `port ${portId} has nothing on host ${host}`,
};

export interface BinderOptions {
  bindTimeoutMs: number;
  syncGraceMs: number;
  requireEtcdAgent: boolean;
  /** Test hook: runs after a bind's wait ended without `up`, before its rollback. */
  beforeRollback?: (host: string, portId: string) => Promise<void>;
}

/** Per-request bookkeeping: etcd requests made (the figure the bench checks). */
export interface RequestCounter {
  requests: number;
  /** Milliseconds spent waiting for the agent (a bind's own time is the rest). */
  waitMs?: number;
}

/** How long a rolled-back bind is remembered, to undo an agent's late `up`. */
const LATE_UP_MEMORY_MS = 10 * 60_000;
/** How long a bind waits for an `unplug` request without bind_port to go before replacing it. */
const ORPHAN_UNPLUG_WAIT_MS = 2000;
/** Attempts of one bind against concurrent changes before it gives up. */
const MAX_ATTEMPTS = 64;

/** A plug request as the bind made (or found) it: what the wait and the rollback check. */
interface WaitTarget {
  host: string;
  portId: string;
  segmentId: string;
  vhostId: number;
  slotKey: string;
  bindPortRevision: number;
  bindPortValue: string;
  /** port_status as it was when the wait started (normally absent). */
  status: KeyValue | undefined;
}

interface RolledBack {
  host: string;
  portId: string;
  slotKey: string;
  bindPortValue: string;
  revision: number;
  until: number;
}

export function vifDetails(vhostId: number): VifDetails {
  return {
    port_filter: false,
    vhostuser_mode: 'server',
    vhostuser_socket: `/tmp/sock${vhostId}`,
  };
}

/** The keys of one port on one host. */
export function portKeys(host: string, portId: string) {
  return {
    bindPort: keys.bindPort(host, portId),
    action: keys.action(host, portId),
    status: keys.portStatus(host, portId),
  };
}

/** Events on some keys, in order, consumed by one waiting operation. */
class Subscription {
  /** Events at or below this revision are already reflected in what the owner read. */
  floor = 0;
  private readonly queue: HubEvent[] = [];
  private wake: (() => void) | undefined;
  private aborted: string | undefined;
  private readonly off: () => void;

  constructor(
    hub: WatchHub,
    keyList: string[],
    private readonly registry: Set<Subscription>,
  ) {
    this.off = hub.listen(keyList, (event) => {
      this.queue.push(event);
      this.wake?.();
    });
    registry.add(this);
  }

  abort(reason: string): void {
    this.aborted ??= reason;
    this.wake?.();
  }

  get abortReason(): string | undefined {
    return this.aborted;
  }

  /** The next event above `floor`, or why there is none before `deadline`. */
  async next(deadline: number): Promise<HubEvent | { type: 'timeout' } | { type: 'aborted' }> {
    for (;;) {
      if (this.aborted !== undefined) return { type: 'aborted' };
      const event = this.queue.shift();
      if (event) {
        if (event.type === 'resync' || event.modRevision > this.floor) return event;
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { type: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    this.off();
    this.registry.delete(this);
  }
}

/**
 * The binding decisions of the ML2 driver (SYSTEM.md §4), made against etcd: bind, unbind,
 * full sync. Stateless apart from caches: any number of binders may share one etcd.
 *
 * A bind usually costs one etcd request: it plans from the process-wide watch's mirror of
 * etcd and sends one transaction that claims the slot and writes bind_port and the plug
 * request, guarded by what the mirror showed (a stale mirror makes the guard fail, and the
 * same transaction returns the fresh state to plan again). The agent's `up` arrives on the
 * same watch. Answers other than a write are confirmed by a fresh read; a rollback is one
 * more transaction.
 */
export class Binder {
  readonly hub: WatchHub;
  private readonly configs = new Map<
    string,
    { modRevision: number; physnets: Set<string> } | { modRevision: number; error: string }
  >();
  /** Slot keys this process is claiming or has just claimed (count of claimers). */
  private readonly reserved = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<BindOutcome>>();
  /** (host, port) pairs with a bind running in this process, for sync to leave alone. */
  private readonly binding = new Map<string, number>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly rolledBack = new Map<string, RolledBack>();
  private untap: (() => void) | undefined;

  constructor(
    readonly store: EtcdStore,
    readonly logger: Logger,
    readonly options: BinderOptions,
    readonly metrics: BinderMetrics = noMetrics,
    hub?: WatchHub,
  ) {
    this.hub = hub ?? new WatchHub(store, logger);
  }

  async start(): Promise<void> {
    await this.hub.start();
    this.untap = this.hub.tap((event) => {
      if (event.type !== 'put' || event.value !== 'up') return;
      const entry = this.rolledBack.get(event.key);
      if (!entry || event.modRevision <= entry.revision) return;
      this.rolledBack.delete(event.key);
      void this.undoLateUp(entry, event.modRevision);
    });
  }

  /** Ends every wait at once (their binds roll back and answer `error`). */
  abortWaits(reason: string): void {
    for (const subscription of this.subscriptions) subscription.abort(reason);
  }

  async stop(): Promise<void> {
    this.abortWaits('the binding service is stopping');
    this.untap?.();
    await this.hub.stop();
  }

  isBinding(host: string, portId: string): boolean {
    return this.binding.has(`${host}\u0000${portId}`);
  }

  // ---- etcd access, counted ----

  async read(counter: RequestCounter, reads: Read[]) {
    counter.requests++;
    this.metrics.etcdRequest('read');
    return this.store.read(reads);
  }

  async txn(
    counter: RequestCounter,
    conditions: Condition[],
    success: Operation[],
    failure: Operation[] = [],
  ): Promise<TxnResult> {
    counter.requests++;
    this.metrics.etcdRequest('txn');
    return this.store.transaction(conditions, success, failure);
  }

  // ---- slot reservations inside this process ----

  reserve(slotKey: string): void {
    this.reserved.set(slotKey, (this.reserved.get(slotKey) ?? 0) + 1);
  }

  release(slotKey: string): void {
    const count = (this.reserved.get(slotKey) ?? 1) - 1;
    if (count <= 0) this.reserved.delete(slotKey);
    else this.reserved.set(slotKey, count);
  }

  get reservedSlots(): { has(key: string): boolean } {
    return this.reserved;
  }

  /** The host's SPP physical networks, parsed once per configuration revision. */
  physnetsOf(host: string, config: KeyValue): Set<string> | { error: string } {
    const cached = this.configs.get(host);
    if (cached && cached.modRevision === config.modRevision) {
      return 'error' in cached ? { error: cached.error } : cached.physnets;
    }
    try {
      const parsed = decodeHostConfig(config.value, config.key);
      const physnets = new Set(parsed.vf.map((vf) => vf.physical_network));
      this.configs.set(host, { modRevision: config.modRevision, physnets });
      return physnets;
    } catch (error) {
      const message = errorMessage(error);
      this.configs.set(host, { modRevision: config.modRevision, error: message });
      return { error: message };
    }
  }

  // ---- bind ----

  /** Binds a port (idempotent per host and port); never throws. */
  async bind(request: BindRequest): Promise<BindOutcome> {
    // The same bind already running here (a retry from Neutron): share its answer.
    const sameKey = JSON.stringify([
      request.host,
      request.portId,
      request.macAddress.toLowerCase(),
      request.segments,
      request.agents?.map((agent) => agent.alive),
    ]);
    const running = this.inflight.get(sameKey);
    if (running) return running;
    const promise = this.measuredBind(request).finally(() => this.inflight.delete(sameKey));
    this.inflight.set(sameKey, promise);
    return promise;
  }

  private async measuredBind(request: BindRequest): Promise<BindOutcome> {
    const started = performance.now();
    const counter: RequestCounter = { requests: 0 };
    const pair = `${request.host}\u0000${request.portId}`;
    this.binding.set(pair, (this.binding.get(pair) ?? 0) + 1);
    this.metrics.inflight(1);
    let outcome: BindOutcome;
    try {
      outcome = await this.runBind(request, counter, Date.now() + this.options.bindTimeoutMs);
    } catch (error) {
      outcome = { bound: false, reason: 'error', detail: `etcd: ${errorMessage(error)}` };
    } finally {
      const left = (this.binding.get(pair) ?? 1) - 1;
      if (left <= 0) this.binding.delete(pair);
      else this.binding.set(pair, left);
      this.metrics.inflight(-1);
    }
    const seconds = (performance.now() - started) / 1000;
    const result = outcome.bound ? 'bound' : outcome.reason;
    this.metrics.bind(result, seconds);
    const line = {
      host: request.host,
      port_id: request.portId,
      vhost_id: outcome.bound ? outcome.vhost_id : null,
      result,
      duration_ms: Math.round(seconds * 100_000) / 100,
      etcd_requests: counter.requests,
      agent_wait_ms: Math.round((counter.waitMs ?? 0) * 100) / 100,
      ...(outcome.bound ? {} : { detail: outcome.detail }),
    };
    if (outcome.bound || outcome.reason !== 'error') this.logger.info(line, 'bind');
    else this.logger.error(line, 'bind');
    return outcome;
  }

  /** Checks and plan for one view: a refusal, or the plan with the chosen segment. */
  private decide(
    request: BindRequest,
    view: PortView,
    randomSlot: boolean,
    unplugLeftover: boolean,
  ): { refusal: BindOutcome } | { plan: Plan; segmentId: string } {
    const { host } = request;
    if (!view.config) {
      return { refusal: refuse('not_spp_host', `host ${host} has no SPP configuration in etcd`) };
    }
    const physnets = this.physnetsOf(host, view.config);
    if (!(physnets instanceof Set)) return { refusal: refuse('error', physnets.error) };
    const selected = selectSegment(request.segments, physnets);
    if (!selected) {
      return {
        refusal: refuse(
          'no_segment',
          `no flat or vlan segment on a physical network SPP serves on host ${host} (${[...physnets].sort().join(', ')})`,
        ),
      };
    }
    const down = this.agentDown(request, view);
    if (down) return { refusal: refuse('agent_down', down) };
    const wanted: Wanted = {
      macAddress: request.macAddress.toLowerCase(),
      physnet: selected.physnet,
      ...(selected.vlanId !== undefined ? { vlanId: selected.vlanId } : {}),
    };
    const pick = randomSlot
      ? (free: SlotView[]) => free[Math.floor(Math.random() * free.length)] as SlotView
      : undefined;
    const plan = planBind(view, wanted, this.reservedSlots, pick, { unplugLeftover });
    if (plan.kind === 'no-free-slot') return { refusal: refuse('no_free_vhost', plan.detail) };
    return { plan, segmentId: selected.segment.id };
  }

  private async runBind(
    request: BindRequest,
    counter: RequestCounter,
    deadline: number,
  ): Promise<BindOutcome> {
    const { host, portId } = request;
    const k = portKeys(host, portId);
    // Listen before looking: whatever happens to the port from now on is seen.
    const subscription = new Subscription(
      this.hub,
      [k.bindPort, k.action, k.status],
      this.subscriptions,
    );
    const claims: string[] = [];
    try {
      const reads = portReads(host, portId);
      const readFresh = async () => {
        const snapshot = await this.read(counter, reads);
        return portView(host, portId, snapshot.revision, snapshot.kvs);
      };
      // Plan from the watch's mirror when it is loaded (no read); only a write is made
      // from it, guarded by what it showed. Any other answer is confirmed by a fresh read.
      let fresh = !this.hub.ready;
      let view = fresh ? await readFresh() : this.hub.mirror.portView(host, portId);
      let conflicts = 0;
      let unplugLeftover = false;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const decision = this.decide(request, view, conflicts > 0, unplugLeftover);
        if (!fresh && ('refusal' in decision || decision.plan.kind !== 'write')) {
          view = await readFresh();
          fresh = true;
          continue;
        }
        if ('refusal' in decision) return decision.refusal;
        const { plan, segmentId } = decision;
        switch (plan.kind) {
          case 'bound':
            return bound(segmentId, plan.vhostId);
          case 'no-free-slot':
            return refuse('no_free_vhost', plan.detail);
          case 'wait':
            subscription.floor = view.revision;
            return await this.awaitUp(counter, subscription, deadline, {
              host,
              portId,
              segmentId,
              vhostId: plan.vhostId,
              slotKey: plan.slotKey,
              bindPortRevision: plan.bindPortRevision,
              bindPortValue: view.bindPort?.value ?? '',
              status: view.status,
            });
          case 'write': {
            if (plan.claim) {
              this.reserve(plan.claim);
              claims.push(plan.claim);
            }
            const guards: Condition[] = [
              ...plan.conditions,
              // The host must still be the one planned for (layout unchanged, agent alive).
              unchanged(keys.configuration(host), view.config),
              ...(this.options.requireEtcdAgent
                ? [{ key: keys.agent(host), present: true } as const]
                : []),
            ];
            const result = await this.txn(counter, guards, plan.operations, reads);
            if (result.succeeded) {
              subscription.floor = result.revision;
              const wroteBindPort = plan.operations.find(
                (op): op is { put: string; value: string } => 'put' in op && op.put === k.bindPort,
              );
              return await this.awaitUp(counter, subscription, deadline, {
                host,
                portId,
                segmentId,
                vhostId: plan.vhostId,
                slotKey: plan.slotKey,
                bindPortRevision: wroteBindPort
                  ? result.revision
                  : (view.bindPort?.modRevision ?? result.revision),
                bindPortValue: wroteBindPort ? wroteBindPort.value : (view.bindPort?.value ?? ''),
                status: undefined,
              });
            }
            if (plan.claim) {
              this.release(plan.claim);
              claims.pop();
            }
            conflicts++;
            view = portView(host, portId, result.revision, result.kvs);
            fresh = true;
            continue;
          }
          case 'request-unplug': {
            const result = await this.txn(counter, plan.conditions, plan.operations, reads);
            if (!result.succeeded) {
              view = portView(host, portId, result.revision, result.kvs);
              continue;
            }
            this.logger.info(
              { host, port_id: portId },
              'port is plugged with other details; unplugging it before binding again',
            );
            subscription.floor = result.revision;
            break;
          }
          case 'await-unplug':
            subscription.floor = view.revision;
            break;
        }
        // Wait for the agent to finish an unplug of this port (any change of its keys).
        const orphan = plan.kind === 'await-unplug' && plan.orphan;
        const until = orphan ? Math.min(deadline, Date.now() + ORPHAN_UNPLUG_WAIT_MS) : deadline;
        const event = await subscription.next(until);
        if (event.type === 'timeout' && until < deadline) {
          // Nobody is finishing that unplug: it is a leftover, replaced by this bind.
          unplugLeftover = true;
          view = await readFresh();
          continue;
        }
        if (event.type === 'timeout') {
          return refuse(
            'timeout',
            `the SPP agent on host ${host} did not finish unplugging an earlier binding of port ${portId} in time`,
          );
        }
        if (event.type === 'aborted') return refuse('error', 'the binding service is stopping');
        view = await readFresh();
      }
      return refuse('error', `port ${portId} on host ${host} kept changing; gave up`);
    } finally {
      subscription.close();
      for (const claim of claims) this.release(claim);
    }
  }

  /** Why the host's agent counts as down, or undefined when it is alive. */
  private agentDown(request: BindRequest, view: PortView): string | undefined {
    const agentKey = keys.agent(request.host);
    if (this.options.requireEtcdAgent && !view.agent) {
      return `no SPP agent is alive on host ${request.host}: its liveness key ${agentKey} is absent (agent stopped or its lease expired)`;
    }
    if (request.agents && !request.agents.some((agent) => agent.alive)) {
      return request.agents.length === 0
        ? `Neutron knows no SPP agent on host ${request.host}`
        : `Neutron reports the SPP agent on host ${request.host} as down`;
    }
    return undefined;
  }

  private async awaitUp(
    counter: RequestCounter,
    subscription: Subscription,
    deadline: number,
    target: WaitTarget,
  ): Promise<BindOutcome> {
    const k = portKeys(target.host, target.portId);
    const waitStarted = performance.now();
    let outcome: BindOutcome | undefined;
    try {
      outcome = await this.waitForUp(counter, subscription, deadline, target, k);
    } finally {
      counter.waitMs = (counter.waitMs ?? 0) + performance.now() - waitStarted;
    }
    return outcome ?? this.rollback(counter, subscription.floor, target, subscription.abortReason);
  }

  /** The answer once the agent reported, or undefined when it did not in time. */
  private async waitForUp(
    counter: RequestCounter,
    subscription: Subscription,
    deadline: number,
    target: WaitTarget,
    k: ReturnType<typeof portKeys>,
  ): Promise<BindOutcome | undefined> {
    for (;;) {
      const event = await subscription.next(deadline);
      if (event.type === 'timeout' || event.type === 'aborted') return undefined;
      if (event.type === 'resync') {
        // Events may have been lost: look at the keys themselves.
        const snapshot = await this.read(counter, [
          { get: k.bindPort },
          { get: k.action },
          { get: k.status },
        ]);
        subscription.floor = snapshot.revision;
        const find = (key: string) => snapshot.kvs.find((kv) => kv.key === key);
        const bindPort = find(k.bindPort);
        const action = find(k.action);
        if (!bindPort || action?.value !== 'plug') return interrupted(target.host, target.portId);
        if (find(k.status)?.value === 'up') return bound(target.segmentId, target.vhostId);
        continue;
      }
      if (event.key === k.status && event.type === 'put' && event.value === 'up') {
        return bound(target.segmentId, target.vhostId);
      }
      if (
        (event.key === k.action && (event.type === 'delete' || event.value !== 'plug')) ||
        (event.key === k.bindPort && event.type === 'delete')
      ) {
        return interrupted(target.host, target.portId);
      }
    }
    return undefined;
  }

  /**
   * Undoes a bind that got no `up`: frees the slot and removes bind_port and action in one
   * transaction that holds only if no `up` arrived meanwhile. If one did, the bind succeeded.
   */
  private async rollback(
    counter: RequestCounter,
    floor: number,
    target: WaitTarget,
    /** Set when the wait was cut short (shutdown) rather than timed out. */
    aborted?: string,
  ): Promise<BindOutcome> {
    const { host, portId } = target;
    const k = portKeys(host, portId);
    await this.options.beforeRollback?.(host, portId);
    const result = await this.txn(
      counter,
      [
        { key: target.slotKey, equals: portId },
        { key: k.bindPort, modRevision: target.bindPortRevision },
        { key: k.action, equals: 'plug' },
        unchanged(k.status, target.status),
      ],
      [{ put: target.slotKey, value: FREE }, { delete: k.bindPort }, { delete: k.action }],
      [{ get: k.status }, { get: k.bindPort }],
    );
    const reason: BindReason = aborted ? 'error' : 'timeout';
    const timeoutDetail =
      aborted ??
      `the SPP agent on host ${host} did not report port ${portId} up within ${this.options.bindTimeoutMs / 1000} s`;
    if (result.succeeded) {
      this.rememberRollback(k.status, {
        host,
        portId,
        slotKey: target.slotKey,
        bindPortValue: target.bindPortValue,
        revision: result.revision,
        until: Date.now() + LATE_UP_MEMORY_MS,
      });
      return refuse(reason, `${timeoutDetail}; the slot was freed and the request withdrawn`);
    }
    const status = result.kvs.find((kv) => kv.key === k.status);
    const bindPort = result.kvs.find((kv) => kv.key === k.bindPort);
    if (
      status?.value === 'up' &&
      status.modRevision > floor &&
      bindPort?.modRevision === target.bindPortRevision
    ) {
      return bound(target.segmentId, target.vhostId);
    }
    return refuse(
      reason,
      `${timeoutDetail}; its keys were changed meanwhile by someone else and are left as they are`,
    );
  }

  private rememberRollback(statusKey: string, entry: RolledBack): void {
    const now = Date.now();
    for (const [key, old] of this.rolledBack) {
      if (old.until < now) this.rolledBack.delete(key);
    }
    this.rolledBack.set(statusKey, entry);
  }

  /**
   * An agent reported `up` after the bind was rolled back (the original agent writes it
   * unconditionally). Put the port back on its slot with an unplug request so the agent
   * removes it from SPP and cleans up; if the slot is taken by now, drop the stray status.
   */
  private async undoLateUp(entry: RolledBack, statusRevision: number): Promise<void> {
    const k = portKeys(entry.host, entry.portId);
    const counter: RequestCounter = { requests: 0 };
    const log = { host: entry.host, port_id: entry.portId, slot: entry.slotKey };
    try {
      const reclaim = await this.txn(
        counter,
        [
          { key: entry.slotKey, equals: FREE },
          { key: k.bindPort, absent: true },
          { key: k.action, absent: true },
          { key: k.status, modRevision: statusRevision },
        ],
        [
          { put: entry.slotKey, value: entry.portId },
          { put: k.bindPort, value: entry.bindPortValue },
          { put: k.action, value: 'unplug' },
        ],
      );
      if (reclaim.succeeded) {
        this.logger.warn(log, 'agent reported up after the bind was rolled back; unplug requested');
        return;
      }
      const drop = await this.txn(
        counter,
        [
          { key: k.bindPort, absent: true },
          { key: k.action, absent: true },
          { key: k.status, modRevision: statusRevision },
        ],
        [{ delete: k.status }],
      );
      if (drop.succeeded) {
        this.logger.error(
          log,
          'agent reported up after the bind was rolled back and the slot is in use again; removed the stray port_status, SPP may still carry the port',
        );
      }
    } catch (error) {
      this.logger.error({ ...log, err: errorMessage(error) }, 'could not undo a late up');
    }
  }

  // ---- unbind ----

  /** Requests the unplug of a port on a host (idempotent; unknown ports are fine). */
  async unbind(portId: string, host: string): Promise<UnbindOutcome> {
    const counter: RequestCounter = { requests: 0 };
    const k = portKeys(host, portId);
    const reads: Read[] = [
      { get: k.bindPort },
      { get: k.action },
      { get: k.status },
      { getPrefix: keys.hostPrefix('vhost', host) },
    ];
    const readFresh = async () => {
      const snapshot = await this.read(counter, reads);
      return portView(host, portId, snapshot.revision, snapshot.kvs);
    };
    // The common case (a bound port) is planned from the watch's mirror: one guarded
    // transaction. Every other case is decided on a fresh read, as a bind's refusals are.
    let view = this.hub.ready ? this.hub.mirror.portView(host, portId) : undefined;
    if (!view?.bindPort || view.action?.value === 'unplug') view = await readFresh();
    for (let attempt = 0; attempt < 10; attempt++) {
      const step = await this.unplugStep(counter, view, reads);
      if (typeof step === 'string') {
        this.metrics.unbind(step);
        this.logger.info(
          { host, port_id: portId, result: step, etcd_requests: counter.requests },
          'unbind',
        );
        return { port_id: portId, host, result: step, detail: UNBIND_DETAILS[step](host, portId) };
      }
      view = portView(host, portId, step.revision, step.kvs);
    }
    throw new Error(`port ${portId} on host ${host} kept changing during unbind`);
  }

  /**
   * One attempt to take a port off a host as `view` shows it: with a bind_port the agent
   * is asked to unplug (it frees the slot and removes the keys); without one nothing can
   * be in SPP, so leftovers are removed here. A changed key returns the failed transaction
   * (with `failureReads` re-read in it).
   */
  async unplugStep(
    counter: RequestCounter,
    view: PortView,
    failureReads: Read[],
    dryRun = false,
  ): Promise<UnbindResult | TxnResult> {
    const { host, portId } = view;
    const k = portKeys(host, portId);
    const held = view.slots.filter((slot) => slot.portId === portId);
    if (!view.bindPort && !view.action && !view.status && held.length === 0) return 'not_found';
    if (view.bindPort) {
      if (view.action?.value === 'unplug') return 'already_pending';
      if (dryRun) return 'unplug_requested';
      const result = await this.txn(
        counter,
        [unchanged(k.bindPort, view.bindPort), unchanged(k.action, view.action)],
        [{ put: k.action, value: 'unplug' }],
        failureReads,
      );
      return result.succeeded ? 'unplug_requested' : result;
    }
    if (dryRun) return 'cleaned';
    const result = await this.txn(
      counter,
      [
        unchanged(k.bindPort, undefined),
        unchanged(k.action, view.action),
        unchanged(k.status, view.status),
        ...held.map((slot): Condition => ({ key: slot.key, equals: portId })),
      ],
      [
        ...(view.action ? [{ delete: k.action }] : []),
        ...(view.status ? [{ delete: k.status }] : []),
        ...held.map((slot): Operation => ({ put: slot.key, value: FREE })),
      ],
      failureReads,
    );
    return result.succeeded ? 'cleaned' : result;
  }
}

function bound(segmentId: string, vhostId: number): BindOutcome {
  return {
    bound: true,
    segment_id: segmentId,
    vif_type: 'vhostuser',
    vif_details: vifDetails(vhostId),
    vhost_id: vhostId,
  };
}

function refuse(reason: BindReason, detail: string): BindOutcome {
  return { bound: false, reason, detail };
}

function interrupted(host: string, portId: string): BindOutcome {
  return refuse(
    'error',
    `port ${portId} was unbound from host ${host} (or its binding removed) while it was being bound`,
  );
}
