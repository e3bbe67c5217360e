import type { ActualVhost } from './plan.js';

/**
 * What each vhost looks like in SPP after the agent's last successful calls, per spp_vf
 * whose status was read and has not failed since. Runs triggered by etcd changes plan from
 * it instead of re-reading the status; full runs (start, timer, retries) re-read and
 * replace it; any failure forgets the process.
 */
export class SppView {
  private readonly known = new Map<number, Map<number, ActualVhost>>();

  get(clientId: number): Map<number, ActualVhost> | undefined {
    return this.known.get(clientId);
  }

  set(clientId: number, vhosts: Map<number, ActualVhost>): void {
    this.known.set(clientId, vhosts);
  }

  forget(clientId: number): void {
    this.known.delete(clientId);
  }

  clear(): void {
    this.known.clear();
  }
}
