import { keys } from '../../etcd/keys.js';
import type { EtcdStore, Read } from '../../etcd/store.js';
import type { HostSnapshot } from '../../snapshot/snapshot.js';
import { hostFromKvs } from '../../snapshot/read.js';
import type { BindContext, BindEffect, BindEvent, Step } from './machine.js';
import { initialState, step } from './machine.js';
import type { PortView } from './plan.js';
import { portKeyNames } from './plan.js';
import type { LateUps } from './late-up.js';
import { KeySubscription } from './subscription.js';
import type { BindOutcome } from './types.js';
import type { SlotReservations } from './reservations.js';

/** Per-request bookkeeping: etcd requests made (the figure the bench checks) and time waiting. */
export interface RequestCounter {
  requests: number;
  /** Milliseconds spent waiting for the agent (a bind's own time is the rest). */
  waitMs: number;
}

/** What running a bind needs; given by the service, nothing else is reached through it. */
export interface BindRunnerDeps {
  store: EtcdStore;
  snapshot: HostSnapshot;
  reservations: SlotReservations;
  lateUps: LateUps;
  /** Aborted on shutdown: waits end and their binds roll back. */
  shutdown: AbortSignal;
  countRequest(kind: 'read' | 'txn'): void;
  log(message: string, fields: Record<string, unknown>): void;
  /** Test hook: runs before a rollback transaction. */
  beforeRollback?: (host: string, portId: string) => Promise<void>;
}

/** The reads of one bind, in one etcd request: host config, agent, slots, the port's keys. */
function hostReads(host: string, portId: string): Read[] {
  const k = portKeyNames(host, portId);
  return [
    { get: keys.configuration(host) },
    { get: keys.agent(host) },
    { getPrefix: keys.hostPrefix('vhost', host) },
    { get: k.bindPort },
    { get: k.action },
    { get: k.status },
    { get: k.plugRequest },
  ];
}

function portReads(host: string, portId: string): Read[] {
  const k = portKeyNames(host, portId);
  return [{ get: k.bindPort }, { get: k.action }, { get: k.status }];
}

/**
 * Drives one bind's state machine: carries out its effects (reads, guarded transactions,
 * waits on the port's keys) and feeds it the results, until it has an answer.
 */
export class BindRunner {
  private readonly claims: string[] = [];

  constructor(
    private readonly context: BindContext,
    private readonly deps: BindRunnerDeps,
    private readonly counter: RequestCounter,
  ) {}

  async run(): Promise<BindOutcome> {
    const { host, portId } = this.context.request;
    const k = portKeyNames(host, portId);
    // Listen before looking: whatever happens to the port from now on is seen.
    const subscription = new KeySubscription(
      this.deps.snapshot.listeners,
      [k.bindPort, k.action, k.status],
      this.deps.shutdown,
    );
    try {
      let current: Step =
        this.deps.snapshot.status === 'synced'
          ? step(initialState, this.snapshotView(), this.context)
          : { state: initialState, effects: [{ type: 'read', what: 'host' }] };
      while (current.state.phase !== 'done') {
        const event = await this.execute(current.effects, subscription);
        current = step(current.state, event, this.context);
      }
      await this.execute(current.effects, subscription);
      return current.state.outcome;
    } finally {
      subscription.close();
      for (const claim of this.claims) this.deps.reservations.release(claim);
    }
  }

  private snapshotView(): BindEvent {
    const { snapshot } = this.deps;
    const view: PortView = {
      host: snapshot.host(this.context.request.host),
      portId: this.context.request.portId,
      revision: snapshot.revision,
    };
    return { type: 'view', view, fresh: false, now: Date.now() };
  }

  /** Runs the effects in order; the last of them (read, txn, wait) yields the next event. */
  private async execute(effects: BindEffect[], subscription: KeySubscription): Promise<BindEvent> {
    let event: BindEvent | undefined;
    for (const effect of effects) event = (await this.apply(effect, subscription)) ?? event;
    return event ?? { type: 'aborted', reason: 'internal: no event', now: Date.now() };
  }

  private async apply(
    effect: BindEffect,
    subscription: KeySubscription,
  ): Promise<BindEvent | undefined> {
    const { host, portId } = this.context.request;
    switch (effect.type) {
      case 'read':
        return this.read(effect.what);
      case 'txn':
        return this.transact(effect);
      case 'wait':
        return this.wait(effect, subscription);
      case 'reserve':
        this.deps.reservations.reserve(effect.slotKey);
        this.claims.push(effect.slotKey);
        return undefined;
      case 'release': {
        this.deps.reservations.release(effect.slotKey);
        const index = this.claims.indexOf(effect.slotKey);
        if (index >= 0) this.claims.splice(index, 1);
        return undefined;
      }
      case 'rolled-back':
        this.deps.lateUps.remember({
          host,
          portId,
          slotKey: effect.slotKey,
          bindPortValue: effect.bindPortValue,
          revision: effect.revision,
        });
        return undefined;
      case 'log':
        this.deps.log(effect.message, { host, port_id: portId });
        return undefined;
    }
  }

  private reads(what: 'host' | 'port'): Read[] {
    const { host, portId } = this.context.request;
    return what === 'host' ? hostReads(host, portId) : portReads(host, portId);
  }

  private view(revision: number, kvs: Parameters<typeof hostFromKvs>[1]): PortView {
    const { host, portId } = this.context.request;
    return { host: hostFromKvs(host, kvs), portId, revision };
  }

  private async read(what: 'host' | 'port'): Promise<BindEvent> {
    this.counter.requests++;
    this.deps.countRequest('read');
    const snapshot = await this.deps.store.read(this.reads(what));
    return {
      type: 'view',
      view: this.view(snapshot.revision, snapshot.kvs),
      fresh: true,
      now: Date.now(),
    };
  }

  private async transact(effect: Extract<BindEffect, { type: 'txn' }>): Promise<BindEvent> {
    if (effect.purpose === 'rollback') {
      await this.deps.beforeRollback?.(this.context.request.host, this.context.request.portId);
    }
    this.counter.requests++;
    this.deps.countRequest('txn');
    const result = await this.deps.store.transaction(
      effect.conditions,
      effect.success,
      this.reads(effect.failureReads),
    );
    return {
      type: 'txn',
      succeeded: result.succeeded,
      revision: result.revision,
      view: this.view(result.revision, result.succeeded ? [] : result.kvs),
      now: Date.now(),
    };
  }

  private async wait(
    effect: Extract<BindEffect, { type: 'wait' }>,
    subscription: KeySubscription,
  ): Promise<BindEvent> {
    const started = performance.now();
    const result = await subscription.next(
      Math.min(effect.until, this.context.deadline),
      effect.floor,
    );
    this.counter.waitMs += performance.now() - started;
    const now = Date.now();
    switch (result.type) {
      case 'put':
      case 'delete':
        return { type: 'key', key: result.key, change: result.type, raw: result.raw, now };
      case 'resync':
      case 'timeout':
        return { type: result.type, now };
      case 'aborted':
        return { type: 'aborted', reason: result.reason, now };
    }
  }
}
