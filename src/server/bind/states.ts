import type { EtcdAgentRequirement } from '../agent-gate.js';
import type { Condition, Operation } from '../../etcd/store.js';
import type { Stored } from '../../snapshot/model.js';
import type { Plan, PortView } from './plan.js';
import type { BindOutcome, BindRequest } from './types.js';

/*
 * The bind state machine's vocabulary: what a bind knows, its states, the events that
 * move it and the effects it asks of its runner (machine.ts steps, runner.ts performs).
 */

/** What does not change during one bind. */
export interface BindContext {
  request: BindRequest;
  requireEtcdAgent: EtcdAgentRequirement;
  /** When the bind gives up waiting (epoch ms). */
  deadline: number;
  bindTimeoutMs: number;
  socketDir?: string;
  /** Slot keys other binds of this process are claiming. */
  reserved: { has(key: string): boolean };
  /** A number in [0, 1), to spread retries over free slots after a conflict. */
  random: () => number;
}

/** The plug request a bind made (or found): what the wait and the rollback check. */
export interface WaitTarget {
  segmentId: string;
  vhostId: number;
  slotKey: string;
  bindPortRevision: number;
  bindPortValue: string;
  /** port_status as it was when the wait started (normally absent). */
  status: Stored | undefined;
}

export interface Progress {
  attempts: number;
  conflicts: number;
  unplugLeftover: boolean;
}

export type WritePlan = Extract<Plan, { kind: 'write' }>;

export type BindState =
  | { phase: 'planning'; progress: Progress }
  | { phase: 'writing'; progress: Progress; plan: WritePlan; segmentId: string; view: PortView }
  | { phase: 'unplugging-first'; progress: Progress }
  | { phase: 'awaiting-unplug'; progress: Progress; until: number; floor: number }
  | { phase: 'waiting-up'; progress: Progress; target: WaitTarget; floor: number }
  | { phase: 'rechecking'; progress: Progress; target: WaitTarget }
  | { phase: 'rolling-back'; target: WaitTarget; floor: number; aborted?: string }
  | { phase: 'done'; outcome: BindOutcome };

export type BindEvent =
  | { type: 'view'; view: PortView; fresh: boolean; now: number }
  | { type: 'txn'; succeeded: boolean; revision: number; view: PortView; now: number }
  | { type: 'key'; key: string; change: 'put' | 'delete'; raw: string; now: number }
  | { type: 'resync'; now: number }
  | { type: 'timeout'; now: number }
  | { type: 'aborted'; reason: string; now: number };

/** What the runner does for the machine. `read`, `txn` and `wait` each produce the next event. */
export type BindEffect =
  | { type: 'read'; what: 'host' | 'port' }
  | {
      type: 'txn';
      purpose: 'write' | 'unplug-first' | 'rollback';
      conditions: Condition[];
      success: Operation[];
      /** Re-read in the failed branch, so the next plan needs no extra request. */
      failureReads: 'host' | 'port';
    }
  | { type: 'wait'; until: number; floor: number }
  | { type: 'reserve'; slotKey: string }
  | { type: 'release'; slotKey: string }
  | { type: 'rolled-back'; slotKey: string; bindPortValue: string; revision: number }
  | { type: 'log'; message: string };

export interface Step {
  state: BindState;
  effects: BindEffect[];
}

/** Attempts of one bind against concurrent changes before it gives up. */
export const MAX_ATTEMPTS = 64;
/** How long a bind waits for an `unplug` request without bind_port to go before replacing it. */
export const ORPHAN_UNPLUG_WAIT_MS = 2000;

const NEW_PROGRESS: Progress = { attempts: 0, conflicts: 0, unplugLeftover: false };

export const initialState: BindState = { phase: 'planning', progress: NEW_PROGRESS };
