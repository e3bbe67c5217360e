import { keys, parseKey } from '../etcd/keys.js';
import type { KeyValue, WatchEvent } from '../etcd/store.js';

export interface StoredValue {
  value: string;
  modRevision: number;
}

/** The etcd key families the agent reads for its host (SYSTEM.md §3.4). */
export const WATCHED_KINDS = ['vhost', 'bind_port', 'action', 'port_status'] as const;

/** The prefixes to read and watch for `host`: the configuration key plus each family. */
export function hostWatchPrefixes(host: string): string[] {
  return [keys.configuration(host), ...WATCHED_KINDS.map((kind) => keys.hostPrefix(kind, host))];
}

/**
 * The agent's copy of its host's keys, kept current from one snapshot plus watch events.
 * What changed is reported so the reconciler only revisits the affected spp_vf processes.
 */
export class HostKeys {
  configuration: StoredValue | undefined;
  readonly bindPorts = new Map<string, StoredValue>();
  readonly actions = new Map<string, StoredValue>();
  readonly statuses = new Map<string, StoredValue>();
  /** Slot values by `<physnet>/<vhost id>`. */
  readonly slots = new Map<string, StoredValue>();

  constructor(readonly host: string) {}

  static slotKey(physnet: string, vhostId: number): string {
    return `${physnet}/${vhostId}`;
  }

  /** Replaces everything with a snapshot's keys. */
  reset(kvs: KeyValue[]): void {
    this.configuration = undefined;
    for (const map of [this.bindPorts, this.actions, this.statuses, this.slots]) map.clear();
    for (const kv of kvs)
      this.apply({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision });
  }

  /** Applies one event; returns what it touched, or undefined for keys of other hosts. */
  apply(event: WatchEvent): Change | undefined {
    const parsed = parseKey(event.key);
    if (!parsed || parsed.host !== this.host) return undefined;
    const stored = { value: event.value, modRevision: event.modRevision };
    const set = <K>(map: Map<K, StoredValue>, key: K) => {
      if (event.type === 'delete') map.delete(key);
      else map.set(key, stored);
    };
    switch (parsed.kind) {
      case 'configuration':
        this.configuration = event.type === 'delete' ? undefined : stored;
        return { kind: 'configuration' };
      case 'vhost':
        set(this.slots, HostKeys.slotKey(parsed.physnet, parsed.vhostId));
        return { kind: 'slot', vhostId: parsed.vhostId };
      case 'bind_port':
        set(this.bindPorts, parsed.portId);
        return { kind: 'port', family: parsed.kind, portId: parsed.portId };
      case 'action':
        set(this.actions, parsed.portId);
        return { kind: 'port', family: parsed.kind, portId: parsed.portId };
      case 'port_status':
        set(this.statuses, parsed.portId);
        return { kind: 'port', family: parsed.kind, portId: parsed.portId };
      default:
        return undefined;
    }
  }
}

export type Change =
  | { kind: 'configuration' }
  | { kind: 'slot'; vhostId: number }
  | { kind: 'port'; family: 'bind_port' | 'action' | 'port_status'; portId: string };
