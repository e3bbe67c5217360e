import type { Logger } from 'pino';
import type { HostState, SnapshotChange } from '../snapshot/model.js';
import { valueOf } from '../snapshot/model.js';
import type { HostSnapshot } from '../snapshot/snapshot.js';
import { Backoff, sleep } from '../util/backoff.js';
import type { Completions } from './completions.js';
import type { DesiredState } from './desired.js';
import { deriveDesired } from './desired.js';
import type { AgentLayout } from './layout-index.js';
import type { LayoutTracker } from './layout-tracker.js';
import type { HostWork } from './reconcile-host.js';
import type { MirrorDeps } from './reconcile-mirror.js';
import { reconcileMirror } from './reconcile-mirror.js';
import type { DesiredTaps } from './taps/desired.js';
import { NO_TAPS, deriveTaps } from './taps/desired.js';
import { tapTopology } from './taps/plan.js';
import type { Outcome, Work } from './reconcile-vf.js';
import { reconcileVf } from './reconcile-vf.js';
import { WorkQueue } from './work-queue.js';

/** A unit of the agent's work: the host-wide etcd part, one spp_vf process, or spp_mirror. */
export type WorkKey = 'host' | 'mirror' | `vf:${number}`;

export interface ControllerOptions {
  reconcileIntervalMs: number;
  retryMaxMs: number;
}

const CAUSE_RANK = { change: 0, retry: 1, timer: 2, start: 3 } as const;

/** Two requests for one key: the run does the most of both. */
export function mergeWork(a: Work, b: Work): Work {
  return {
    full: a.full || b.full,
    cause: CAUSE_RANK[a.cause] >= CAUSE_RANK[b.cause] ? a.cause : b.cause,
  };
}

const EMPTY_LAYOUT: AgentLayout = { vfs: [], vhosts: new Map(), problems: [] };
const WORKERS = 16;

/** Every key a layout has. */
function keysOf(layout: AgentLayout | undefined): WorkKey[] {
  return [
    'host',
    ...(layout?.vfs ?? []).map((vf): WorkKey => `vf:${vf.clientId}`),
    ...(layout?.mirror ? ['mirror' as const] : []),
  ];
}

/**
 * The agent as a keyed work queue: etcd changes, the periodic full comparison and retries
 * queue keys; workers run one key at a time each, every run computed from current state
 * (the snapshot, and SPP's status or the agent's last view of it), ending done, to retry
 * with the key's own bounded backoff, or to look again at a given time.
 */
export class AgentController {
  private readonly queue = new WorkQueue<WorkKey, Work>(mergeWork);
  private readonly backoffs = new Map<WorkKey, Backoff>();
  private unreconciled: Set<WorkKey> | undefined;
  /** deriveDesired of the last (snapshot version, layout) asked for: runs of one change share it. */
  private desiredCache:
    | { version: number; layout: AgentLayout | undefined; desired: DesiredState; taps: DesiredTaps }
    | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly snapshot: HostSnapshot,
    private readonly hostName: string,
    private readonly layout: LayoutTracker,
    private readonly deps: MirrorDeps & { completions: Completions },
    private readonly hostWork: HostWork,
    private readonly logger: Logger,
    private readonly options: ControllerOptions,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const off = this.snapshot.listeners.onChanges((changes, relisted) =>
      this.onChanges(changes, relisted),
    );
    const close = () => this.queue.close();
    signal.addEventListener('abort', close, { once: true });
    this.layout.refresh(this.snapshot.host(this.hostName));
    const initial = keysOf(this.layout.current);
    this.unreconciled = new Set(initial);
    for (const key of initial) this.queue.add(key, { full: true, cause: 'start' });
    const workers = Array.from({ length: WORKERS }, () => this.work());
    await this.fullComparisons(signal);
    off();
    signal.removeEventListener('abort', close);
    await Promise.all(workers);
    await this.deps.completions.settle();
  }

  private async fullComparisons(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.options.reconcileIntervalMs, signal);
      if (signal.aborted) break;
      for (const key of keysOf(this.layout.current))
        this.queue.add(key, { full: true, cause: 'timer' });
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const next = await this.queue.next();
      if (!next) return;
      try {
        this.settle(next.key, await this.runKey(next.key, next.payload));
      } finally {
        this.queue.done(next.key);
      }
    }
  }

  private async runKey(key: WorkKey, work: Work): Promise<Outcome> {
    const host = this.snapshot.host(this.hostName);
    if (this.layout.refresh(host)) this.layoutChanged(key);
    this.deps.completions.prune(host);
    this.deps.tapCompletions.prune(host);
    const layout = this.layout.current;
    const desired = this.desired(host, layout);
    if (key === 'host') return this.hostWork.run(desired, layout);
    if (key === 'mirror') {
      if (!layout?.mirror) return { kind: 'done' };
      const outcome = await reconcileMirror(layout, this.desiredCache?.taps ?? NO_TAPS, this.deps);
      // The tap calls changed these spp_vf processes: their views are stale, and a vhost
      // whose change waited for a tap teardown can go ahead.
      for (const clientId of outcome.touched) {
        this.deps.view.forget(clientId);
        this.queue.add(`vf:${clientId}`, { full: true, cause: 'change' });
      }
      return outcome;
    }
    const vf = layout?.vfs.find((candidate) => `vf:${candidate.clientId}` === key);
    if (!vf) return { kind: 'done' };
    const onBuilt = () => {
      if (layout?.mirror) this.queue.add('mirror', { full: true, cause: 'change' });
    };
    return reconcileVf(vf, desired, work, { ...this.deps, onBuilt });
  }

  private desired(host: HostState, layout: AgentLayout | undefined): DesiredState {
    const version = this.snapshot.version;
    const cached = this.desiredCache;
    if (cached && cached.version === version && cached.layout === layout) return cached.desired;
    const desired = deriveDesired(host, layout ?? EMPTY_LAYOUT);
    const taps = deriveTaps(host, layout ? tapTopology(layout) : undefined, desired);
    desired.tapPorts = taps.ports;
    this.desiredCache = { version, layout, desired, taps };
    return desired;
  }

  private settle(key: WorkKey, outcome: Outcome): void {
    if (outcome.kind === 'retry') {
      this.queue.addAfter(key, { full: true, cause: 'retry' }, this.backoff(key).next());
      return;
    }
    this.backoffs.get(key)?.reset();
    if (outcome.kind === 'recheck') {
      this.queue.addAfter(key, { full: false, cause: 'change' }, outcome.afterMs);
      return;
    }
    this.noteReconciled(key);
  }

  private backoff(key: WorkKey): Backoff {
    let backoff = this.backoffs.get(key);
    if (!backoff) this.backoffs.set(key, (backoff = new Backoff(100, this.options.retryMaxMs)));
    return backoff;
  }

  /** The first time every key of the start has succeeded: SPP matched etcd once. */
  private noteReconciled(key: WorkKey): void {
    if (!this.unreconciled?.delete(key) || this.unreconciled.size > 0) return;
    this.unreconciled = undefined;
    const layout = this.layout.current;
    const desired = this.desired(this.snapshot.host(this.hostName), layout);
    this.logger.info(
      {
        plugged: desired.plugs.length,
        duration_ms: Math.round((performance.now() - this.startedAt) * 10) / 10,
      },
      'host reconciled',
    );
  }

  /** A new layout: every process is looked at afresh. */
  private layoutChanged(running: WorkKey): void {
    this.deps.view.clear();
    for (const key of keysOf(this.layout.current)) {
      if (key !== running) this.queue.add(key, { full: true, cause: 'change' });
    }
    if (this.unreconciled) this.unreconciled = new Set(keysOf(this.layout.current));
  }

  private onChanges(changes: readonly SnapshotChange[], relisted: boolean): void {
    if (relisted) {
      for (const key of keysOf(this.layout.current))
        this.queue.add(key, { full: true, cause: 'change' });
      return;
    }
    const change: Work = { full: false, cause: 'change' };
    const host = this.snapshot.host(this.hostName);
    for (const item of changes) {
      if (item.kind === 'configuration') {
        for (const key of keysOf(this.layout.current))
          this.queue.add(key, { full: true, cause: 'change' });
        this.queue.add('host', change);
      } else if (item.kind === 'vhost') {
        this.queueVhost(item.vhostId, change);
      } else if (item.kind === 'bind_port' || item.kind === 'action') {
        const port = host.ports.get(item.portId);
        this.deps.completions.noteSeen(item.portId, port?.action !== undefined);
        this.queue.add('host', change);
        const vhostId = valueOf(port?.bindPort)?.vhost_id;
        if (vhostId !== undefined) this.queueVhost(vhostId, change);
        // A port of a tap changed (e.g. its unplug): the tap is torn down first.
        if (host.taps.size > 0 && this.layout.current?.mirror) this.queue.add('mirror', change);
      } else if (item.kind === 'mirror' || item.kind.startsWith('tap_')) {
        if (this.layout.current?.mirror) this.queue.add('mirror', change);
      }
    }
  }

  private queueVhost(vhostId: number, work: Work): void {
    const place = this.layout.current?.vhosts.get(vhostId);
    if (place) this.queue.add(`vf:${place.vf.clientId}`, work);
  }
}
