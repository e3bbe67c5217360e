import type { AgentLayout } from './layout-index.js';
import { planMirrors } from './plan.js';
import type { Outcome, SppDeps } from './reconcile-vf.js';
import { execute } from './reconcile-vf.js';

/** One run of the spp_mirror key: its mirror components exist (SPP-SPEC §9.1 step 5). */
export async function reconcileMirror(
  mirror: NonNullable<AgentLayout['mirror']>,
  deps: SppDeps,
): Promise<Outcome> {
  const processName = `mirror:${mirror.clientId}`;
  try {
    const status = await deps.spp.status('mirrors', mirror.clientId);
    const calls = planMirrors(mirror.mirrors, status);
    await execute(deps.spp, 'mirrors', mirror.clientId, calls);
    if (calls.length > 0) {
      deps.logger.info({ process: processName, calls: calls.length }, 'mirror components built');
    }
    deps.problems.recovered(processName);
    return { kind: 'done' };
  } catch (error) {
    deps.problems.failed(processName, error);
    return { kind: 'retry' };
  }
}
