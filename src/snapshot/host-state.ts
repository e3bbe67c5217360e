import type { ParsedKey } from '../etcd/keys.js';
import type { AgentKindRecord } from '../etcd/values.js';
import type { HostConfig } from '../layout/schema.js';
import { decodeConfiguration, decodeHolder, decoders } from './decode.js';
import type {
  AgentEntry,
  Decoded,
  HostState,
  MirrorSlot,
  PortKeys,
  Slot,
  SnapshotChange,
  Stored,
  TapKeys,
} from './model.js';
import { heldBy } from './model.js';

type PortFamily = 'bind_port' | 'action' | 'port_status' | 'plug_request';
type TapFamily = 'tap_info' | 'tap_action' | 'tap_status';

/** The one writable form of a HostState: the snapshot applies decoded changes to it. */
export class HostRecord implements HostState {
  configuration: Decoded<HostConfig> | undefined;
  agent: AgentEntry | undefined;
  agentKind: Decoded<AgentKindRecord> | undefined;
  readonly slots = new Map<string, Slot>();
  readonly ports = new Map<string, PortKeys>();
  readonly mirrors = new Map<number, MirrorSlot>();
  readonly taps = new Map<string, TapKeys>();
  private sorted: Slot[] | undefined;
  private holders: Map<string, Slot[]> | undefined;

  constructor(readonly host: string) {}

  get empty(): boolean {
    return (
      !this.configuration &&
      !this.agent &&
      !this.agentKind &&
      this.slots.size === 0 &&
      this.ports.size === 0 &&
      this.mirrors.size === 0 &&
      this.taps.size === 0
    );
  }

  sortedSlots(): readonly Slot[] {
    this.sorted ??= [...this.slots.values()].sort((a, b) => a.vhostId - b.vhostId);
    return this.sorted;
  }

  slotsHeldBy(portId: string): readonly Slot[] {
    if (!this.holders) {
      this.holders = new Map();
      for (const slot of this.slots.values()) {
        const holder = heldBy(slot.holder);
        if (holder === undefined) continue;
        const list = this.holders.get(holder);
        if (list) list.push(slot);
        else this.holders.set(holder, [slot]);
      }
    }
    return this.holders.get(portId) ?? [];
  }

  /** Applies one put (with `stored`) or delete (`stored` undefined) of `key`, a key of this host. */
  apply(parsed: ParsedKey, key: string, stored: Stored | undefined, lease = '0'): void {
    switch (parsed.kind) {
      case 'configuration':
        this.configuration = stored && decodeConfiguration(stored);
        return;
      case 'agent':
        this.agent = stored && { ...decoders.agent(stored), lease };
        return;
      case 'agent_kind':
        this.agentKind = stored && decoders.agentKind(stored);
        return;
      case 'vhost':
        this.applySlot(parsed.physnet, parsed.vhostId, key, stored);
        return;
      case 'mirror':
        if (stored) {
          this.mirrors.set(parsed.mirrorId, {
            ...stored,
            mirrorId: parsed.mirrorId,
            holder: decodeHolder(stored),
          });
        } else this.mirrors.delete(parsed.mirrorId);
        return;
      case 'bind_port':
      case 'action':
      case 'port_status':
      case 'plug_request':
        this.applyPort(parsed.kind, parsed.portId, stored);
        return;
      case 'tap_info':
      case 'tap_action':
      case 'tap_status':
        this.applyTap(parsed.kind, parsed.flowId, stored);
        return;
    }
  }

  private applySlot(
    physnet: string,
    vhostId: number,
    key: string,
    stored: Stored | undefined,
  ): void {
    this.sorted = undefined;
    this.holders = undefined;
    if (stored) this.slots.set(key, { ...stored, physnet, vhostId, holder: decodeHolder(stored) });
    else this.slots.delete(key);
  }

  private applyPort(family: PortFamily, portId: string, stored: Stored | undefined): void {
    const entry = this.ports.get(portId) ?? { portId };
    if (family === 'bind_port') entry.bindPort = stored && decoders.bindPort(stored);
    else if (family === 'action') entry.action = stored && decoders.action(stored);
    else if (family === 'port_status') entry.status = stored && decoders.status(stored);
    else entry.plugRequest = stored;
    if (entry.bindPort || entry.action || entry.status || entry.plugRequest)
      this.ports.set(portId, entry);
    else this.ports.delete(portId);
  }

  private applyTap(family: TapFamily, flowId: string, stored: Stored | undefined): void {
    const entry = this.taps.get(flowId) ?? { flowId };
    if (family === 'tap_info') entry.info = stored && decoders.tapInfo(stored);
    else if (family === 'tap_action') entry.action = stored && decoders.action(stored);
    else entry.status = stored && decoders.status(stored);
    if (entry.info || entry.action || entry.status) this.taps.set(flowId, entry);
    else this.taps.delete(flowId);
  }
}

/** Applies a change to whichever HostRecord of `hosts` it belongs to (creating it). */
export function applyChange(
  hosts: Map<string, HostRecord>,
  change: SnapshotChange,
  raw: string,
  lease?: string,
): void {
  let record = hosts.get(change.host);
  if (!record) hosts.set(change.host, (record = new HostRecord(change.host)));
  const stored =
    change.type === 'put' ? { key: change.key, raw, modRevision: change.modRevision } : undefined;
  record.apply(change, change.key, stored, lease);
  if (record.empty) hosts.delete(change.host);
}
