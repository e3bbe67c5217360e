import type { Logger } from 'pino';
import type { ProcessKind, SppCtlClient } from '../spp/client.js';
import { SppCtlError } from '../spp/client.js';
import { errorMessage } from '../util/errors.js';
import type { Completions } from './completions.js';
import type { DesiredState, DesiredVhost } from './desired.js';
import type { DialectState } from './dialect.js';
import type { VfPlan } from './layout-index.js';
import { LogOnce } from './log-once.js';
import type { AgentMetrics } from './metrics.js';
import type { VhostWiring } from '../layout/wiring.js';
import type { ActualVhost, SppCall } from './plan.js';
import { actualAfter, planBuild, planVhost, readActualVhost } from './plan.js';
import type { ProcessLocks } from './process-locks.js';
import { SppHealth } from './spp-health.js';
import type { SppView } from './spp-view.js';

/** Why a key runs: start-up, an etcd change, the periodic full comparison, a retry. */
export type RunCause = 'start' | 'change' | 'timer' | 'retry';

/** What a run must do: `full` re-reads SPP instead of trusting the agent's last view of it. */
export interface Work {
  full: boolean;
  cause: RunCause;
}

/** How a key's run ended: done, or to be run again (after backoff, or at a given time). */
export type Outcome = { kind: 'done' } | { kind: 'retry' } | { kind: 'recheck'; afterMs: number };

/** What SPP process failures and vhost problems have been logged (log once, then recovery). */
export class SppProblems {
  readonly processes = new LogOnce<string>();
  readonly vhosts = new LogOnce<number>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: AgentMetrics,
    /** Reachability of the spp_vf processes, which the liveness record carries. */
    readonly health: SppHealth = new SppHealth(),
  ) {}

  failed(processName: string, error: unknown, vhostId?: number): void {
    this.metrics.sppCtlError(processName);
    if (processName.startsWith('vf:')) this.health.failed(processName, error);
    const message = errorMessage(error);
    if (!this.processes.report(processName, message)) return;
    this.logger.warn(
      { process: processName, vhost_id: vhostId, err: message },
      'spp-ctl request failed; will retry',
    );
  }

  recovered(processName: string): void {
    if (processName.startsWith('vf:')) this.health.recovered(processName);
    if (this.processes.clear(processName)) {
      this.logger.info({ process: processName }, 'spp-ctl requests succeed again');
    }
  }

  blocked(vhostId: number, reason: string): void {
    if (this.vhosts.report(vhostId, reason)) {
      this.logger.warn({ vhost_id: vhostId, problem: reason }, 'vhost left as it is');
    }
  }
}

export interface SppDeps {
  /** Serialises runs that touch one SPP process (a spp_vf's run, a tap run). */
  locks?: ProcessLocks;
  spp: SppCtlClient;
  dialect: DialectState;
  view: SppView;
  problems: SppProblems;
  metrics: AgentMetrics;
  logger: Logger;
  /** A spp_vf's components were (re)built: its taps need wiring again. */
  onBuilt?: (clientId: number) => void;
}

/** Sends calls to one process, in order (spp-ctl serves a process one request at a time). */
export async function execute(
  spp: SppCtlClient,
  kind: ProcessKind,
  clientId: number,
  calls: SppCall[],
): Promise<void> {
  for (const call of calls) {
    switch (call.op) {
      case 'start':
        await spp.startComponent(kind, clientId, {
          name: call.name,
          core: call.core,
          type: call.type,
        });
        break;
      case 'attach':
        await spp.attach(kind, clientId, call.component, call.port, call.dir, call.vlan);
        break;
      case 'detach':
        await spp.detach(kind, clientId, call.component, call.port, call.dir);
        break;
      case 'classify':
        await spp.classifierTable(clientId, call.change);
        break;
    }
  }
}

/** Reads a spp_vf's status, builds its missing components, and returns its vhosts' state. */
async function readVf(vf: VfPlan, work: Work, deps: SppDeps): Promise<Map<number, ActualVhost>> {
  let status = await deps.spp.status('vfs', vf.clientId);
  deps.dialect.observe(status);
  const build = planBuild(vf, status, deps.dialect.value ?? '18.08');
  if (build.length > 0) {
    await execute(deps.spp, 'vfs', vf.clientId, build);
    if (work.cause !== 'start') deps.metrics.repair('component', build.length);
    deps.logger.info({ process: `vf:${vf.clientId}`, calls: build.length }, 'components built');
    deps.onBuilt?.(vf.clientId);
    status = await deps.spp.status('vfs', vf.clientId);
  }
  const actual = new Map<number, ActualVhost>();
  for (const [vhostId, wiring] of vf.wirings) actual.set(vhostId, readActualVhost(status, wiring));
  return actual;
}

/**
 * One run of a spp_vf key: brings every vhost of the process to what etcd wants, in the
 * original's call order, and starts each port's etcd completion as soon as its vhost is
 * right (the transactions run while the next vhosts are programmed).
 */
export async function reconcileVf(
  vf: VfPlan,
  desired: DesiredState,
  work: Work,
  deps: SppDeps & { completions: Completions },
): Promise<Outcome> {
  if (!deps.locks) return reconcileVfLocked(vf, desired, work, deps);
  return deps.locks.with([`vf:${vf.clientId}`], () => reconcileVfLocked(vf, desired, work, deps));
}

async function reconcileVfLocked(
  vf: VfPlan,
  desired: DesiredState,
  work: Work,
  deps: SppDeps & { completions: Completions },
): Promise<Outcome> {
  const processName = `vf:${vf.clientId}`;
  const cached = work.full ? undefined : deps.view.get(vf.clientId);
  deps.view.forget(vf.clientId);
  let actual: Map<number, ActualVhost>;
  try {
    actual = cached ?? (await readVf(vf, work, deps));
  } catch (error) {
    deps.problems.failed(processName, error);
    return { kind: 'retry' };
  }
  const completions: Array<Promise<boolean>> = [];
  let failed = false;
  try {
    for (const [vhostId, wiring] of vf.wirings) {
      const wish: DesiredVhost = desired.vhosts.get(vhostId) ?? { kind: 'keep' };
      const before = actual.get(vhostId);
      if (!before) throw new Error(`no known state for vhost ${vhostId}`);
      let programmed: Programmed;
      try {
        programmed = await programVhost(vf.clientId, wiring, before, wish, deps, desired.tapPorts);
      } catch (error) {
        if (!(error instanceof SppCtlError) || error.status === undefined) throw error;
        failed = true;
        deps.problems.failed(processName, error, vhostId);
        continue;
      }
      if ('blocked' in programmed) {
        deps.problems.blocked(vhostId, programmed.blocked);
        continue;
      }
      deps.problems.vhosts.clear(vhostId);
      actual.set(vhostId, programmed.after);
      noteRepair(programmed.calls, wish, vhostId, desired, work, deps);
      completions.push(...completeVhost(desired, vhostId, deps.completions));
    }
  } catch (error) {
    deps.problems.failed(processName, error);
    await Promise.all(completions);
    return { kind: 'retry' };
  }
  if (!failed) {
    deps.problems.recovered(processName);
    deps.view.set(vf.clientId, actual);
  }
  const completed = (await Promise.all(completions)).every(Boolean);
  return failed || !completed ? { kind: 'retry' } : { kind: 'done' };
}

type Programmed = { after: ActualVhost; calls: number } | { blocked: string };

/**
 * Brings one vhost to `wish`. (A classifier-side port left detached by a plan cut short
 * hides its classifier entry, SPP-SPEC §4.3; such a port is only met on a full run, whose
 * build step re-attaches it and re-reads the status first, so plans never see it hidden.)
 */
async function programVhost(
  clientId: number,
  wiring: VhostWiring,
  before: ActualVhost,
  wish: DesiredVhost,
  deps: SppDeps,
  tapPorts: ReadonlySet<string> | undefined,
): Promise<Programmed> {
  const plan = planVhost(wiring, before, wish, tapPorts);
  if ('blocked' in plan) return plan;
  await execute(deps.spp, 'vfs', clientId, plan.calls);
  return { after: actualAfter(wish, before), calls: plan.calls.length };
}

/** SPP had lost what etcd wants (a restart, a hand edit): count it, and say which port came back. */
function noteRepair(
  calls: number,
  wish: DesiredVhost,
  vhostId: number,
  desired: DesiredState,
  work: Work,
  deps: SppDeps,
): void {
  if (calls === 0 || !work.full || work.cause === 'change') return;
  if (work.cause === 'timer') deps.metrics.repair('vhost', 1);
  if (wish.kind !== 'carry') return;
  const plug = desired.plugs.find((p) => p.vhostId === vhostId);
  if (plug?.reportedUp) {
    deps.logger.info({ port_id: wish.portId, vhost_id: vhostId, calls }, 'port plugged again');
  }
}

/** `up` for the plug of a vhost SPP now carries, or the end of its unplug. */
function completeVhost(
  desired: DesiredState,
  vhostId: number,
  completions: Completions,
): Array<Promise<boolean>> {
  const work: Array<Promise<boolean>> = [];
  for (const plug of desired.plugs)
    if (plug.vhostId === vhostId) work.push(completions.reportUp(plug));
  for (const unplug of desired.unplugs)
    if (unplug.vhostId === vhostId) work.push(completions.finishUnplug(unplug));
  return work;
}
