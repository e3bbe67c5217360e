import type { ParsedKey } from '../etcd/keys.js';
import type { Action, AgentKindRecord, AgentRecord, BindPort, TapInfo } from '../etcd/values.js';
import type { HostConfig } from '../layout/schema.js';

/** loading: not read yet; synced: current; disconnected: a watch lost etcd; resyncing: re-reading. */
export type SyncStatus = 'loading' | 'synced' | 'disconnected' | 'resyncing';

/** A key's value as etcd holds it, and the revision that last wrote it (for guards). */
export interface Stored {
  key: string;
  raw: string;
  modRevision: number;
}

/** A value decoded at the edge: either usable, or a problem that names the key. */
export type Decoded<T> = Stored & ({ ok: true; value: T } | { ok: false; problem: string });

/** A vhost or mirror slot: free (`None`), held by an id, or unusable (a value that is neither). */
export type Holder =
  { free: true } | { free: false; id: string } | { free: false; problem: string };

export interface Slot extends Stored {
  physnet: string;
  vhostId: number;
  holder: Holder;
}

export interface MirrorSlot extends Stored {
  mirrorId: number;
  holder: Holder;
}

/** The agent's liveness record, with the lease it is bound to. */
export type AgentEntry = Decoded<AgentRecord> & { lease: string };

/** Every key of one Neutron port on one host. */
export interface PortKeys {
  portId: string;
  bindPort?: Decoded<BindPort>;
  action?: Decoded<Action>;
  status?: Decoded<'up'>;
  /** Our service's marker: the plug request was written by this project's binding service. */
  plugRequest?: Stored;
}

/** Every key of one tap flow on one host. */
export interface TapKeys {
  flowId: string;
  info?: Decoded<TapInfo>;
  action?: Decoded<Action>;
  status?: Decoded<'up'>;
}

/**
 * Everything etcd holds about one compute host (SYSTEM.md §3.4 plus our liveness key),
 * decoded once. Read-only for its users: only the snapshot's watch (or a one-shot read)
 * builds it.
 */
export interface HostState {
  readonly host: string;
  readonly configuration: Decoded<HostConfig> | undefined;
  readonly agent: AgentEntry | undefined;
  /** Our agent's durable marker: the host runs (or ran) this project's agent. */
  readonly agentKind: Decoded<AgentKindRecord> | undefined;
  /** Slots by their etcd key. */
  readonly slots: ReadonlyMap<string, Slot>;
  readonly ports: ReadonlyMap<string, PortKeys>;
  readonly mirrors: ReadonlyMap<number, MirrorSlot>;
  readonly taps: ReadonlyMap<string, TapKeys>;
  /** The slots in ascending vhost id order. */
  sortedSlots(): readonly Slot[];
  /** The slots whose value is `portId`. */
  slotsHeldBy(portId: string): readonly Slot[];
}

/** One key of the snapshot that changed, as applied. */
export type SnapshotChange = ParsedKey & {
  type: 'put' | 'delete';
  key: string;
  modRevision: number;
};

export function isUp(status: Decoded<'up'> | undefined): boolean {
  return status?.ok === true;
}

/** The usable value of a decoded entry, or undefined (absent or unusable). */
export function valueOf<T>(entry: Decoded<T> | undefined): T | undefined {
  return entry?.ok ? entry.value : undefined;
}

export function heldBy(holder: Holder): string | undefined {
  return !holder.free && 'id' in holder ? holder.id : undefined;
}
