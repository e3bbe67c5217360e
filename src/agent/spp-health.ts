import type { SppHealthRecord } from '../etcd/values.js';
import { SppCtlError } from '../spp/client.js';
import { errorMessage } from '../util/errors.js';

/**
 * Whether the agent reaches SPP, as its work finds it: spp-ctl not answering at all, or a
 * spp_vf that spp-ctl cannot reach (404 for a process it does not know, 500 for one that
 * died, SPP-SPEC §2.7), makes binds on the host impossible until it answers again. A call
 * SPP refuses (400, 409) says nothing about reachability and is not counted here.
 */
export class SppHealth {
  private readonly failing = new Map<string, string>();
  private unreachableSince: string | undefined;

  constructor(
    private readonly onChange: (health: SppHealthRecord) => void = () => undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A spp_vf's work failed with `error`; only reachability failures change the health. */
  failed(processName: string, error: unknown): void {
    const problem = reachabilityProblem(processName, error);
    if (!problem || this.failing.get(processName) === problem) return;
    const wasOk = this.failing.size === 0;
    this.failing.set(processName, problem);
    if (wasOk) this.unreachableSince = this.now().toISOString();
    this.onChange(this.record());
  }

  /** A spp_vf's work succeeded: it is reachable. */
  recovered(processName: string): void {
    if (!this.failing.delete(processName)) return;
    if (this.failing.size === 0) this.unreachableSince = undefined;
    this.onChange(this.record());
  }

  get ok(): boolean {
    return this.failing.size === 0;
  }

  record(): SppHealthRecord {
    if (this.failing.size === 0) return { state: 'ok' };
    const problem = [...this.failing.entries()]
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([, text]) => text)
      .join('; ');
    return { state: 'unreachable', problem, since: this.unreachableSince ?? '' };
  }
}

function reachabilityProblem(processName: string, error: unknown): string | undefined {
  if (!(error instanceof SppCtlError)) return undefined;
  if (error.status === undefined) return `spp-ctl does not answer (${errorMessage(error)})`;
  if (error.status === 404 || error.status >= 500) {
    return `${processName.replace(/^vf:/, 'spp_vf ')} is not reachable through spp-ctl (${errorMessage(error)})`;
  }
  return undefined;
}
