import type { AgentLayout } from './layout-index.js';
import { LogOnce } from './log-once.js';
import { planMirrors } from './plan.js';
import type { ProcessLocks } from './process-locks.js';
import type { Outcome, SppDeps } from './reconcile-vf.js';
import { execute } from './reconcile-vf.js';
import type { TapCompletions } from './taps/completions.js';
import type { DesiredTaps } from './taps/desired.js';
import type { PortState, TapCall } from './taps/plan.js';
import { addStatus, planTaps, tapTopology } from './taps/plan.js';

export interface MirrorDeps extends SppDeps {
  locks: ProcessLocks;
  tapCompletions: TapCompletions;
  tapProblems: LogOnce<string>;
}

/** How a spp_mirror run ended, and which spp_vf processes its calls changed. */
export type MirrorOutcome = Outcome & { touched: number[] };

/** Sends tap calls in order; returns the spp_vf client ids it changed (also on failure). */
async function executeTapCalls(
  deps: SppDeps,
  calls: TapCall[],
  touched: Set<number>,
): Promise<void> {
  for (const { kind, clientId, call } of calls) {
    if (kind === 'vfs') touched.add(clientId);
    await execute(deps.spp, kind, clientId, [call]);
  }
}

export function newTapProblems(): LogOnce<string> {
  return new LogOnce<string>();
}

type MirrorPlan = NonNullable<AgentLayout['mirror']>;

/** Under the locks: mirror components built, then the taps planned and their calls sent. */
async function programMirror(
  layout: AgentLayout,
  mirror: MirrorPlan,
  taps: DesiredTaps,
  deps: MirrorDeps,
  touched: Set<number>,
): Promise<{ callCount: number; waiting: number[] }> {
  const processName = `mirror:${mirror.clientId}`;
  let status = await deps.spp.status('mirrors', mirror.clientId);
  const build = planMirrors(mirror.mirrors, status);
  if (build.length > 0) {
    await execute(deps.spp, 'mirrors', mirror.clientId, build);
    deps.logger.info({ process: processName, calls: build.length }, 'mirror components built');
    status = await deps.spp.status('mirrors', mirror.clientId);
  }
  const topology = tapTopology(layout);
  if (!topology) return { callCount: 0, waiting: [] };
  const state: PortState = addStatus(new Map(), 'mirrors', status);
  for (const vf of layout.vfs) addStatus(state, 'vfs', await deps.spp.status('vfs', vf.clientId));
  const plan = planTaps(topology, state, taps.mirrors);
  try {
    await executeTapCalls(deps, plan.calls, touched);
  } finally {
    // Still under the locks: no spp_vf run can plan from a view these calls outdated.
    for (const clientId of touched) deps.view.forget(clientId);
  }
  for (const { mirrorId, actual } of plan.removed) {
    if (taps.unplugs.some((unplug) => unplug.slots.includes(mirrorId))) continue;
    deps.metrics.tapAction?.('stale');
    deps.logger.info(
      { mirror_id: mirrorId, wiring: actual, calls: plan.calls.length },
      'tap wiring etcd does not have removed',
    );
  }
  return { callCount: plan.calls.length, waiting: plan.waiting };
}

/**
 * One run of the spp_mirror key: its mirror components exist (SPP-SPEC §9.1 step 5), then
 * the taps (SYSTEM.md §5.3.1): read spp_mirror and every spp_vf once, tear down whatever
 * tap wiring etcd does not want (also taps left by another agent), plug the wanted ones,
 * then answer in etcd (`up`, or the end of an unplug) for the flows now carried out.
 */
export async function reconcileMirror(
  layout: AgentLayout,
  taps: DesiredTaps,
  deps: MirrorDeps,
): Promise<MirrorOutcome> {
  const mirror = layout.mirror;
  if (!mirror) return { kind: 'done', touched: [] };
  const processName = `mirror:${mirror.clientId}`;
  const touched = new Set<number>();
  const started = performance.now();
  let programmed = { callCount: 0, waiting: [] as number[] };
  const locks = [processName, ...layout.vfs.map((vf) => `vf:${vf.clientId}`)];
  try {
    await deps.locks.with(locks, async () => {
      programmed = await programMirror(layout, mirror, taps, deps, touched);
    });
  } catch (error) {
    deps.problems.failed(processName, error);
    return { kind: 'retry', touched: [...touched] };
  }
  deps.problems.recovered(processName);
  reportProblems(taps, deps.tapProblems, deps);
  const { callCount, waiting } = programmed;
  const ready = taps.plugs.filter((plug) => !plug.mirrors.some((id) => waiting.includes(id)));
  const results = await Promise.all([
    ...ready.map((plug) => deps.tapCompletions.reportUp(plug, callCount)),
    ...taps.unplugs.map((unplug) => deps.tapCompletions.finishUnplug(unplug)),
  ]);
  deps.metrics.tapFlows?.(ready.length);
  if (callCount > 0) {
    const duration = Math.round((performance.now() - started) * 10) / 10;
    deps.logger.debug(
      { process: processName, calls: callCount, duration_ms: duration },
      'taps wired',
    );
  }
  if (!results.every(Boolean)) return { kind: 'retry', touched: [...touched] };
  // A spp_vf being rebuilt: look again shortly (its build also queues this key).
  if (waiting.length > 0) return { kind: 'recheck', afterMs: 500, touched: [...touched] };
  return { kind: 'done', touched: [...touched] };
}

function reportProblems(taps: DesiredTaps, reported: LogOnce<string>, deps: SppDeps): void {
  const current = new Set(taps.problems.map((problem) => problem.flowId));
  for (const problem of taps.problems) {
    if (!reported.report(problem.flowId, problem.reason)) continue;
    deps.logger.warn(
      { tap_flow_id: problem.flowId, problem: problem.reason },
      'tap flow not carried out; its keys are left in etcd',
    );
  }
  reported.retain((flowId) => current.has(flowId));
}
