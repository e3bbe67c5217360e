import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { Condition, EtcdStore, Operation } from '../etcd/store.js';
import { FREE, bindPortSchema, decodeHostConfig } from '../etcd/values.js';
import type { ProcessKind, SppCtlClient } from '../spp/client.js';
import { SppCtlError } from '../spp/client.js';
import type { ProcessStatus } from '../spp/status.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import type { DesiredState, PlugIntent, UnplugIntent } from './desired.js';
import { deriveDesired } from './desired.js';
import type { Change } from './host-keys.js';
import { HostKeys } from './host-keys.js';
import type { AgentLayout, Dialect, VfPlan } from './layout-index.js';
import { indexLayout } from './layout-index.js';
import type { AgentMetrics } from './metrics.js';
import type { SppCall } from './plan.js';
import type { ActualVhost } from './plan.js';
import { actualAfter, planBuild, planMirrors, planVhost, readActualVhost } from './plan.js';

export interface ReconcilerOptions {
  dialect: Dialect | 'auto';
  reconcileIntervalMs: number;
  retryMaxMs: number;
}

/** How long a possibly transient problem may last before it is reported. */
const TRANSIENT_GRACE_MS = 2000;

type PassReason = 'start' | 'change' | 'timer' | 'retry';

/**
 * The agent's reconcile loop. Desired state comes from the host's etcd keys (HostKeys),
 * actual state from spp-ctl; each pass reads the status of the spp_vf processes that may
 * differ, sends the calls that close the gap, then reports plugs `up` and completes
 * unplugs in etcd. A single worker does all SPP work, so calls never interleave. Passes
 * run on etcd changes, on a timer (full comparison) and, after errors, with backoff.
 */
export class Reconciler {
  private layout: AgentLayout | undefined;
  private layoutRevision = -1;
  dialect: Dialect | undefined;
  private readonly dirty = new Set<number>();
  private dirtyAll = true;
  /** Requests that need etcd work only (no SPP process known), e.g. orphan unplugs. */
  private etcdWork = false;
  /** etcd changed since the last pass started: act now, even while backing off. */
  private changed = false;
  private started = false;
  /** A pass for a possibly transient problem is due then (0 = none). */
  private recheckAt = 0;
  private wake: (() => void) | undefined;
  private readonly backoff: Backoff;
  private retryAt = 0;
  private nextFullAt = 0;
  /** When the agent first saw each pending request (for latency figures). */
  private readonly seenAt = new Map<string, number>();
  /** Log-once memory: current problem per port / error per SPP process. */
  private readonly reportedProblems = new Map<string, string>();
  private readonly processErrors = new Map<string, string>();
  private readonly vhostProblems = new Map<number, string>();
  private layoutError: string | undefined;
  private pluggedCount = -1;
  /**
   * What each vhost looks like in SPP after our last successful calls, per spp_vf whose
   * status was read and has not failed since. Passes triggered by etcd changes plan from it
   * instead of re-reading the status; full passes (timer, start, retries) always re-read.
   */
  private readonly knownVhosts = new Map<number, Map<number, ActualVhost>>();
  /** A full pass has succeeded since start: SPP matched etcd at least once. */
  private reconciled = false;

  constructor(
    private readonly hostKeys: HostKeys,
    private readonly spp: SppCtlClient,
    private readonly store: EtcdStore,
    private readonly logger: Logger,
    private readonly metrics: AgentMetrics,
    private readonly options: ReconcilerOptions,
  ) {
    this.backoff = new Backoff(100, options.retryMaxMs);
    if (options.dialect !== 'auto') this.dialect = options.dialect;
  }

  get currentLayout(): AgentLayout | undefined {
    return this.layout;
  }

  /** etcd changed: revisit what the changes touch. */
  onChanges(changes: Change[]): void {
    const now = performance.now();
    for (const change of changes) {
      if (change.kind === 'configuration') this.dirtyAll = true;
      // Slot and status changes alone ask nothing of SPP; the periodic pass covers them.
      if (change.kind !== 'port' || change.family === 'port_status') continue;
      if (!this.hostKeys.actions.has(change.portId)) {
        this.seenAt.delete(change.portId);
        continue;
      }
      if (!this.seenAt.has(change.portId)) this.seenAt.set(change.portId, now);
      this.markPort(change.portId);
    }
    this.changed = true;
    this.wake?.();
  }

  /** HostKeys was re-read from scratch. */
  onReload(): void {
    this.dirtyAll = true;
    this.changed = true;
    this.wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const reason = await this.waitForWork(signal);
        if (reason === undefined) break;
        await this.pass(reason, signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private get pending(): boolean {
    return this.dirtyAll || this.etcdWork || this.dirty.size > 0;
  }

  /** Sleeps until there is something to do; says why, or undefined once `signal` aborts. */
  private async waitForWork(signal: AbortSignal): Promise<PassReason | undefined> {
    while (!signal.aborted) {
      const now = Date.now();
      if (this.pending && (this.changed || now >= this.retryAt)) {
        const reason = this.started ? (this.changed ? 'change' : 'retry') : 'start';
        this.started = true;
        return reason;
      }
      if (!this.pending && now >= this.nextFullAt) {
        this.dirtyAll = true;
        return 'timer';
      }
      const until = this.pending ? this.retryAt : this.nextFullAt;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - now));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return undefined;
  }

  private markPort(portId: string): void {
    const stored = this.hostKeys.bindPorts.get(portId);
    const parsed = stored ? bindPortSchema.safeParse(safeJson(stored.value)) : undefined;
    const place = parsed?.success ? this.layout?.vhosts.get(parsed.data.vhost_id) : undefined;
    if (place) this.dirty.add(place.vf.clientId);
    else this.etcdWork = true;
  }

  /** One reconcile pass over the dirty spp_vf processes (or all of them). */
  private async pass(reason: PassReason, signal: AbortSignal): Promise<void> {
    const passStarted = performance.now();
    const all = this.dirtyAll;
    const dirty = new Set(this.dirty);
    this.dirtyAll = false;
    this.etcdWork = false;
    this.changed = false;
    this.recheckAt = 0;
    this.dirty.clear();
    if (all) this.nextFullAt = Date.now() + this.options.reconcileIntervalMs;

    this.refreshLayout();
    const layout = this.layout;
    if (!layout) {
      await this.finishOrphanUnplugs();
      return;
    }
    const desired = deriveDesired(this.hostKeys, layout);
    this.reportProblems(desired);

    let failed = false;
    // Each vhost's etcd completion starts as soon as SPP is right for it, while the pass
    // goes on with the next vhosts; concurrent transactions share etcd's disk syncs.
    const completions: Array<Promise<boolean>> = [];
    const settle = (vhostId: number) => completions.push(...this.completeVhost(desired, vhostId));
    const vfs = layout.vfs.filter((vf) => all || dirty.has(vf.clientId));
    const full = all || reason !== 'change';
    // spp-ctl serves each process one request at a time, but different spp_vf processes
    // in parallel: each process's calls stay in order, processes proceed side by side.
    const outcomes = await Promise.all(
      vfs.map((vf) =>
        signal.aborted ? true : this.reconcileVf(vf, desired, reason, full, settle),
      ),
    );
    vfs.forEach((vf, index) => {
      if (outcomes[index]) return;
      failed = true;
      this.dirty.add(vf.clientId);
    });
    if (all && layout.mirror && !signal.aborted) {
      if (!(await this.reconcileMirror(layout.mirror.clientId, layout.mirror.mirrors)))
        failed = true;
    }
    completions.push(...this.completeOutsideLayout(desired, layout));
    if (!(await Promise.all(completions)).every(Boolean)) failed = true;
    this.publishPluggedCount(desired);

    if (failed) {
      if (all) this.dirtyAll = true;
      this.etcdWork = true;
      this.retryAt = Date.now() + this.backoff.next();
    } else {
      this.backoff.reset();
      this.retryAt = this.recheckAt;
      if (all && !this.reconciled && !signal.aborted) {
        this.reconciled = true;
        this.logger.info(
          {
            plugged: desired.plugs.length,
            duration_ms: Math.round((performance.now() - passStarted) * 10) / 10,
          },
          'host reconciled',
        );
      }
    }
  }

  private refreshLayout(): void {
    const stored = this.hostKeys.configuration;
    const revision = stored?.modRevision ?? 0;
    if (revision === this.layoutRevision) return;
    this.layoutRevision = revision;
    this.knownVhosts.clear();
    const key = keys.configuration(this.hostKeys.host);
    if (!stored) {
      this.layout = undefined;
      this.logger.warn({ key }, 'no layout for this host in etcd; waiting for `host build`');
      return;
    }
    try {
      this.layout = indexLayout(decodeHostConfig(stored.value, key));
      this.layoutError = undefined;
      for (const problem of this.layout.problems)
        this.logger.warn({ key, problem }, 'layout problem');
      this.logger.info(
        { key, vfs: this.layout.vfs.length, vhosts: this.layout.vhosts.size },
        'host layout loaded',
      );
    } catch (error) {
      this.layout = undefined;
      const message = errorMessage(error);
      if (message !== this.layoutError)
        this.logger.error({ key, err: message }, 'unusable host layout; SPP left as it is');
      this.layoutError = message;
    }
  }

  private reportProblems(desired: DesiredState): void {
    const current = new Map(desired.problems.map((p) => [p.portId, p]));
    const now = performance.now();
    for (const [portId, problem] of current) {
      if (this.reportedProblems.get(portId) === problem.reason) continue;
      if (problem.transient && now - (this.seenAt.get(portId) ?? now) < TRANSIENT_GRACE_MS) {
        this.etcdWork = true;
        this.recheckAt = Date.now() + TRANSIENT_GRACE_MS;
        continue;
      }
      this.reportedProblems.set(portId, problem.reason);
      this.logger.warn(
        { port_id: portId, vhost_id: problem.vhostId, problem: problem.reason },
        'request skipped; its keys are left in etcd',
      );
    }
    for (const portId of this.reportedProblems.keys()) {
      if (!current.has(portId)) this.reportedProblems.delete(portId);
    }
  }

  private async status(kind: ProcessKind, clientId: number): Promise<ProcessStatus> {
    const status = await this.spp.status(kind, clientId);
    if (!this.dialect) {
      this.dialect = detectDialect(status);
      this.logger.info({ dialect: this.dialect }, 'SPP dialect detected');
    }
    return status;
  }

  private async reconcileVf(
    vf: VfPlan,
    desired: DesiredState,
    reason: PassReason,
    full: boolean,
    settle: (vhostId: number) => void,
  ): Promise<boolean> {
    const processName = `vf:${vf.clientId}`;
    const cached = full ? undefined : this.knownVhosts.get(vf.clientId);
    this.knownVhosts.delete(vf.clientId);
    try {
      const actual = cached ?? (await this.readVf(vf, reason));
      let failed = false;
      for (const [vhostId, wiring] of vf.wirings) {
        const wish = desired.vhosts.get(vhostId) ?? { kind: 'keep' };
        const before = actual.get(vhostId);
        if (!before) throw new Error(`no known state for vhost ${vhostId}`);
        const plan = planVhost(wiring, before, wish);
        if ('blocked' in plan) {
          this.noteProblem(vhostId, plan.blocked);
          continue;
        }
        this.vhostProblems.delete(vhostId);
        try {
          await this.execute('vfs', vf.clientId, plan.calls);
          actual.set(vhostId, actualAfter(wish, before));
          settle(vhostId);
          if (plan.calls.length > 0 && reason === 'timer') {
            this.metrics.repair('vhost', 1);
          }
        } catch (error) {
          if (!(error instanceof SppCtlError) || error.status === undefined) throw error;
          failed = true;
          this.sppFailed(processName, error, vhostId);
        }
      }
      if (!failed) {
        this.sppRecovered(processName);
        this.knownVhosts.set(vf.clientId, actual);
      }
      return !failed;
    } catch (error) {
      this.sppFailed(processName, error);
      return false;
    }
  }

  /** Reads a spp_vf's status, builds its missing components, and returns its vhosts' state. */
  private async readVf(vf: VfPlan, reason: PassReason): Promise<Map<number, ActualVhost>> {
    const processName = `vf:${vf.clientId}`;
    let status = await this.status('vfs', vf.clientId);
    const build = planBuild(vf, status, this.dialect ?? '18.08');
    if (build.length > 0) {
      await this.execute('vfs', vf.clientId, build);
      if (reason !== 'start') this.metrics.repair('component', build.length);
      this.logger.info({ process: processName, calls: build.length }, 'components built');
      status = await this.status('vfs', vf.clientId);
    }
    const actual = new Map<number, ActualVhost>();
    for (const [vhostId, wiring] of vf.wirings)
      actual.set(vhostId, readActualVhost(status, wiring));
    return actual;
  }

  private async reconcileMirror(
    clientId: number,
    mirrors: NonNullable<AgentLayout['mirror']>['mirrors'],
  ): Promise<boolean> {
    const processName = `mirror:${clientId}`;
    try {
      const calls = planMirrors(mirrors, await this.status('mirrors', clientId));
      await this.execute('mirrors', clientId, calls);
      if (calls.length > 0)
        this.logger.info({ process: processName, calls: calls.length }, 'mirror components built');
      this.sppRecovered(processName);
      return true;
    } catch (error) {
      this.sppFailed(processName, error);
      return false;
    }
  }

  private async execute(kind: ProcessKind, clientId: number, calls: SppCall[]): Promise<void> {
    for (const call of calls) {
      switch (call.op) {
        case 'start':
          await this.spp.startComponent(kind, clientId, {
            name: call.name,
            core: call.core,
            type: call.type,
          });
          break;
        case 'attach':
          await this.spp.attach(kind, clientId, call.component, call.port, call.dir, call.vlan);
          break;
        case 'detach':
          await this.spp.detach(kind, clientId, call.component, call.port, call.dir);
          break;
        case 'classify':
          await this.spp.classifierTable(clientId, call.change);
          break;
      }
    }
  }

  /** Reports `up` for the plug of a vhost SPP now carries, or completes its unplug. */
  private completeVhost(desired: DesiredState, vhostId: number): Array<Promise<boolean>> {
    const work: Array<Promise<boolean>> = [];
    for (const plug of desired.plugs) {
      if (plug.vhostId === vhostId && !plug.reportedUp) work.push(this.reportUp(plug));
    }
    for (const unplug of desired.unplugs) {
      if (unplug.vhostId === vhostId) work.push(this.finishUnplug(unplug));
    }
    return work;
  }

  /** Unplugs of ports that SPP never carried here (no or unknown vhost): only etcd to clean. */
  private completeOutsideLayout(
    desired: DesiredState,
    layout: AgentLayout,
  ): Array<Promise<boolean>> {
    return desired.unplugs
      .filter((unplug) => unplug.vhostId === undefined || !layout.vhosts.has(unplug.vhostId))
      .map((unplug) => this.finishUnplug(unplug));
  }

  private async reportUp(plug: PlugIntent): Promise<boolean> {
    const host = this.hostKeys.host;
    try {
      const result = await this.store.transaction(
        [
          { key: keys.action(host, plug.portId), equals: 'plug' },
          { key: keys.bindPort(host, plug.portId), modRevision: plug.bindPortRevision },
        ],
        [{ put: keys.portStatus(host, plug.portId), value: 'up' }],
      );
      if (result.succeeded) {
        this.hostKeys.statuses.set(plug.portId, { value: 'up', modRevision: result.revision });
        this.logDone('plug', plug.portId, plug.vhostId);
      }
      return true;
    } catch (error) {
      this.logger.warn(
        { port_id: plug.portId, vhost_id: plug.vhostId, err: errorMessage(error) },
        'cannot report the port up in etcd; will retry',
      );
      return false;
    }
  }

  private async finishUnplug(unplug: UnplugIntent): Promise<boolean> {
    const host = this.hostKeys.host;
    const { portId } = unplug;
    const bindPortKey = keys.bindPort(host, portId);
    const conditions: Condition[] = [
      { key: keys.action(host, portId), equals: 'unplug' },
      unplug.bindPortRevision !== undefined
        ? { key: bindPortKey, modRevision: unplug.bindPortRevision }
        : { key: bindPortKey, absent: true },
    ];
    const operations: Operation[] = [
      { delete: bindPortKey },
      { delete: keys.action(host, portId) },
      { delete: keys.portStatus(host, portId) },
    ];
    if (unplug.slot) {
      const slotKey = keys.vhost(host, unplug.slot.physnet, unplug.slot.vhostId);
      conditions.push({ key: slotKey, equals: portId });
      operations.push({ put: slotKey, value: FREE });
    }
    try {
      const result = await this.store.transaction(conditions, operations);
      if (result.succeeded) {
        this.hostKeys.bindPorts.delete(portId);
        this.hostKeys.actions.delete(portId);
        this.hostKeys.statuses.delete(portId);
        if (unplug.slot) {
          const slotKey = HostKeys.slotKey(unplug.slot.physnet, unplug.slot.vhostId);
          this.hostKeys.slots.set(slotKey, { value: FREE, modRevision: result.revision });
        }
        this.logDone('unplug', portId, unplug.vhostId);
      }
      return true;
    } catch (error) {
      this.logger.warn(
        { port_id: portId, vhost_id: unplug.vhostId, err: errorMessage(error) },
        'cannot complete the unplug in etcd; will retry',
      );
      return false;
    }
  }

  /** Without a layout nothing is plugged by us, but unplug requests can still be closed. */
  private async finishOrphanUnplugs(): Promise<void> {
    if (this.hostKeys.actions.size === 0) return;
    const desired = deriveDesired(this.hostKeys, { vfs: [], vhosts: new Map(), problems: [] });
    for (const unplug of desired.unplugs) await this.finishUnplug(unplug);
  }

  private logDone(action: 'plug' | 'unplug', portId: string, vhostId: number | undefined): void {
    const seen = this.seenAt.get(portId);
    this.seenAt.delete(portId);
    const seconds = seen === undefined ? 0 : (performance.now() - seen) / 1000;
    this.metrics.portAction(action, 'ok', seconds);
    this.logger.info(
      { port_id: portId, vhost_id: vhostId, action, duration_ms: Math.round(seconds * 10000) / 10 },
      action === 'plug' ? 'port plugged' : 'port unplugged',
    );
  }

  private noteProblem(vhostId: number, reason: string): void {
    if (this.vhostProblems.get(vhostId) === reason) return;
    this.vhostProblems.set(vhostId, reason);
    this.logger.warn({ vhost_id: vhostId, problem: reason }, 'vhost left as it is');
  }

  private sppFailed(processName: string, error: unknown, vhostId?: number): void {
    this.metrics.sppCtlError(processName);
    const message = errorMessage(error);
    if (this.processErrors.get(processName) === message) return;
    this.processErrors.set(processName, message);
    this.logger.warn(
      { process: processName, vhost_id: vhostId, err: message },
      'spp-ctl request failed; will retry',
    );
  }

  private sppRecovered(processName: string): void {
    if (!this.processErrors.has(processName)) return;
    this.processErrors.delete(processName);
    this.logger.info({ process: processName }, 'spp-ctl requests succeed again');
  }

  private publishPluggedCount(desired: DesiredState): void {
    const count = desired.plugs.length;
    if (count === this.pluggedCount) return;
    this.pluggedCount = count;
    this.metrics.pluggedPorts(count);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * 19.11 names the classifier `classifier` and reports `master-lcore`; 18.08 uses
 * `classifier_mac` and no `master-lcore` (SPP-SPEC §8). A running classifier decides.
 */
export function detectDialect(status: ProcessStatus): Dialect {
  const types = new Set(status.components.map((component) => component.type));
  if (types.has('classifier_mac')) return '18.08';
  if (types.has('classifier')) return '19.11';
  return status['master-lcore'] === undefined ? '18.08' : '19.11';
}
