import type { DeleteResult, TapRefusal } from './plan.js';

/** What the tap flow API answers, and what the tap service is given. */

export type TapCreateOutcome =
  | { active: true; host: string; mirror_in: number | null; mirror_out: number | null }
  | { active: false; reason: TapRefusal | 'timeout' | 'error'; detail: string };

export interface TapDeleteOutcome {
  tap_flow_id: string;
  host?: string;
  result: DeleteResult;
}

export interface TapSyncFlow {
  id: string;
}

export interface TapSyncReport {
  /** Flows etcd has that Neutron does not: unplug requested (or cleaned). */
  removed: Array<{ tap_flow_id: string; host: string; result: DeleteResult }>;
  /** Flows Neutron has that no host carries in etcd. */
  missing: string[];
  /** Left alone: changed within `sync_grace`. */
  recent: string[];
  dry_run: boolean;
}

export interface TapMetrics {
  tapCreate(result: string, seconds: number): void;
}

export interface TapServiceOptions {
  tapTimeoutMs: number;
  syncGraceMs: number;
}
