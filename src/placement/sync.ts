import type { Logger } from 'pino';
import { Backoff, sleep } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import type { PlacementApi } from './client.js';
import { NotLeaderError, executePlan } from './executor.js';
import type { CapacitySource, DesiredState } from './inventory.js';
import { desiredState, vhostInventory } from './inventory.js';
import type { Leadership } from './leader.js';
import type { PlacementSyncMetrics } from './metrics.js';
import { noPlacementMetrics } from './metrics.js';
import { VHOST_RESOURCE_CLASS, parseProviderName } from './names.js';
import type { PlacementOp, PlacementView, SyncPlan } from './plan.js';
import { planSync } from './plan.js';
import { PlacementReader } from './reader.js';

export interface PlacementSyncSettings {
  /** A full comparison at least this often, also without etcd changes (ms). */
  syncIntervalMs: number;
  /** Cap of the backoff after a failed sync (ms). */
  retryMaxMs: number;
  /** Deadline of one Placement request (ms): a write starts only if leadership outlives it. */
  writeTimeoutMs: number;
  /** Pause after a sync, so that a burst of slot changes costs one sync (ms, default 200). */
  settleMs?: number;
  /** The compute-node provider's name of an SPP host (Nova's hypervisor name). */
  computeNodeOf: (host: string) => string;
}

export interface PlacementSyncDeps {
  source: CapacitySource;
  api: PlacementApi;
  leadership: Leadership;
  logger: Logger;
  metrics?: PlacementSyncMetrics;
  /** This instance's name in the admin view (the election id). */
  instance: string;
}

/** The admin view of the sync (JSON), for `GET /v1/placement` or /healthz. */
export interface PlacementStatus {
  instance: string;
  leader: boolean;
  state: 'follower' | 'waiting_for_hosts' | 'in_sync' | 'failing';
  last_sync?: { at: string; ok: boolean; writes: number; error?: string };
  providers: Array<{
    host: string;
    physnet: string;
    provider: string;
    uuid: string;
    slots: number;
    used: number;
    allocated: number;
    reserved: number;
  }>;
  waiting_hosts: Array<{ host: string; compute_node: string }>;
  pinned: Array<{ provider: string; uuid: string; allocated: number }>;
}

/** Wakes the loop on etcd changes and leadership changes; a wake before wait() is kept. */
class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    this.resolve?.();
  }

  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.pending) {
      const woken = new Promise<void>((resolve) => (this.resolve = resolve));
      const timer = new AbortController();
      await Promise.race([woken, sleep(ms, AbortSignal.any([signal, timer.signal]))]);
      timer.abort();
      this.resolve = undefined;
    }
    this.pending = false;
  }
}

/**
 * Keeps Placement's SPP inventory equal to the hosts' layouts and slot use, while (and only
 * while) this instance leads: on every change of the hosts, every `syncIntervalMs`, and with
 * bounded backoff after a failure. It runs beside the binds and never in their way: it only
 * reads the hosts, and a Placement outage only delays the inventory.
 */
export class PlacementSync {
  private readonly reader: PlacementReader;
  private readonly metrics: PlacementSyncMetrics;
  private readonly wakeup = new Wakeup();
  private dirty = true;
  private last: PlacementStatus['last_sync'];
  private lastError: string | undefined;
  private snapshot: { desired: DesiredState; view: PlacementView; plan: SyncPlan } | undefined;
  private readonly reported = { waiting: new Set<string>(), pinned: new Set<string>() };
  private writeCount = 0;

  constructor(
    private readonly deps: PlacementSyncDeps,
    private readonly settings: PlacementSyncSettings,
  ) {
    this.reader = new PlacementReader(deps.api);
    this.metrics = deps.metrics ?? noPlacementMetrics;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { source, leadership } = this.deps;
    const unsubscribe = [
      source.onChange(() => {
        this.dirty = true;
        this.wakeup.notify();
      }),
      leadership.onChange((leader) => {
        this.metrics.leader(leader);
        // A new term starts from what Placement has now, not from an old cache.
        if (leader) this.reader.forget();
        this.dirty = true;
        this.wakeup.notify();
      }),
    ];
    const backoff = new Backoff(500, this.settings.retryMaxMs);
    let nextFull = 0;
    try {
      while (!signal.aborted) {
        if (!leadership.isLeader || source.current() === undefined) {
          await this.wakeup.wait(this.settings.syncIntervalMs, signal);
          continue;
        }
        const now = Date.now();
        if (!this.dirty && now < nextFull) {
          await this.wakeup.wait(nextFull - now, signal);
          continue;
        }
        this.dirty = false;
        if (await this.attempt()) {
          backoff.reset();
          nextFull = Date.now() + this.settings.syncIntervalMs;
          await sleep(this.settings.settleMs ?? 200, signal);
        } else {
          this.dirty = true;
          await sleep(backoff.next(), signal);
        }
      }
    } finally {
      for (const each of unsubscribe) each();
    }
  }

  /** One comparison and the writes it calls for; throws when any step fails. */
  async syncOnce(): Promise<SyncPlan> {
    const hosts = this.deps.source.current();
    if (hosts === undefined) throw new Error('the hosts have not been read yet');
    if (!(await this.deps.leadership.confirm())) throw new NotLeaderError('not the leader');
    const view = await this.reader.read();
    const desired = desiredState(hosts, this.settings.computeNodeOf);
    const plan = planSync(desired, view);
    this.snapshot = { desired, view, plan };
    this.report(plan);
    await executePlan(
      {
        api: this.deps.api,
        reader: this.reader,
        fence: this.deps.leadership,
        writeTimeoutMs: this.settings.writeTimeoutMs,
        onWrite: (op) => this.written(op),
      },
      plan.ops,
      view,
    );
    const placed = desired.providers.length - countWaiting(desired, plan);
    this.metrics.providers(placed, plan.waiting.length, plan.pinned.length);
    return plan;
  }

  status(): PlacementStatus {
    const leader = this.deps.leadership.isLeader;
    const snapshot = this.snapshot;
    const state: PlacementStatus['state'] = !leader
      ? 'follower'
      : this.deps.source.current() === undefined
        ? 'waiting_for_hosts'
        : this.last?.ok === false
          ? 'failing'
          : 'in_sync';
    const status: PlacementStatus = {
      instance: this.deps.instance,
      leader,
      state,
      providers: [],
      waiting_hosts: [],
      pinned: [],
    };
    if (this.last) status.last_sync = { ...this.last };
    if (!leader || !snapshot) return status;
    const allocatedByName = new Map(snapshot.view.ours.map((each) => [each.name, each.allocated]));
    for (const provider of snapshot.desired.providers) {
      if (!snapshot.view.others.has(provider.computeNode)) continue;
      const allocated = allocatedByName.get(provider.name) ?? 0;
      status.providers.push({
        host: provider.host,
        physnet: provider.physnet,
        provider: provider.name,
        uuid: provider.uuid,
        slots: provider.slots,
        used: provider.used,
        allocated,
        reserved: vhostInventory(provider.slots, provider.used, allocated).reserved,
      });
    }
    status.waiting_hosts = snapshot.plan.waiting.map((each) => ({
      host: each.host,
      compute_node: each.computeNode,
    }));
    status.pinned = snapshot.plan.pinned.map((each) => ({
      provider: each.name,
      uuid: each.uuid,
      allocated: each.allocated,
    }));
    return status;
  }

  private async attempt(): Promise<boolean> {
    const at = new Date();
    const before = this.writeCount;
    const counting = () => this.writeCount - before;
    try {
      await this.syncOnce();
      this.last = { at: at.toISOString(), ok: true, writes: counting() };
      this.metrics.sync('ok', at.getTime() / 1000);
      if (this.lastError !== undefined) {
        this.deps.logger.info({}, 'Placement inventory in sync again');
        this.lastError = undefined;
      }
      return true;
    } catch (error) {
      if (error instanceof NotLeaderError) return true;
      const message = errorMessage(error);
      this.last = { at: at.toISOString(), ok: false, writes: counting(), error: message };
      this.metrics.sync('error', at.getTime() / 1000);
      // One line per run of failures (its first error); later ones differ only by which
      // request happened to be in flight. The status shows the latest.
      if (this.lastError === undefined) {
        this.deps.logger.warn(
          { err: message },
          'Placement inventory sync failed; retrying with backoff',
        );
        this.lastError = message;
      }
      return false;
    }
  }

  private written(op: PlacementOp): void {
    this.writeCount++;
    this.metrics.write(op.op);
    const fields: Record<string, unknown> = { operation: op.op };
    if ('uuid' in op) {
      const parsed = parseProviderName(op.name);
      fields.provider = op.name;
      fields.uuid = op.uuid;
      if (parsed) fields.physnet = parsed.physnet;
      const host = this.snapshot?.desired.providers.find((each) => each.name === op.name)?.host;
      if (host) fields.host = host;
    } else fields.name = op.name;
    if (op.op === 'set_inventories') {
      const inventory = op.inventories[VHOST_RESOURCE_CLASS];
      if (inventory)
        Object.assign(fields, { total: inventory.total, reserved: inventory.reserved });
    }
    if (op.op === 'set_traits') fields.traits = op.traits;
    this.deps.logger.info(fields, 'Placement updated');
  }

  /** Logs hosts that wait for their compute node and pinned providers, once each. */
  private report(plan: SyncPlan): void {
    const waiting = new Set(plan.waiting.map((each) => each.host));
    for (const each of plan.waiting) {
      if (this.reported.waiting.has(each.host)) continue;
      this.deps.logger.warn(
        { host: each.host, compute_node: each.computeNode },
        'no compute-node resource provider of this name in Placement; no SPP inventory for the host until Nova registers it',
      );
    }
    this.reported.waiting = waiting;
    const pinned = new Set(plan.pinned.map((each) => each.uuid));
    for (const each of plan.pinned) {
      if (this.reported.pinned.has(each.uuid)) continue;
      this.deps.logger.warn(
        { provider: each.name, uuid: each.uuid, allocated: each.allocated },
        'provider of a removed host or physnet still has allocations: kept with all slots reserved',
      );
    }
    this.reported.pinned = pinned;
  }
}

function countWaiting(desired: DesiredState, plan: SyncPlan): number {
  const waiting = new Set(plan.waiting.map((each) => each.host));
  return desired.providers.filter((each) => waiting.has(each.host)).length;
}
