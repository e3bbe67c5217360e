import type { Logger } from 'pino';
import type { Completions } from './completions.js';
import type { DesiredState, Problem } from './desired.js';
import type { AgentLayout } from './layout-index.js';
import { LogOnce } from './log-once.js';
import type { AgentMetrics } from './metrics.js';
import type { Outcome } from './reconcile-vf.js';

/** How long a possibly transient problem may last before it is reported. */
export const TRANSIENT_GRACE_MS = 2000;

/**
 * The host-wide part of a run: requests the agent cannot act on are logged once each (a
 * possibly transient one only if it lasts), unplugs of ports SPP never carried here are
 * closed in etcd, and the plugged-ports gauge is kept.
 */
export class HostWork {
  private readonly reported = new LogOnce<string>();
  private readonly firstSeen = new Map<string, number>();
  private plugged = -1;

  constructor(
    private readonly completions: Completions,
    private readonly logger: Logger,
    private readonly metrics: AgentMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async run(desired: DesiredState, layout: AgentLayout | undefined): Promise<Outcome> {
    const recheck = this.report(desired.problems);
    this.publish(desired.plugs.length);
    const outside = desired.unplugs.filter(
      (unplug) => unplug.vhostId === undefined || !layout?.vhosts.has(unplug.vhostId),
    );
    const results = await Promise.all(
      outside.map((unplug) => this.completions.finishUnplug(unplug)),
    );
    if (!results.every(Boolean)) return { kind: 'retry' };
    return recheck === undefined ? { kind: 'done' } : { kind: 'recheck', afterMs: recheck };
  }

  /** Logs new problems; returns when to look again at one that may be transient. */
  private report(problems: Problem[]): number | undefined {
    const now = this.now();
    const current = new Set(problems.map((problem) => problem.portId));
    let recheck: number | undefined;
    for (const problem of problems) {
      const since = this.firstSeen.get(problem.portId) ?? now;
      this.firstSeen.set(problem.portId, since);
      if (problem.transient && now - since < TRANSIENT_GRACE_MS) {
        recheck = Math.min(recheck ?? Infinity, TRANSIENT_GRACE_MS - (now - since));
        continue;
      }
      if (!this.reported.report(problem.portId, problem.reason)) continue;
      this.logger.warn(
        { port_id: problem.portId, vhost_id: problem.vhostId, problem: problem.reason },
        'request skipped; its keys are left in etcd',
      );
    }
    this.reported.retain((portId) => current.has(portId));
    for (const portId of [...this.firstSeen.keys()])
      if (!current.has(portId)) this.firstSeen.delete(portId);
    return recheck;
  }

  private publish(count: number): void {
    if (count === this.plugged) return;
    this.plugged = count;
    this.metrics.pluggedPorts(count);
  }
}
