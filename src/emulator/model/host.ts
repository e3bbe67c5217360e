import { InputError } from '../../util/errors.js';
import type { Dialect, HostSpec, ProcessSpec } from '../spec.js';
import type { Egress } from './dataplane.js';
import { DataPlane } from './dataplane.js';
import type { CommandReply, ProcessLimits, ProcessType } from './process.js';
import { SecondaryProcess } from './process.js';

/**
 * One host's SPP as spp-ctl sees it: spp_primary (id 0) and the secondaries, with spp-ctl's
 * process table (connection order). Pure: no network, no timers.
 */

export const PRIMARY_ID = 0;
const DEFAULT_PORT_TABLE_SIZE = 32;

export type ProcessEntry = { type: 'primary' } | { type: ProcessType; 'client-id': number };

export interface PhyPortStatus {
  id: number;
  eth: string;
  rx: number;
  tx: number;
  tx_drop: number;
}
export interface RingPortStatus {
  id: number;
  rx: number;
  rx_drop: number;
  tx: number;
  tx_drop: number;
}
/** spp_primary's V18 status (SPP-SPEC §3.2.1). */
export interface PrimaryStatus {
  phy_ports: PhyPortStatus[];
  ring_ports: RingPortStatus[];
}

/** Counters spp_primary reports, per phy and per ring. */
export class PrimaryCounters {
  phyRxCount: Float64Array;
  phyTxCount: Float64Array;
  ringRxCount: Float64Array;
  ringRxDropCount: Float64Array;
  ringTxCount: Float64Array;

  constructor(
    readonly nics: number,
    readonly rings: number,
  ) {
    this.phyRxCount = new Float64Array(nics);
    this.phyTxCount = new Float64Array(nics);
    this.ringRxCount = new Float64Array(rings);
    this.ringRxDropCount = new Float64Array(rings);
    this.ringTxCount = new Float64Array(rings);
  }

  clear(): void {
    for (const counters of [
      this.phyRxCount,
      this.phyTxCount,
      this.ringRxCount,
      this.ringRxDropCount,
      this.ringTxCount,
    ]) {
      counters.fill(0);
    }
  }

  phyRx(index: number): void {
    if (index < this.nics) (this.phyRxCount[index] as number)++;
  }
  phyTx(index: number): void {
    if (index < this.nics) (this.phyTxCount[index] as number)++;
  }
  ringRx(index: number): void {
    if (index < this.rings) (this.ringRxCount[index] as number)++;
  }
  ringRxDrop(index: number): void {
    if (index < this.rings) (this.ringRxDropCount[index] as number)++;
  }
  ringTx(index: number): void {
    if (index < this.rings) (this.ringTxCount[index] as number)++;
  }
}

/** A MAC for NIC k in the documentation range 00:53:00:xx:xx:xx (lower-case, as spp_primary prints). */
export function nicMac(index: number): string {
  const bytes = [0x00, 0x53, 0x00, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff];
  return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/**
 * Entries per port type: the spec's value, else 32 — raised to the ring and NIC counts when
 * those exceed it, so that every ring spp_primary creates can be attached.
 */
export function effectivePortTableSize(spec: HostSpec): number {
  return spec.portTableSize ?? Math.max(DEFAULT_PORT_TABLE_SIZE, spec.rings, spec.nics);
}

function checkSpec(spec: HostSpec): void {
  const count = (value: number, what: string, min: number) => {
    if (!Number.isInteger(value) || value < min) {
      throw new InputError(
        `emulator host spec: ${what} must be an integer >= ${min}, got ${value}`,
      );
    }
  };
  count(spec.nics, 'nics', 0);
  count(spec.rings, 'rings', 0);
  if (spec.portTableSize !== undefined) count(spec.portTableSize, 'portTableSize', 1);
  if (spec.dialect !== '18.08' && spec.dialect !== '19.11') {
    throw new InputError(
      `emulator host spec: dialect must be 18.08 or 19.11, got ${String(spec.dialect)}`,
    );
  }
  const seen = new Set<number>();
  for (const process of spec.processes) {
    if (!Number.isInteger(process.clientId) || process.clientId < 1 || process.clientId > 127) {
      throw new InputError(
        `emulator host spec: client id must be an integer 1..127, got ${process.clientId}`,
      );
    }
    if (seen.has(process.clientId)) {
      throw new InputError(`emulator host spec: client id ${process.clientId} is used twice`);
    }
    if (process.type !== 'vf' && process.type !== 'mirror') {
      throw new InputError(
        `emulator host spec: client ${process.clientId}: type must be vf or mirror, got ${String(process.type)}`,
      );
    }
    seen.add(process.clientId);
  }
}

export class SppHost {
  readonly dialect: Dialect;
  readonly limits: ProcessLimits;
  readonly counters: PrimaryCounters;
  readonly dataPlane: DataPlane;
  private readonly specs = new Map<number, ProcessSpec>();
  private readonly instances = new Map<number, SecondaryProcess>();
  /** spp-ctl's process table: connected ids in connection order (0 = spp_primary). */
  private readonly table: number[] = [];

  constructor(readonly spec: HostSpec) {
    checkSpec(spec);
    this.dialect = spec.dialect;
    this.limits = {
      nics: spec.nics,
      rings: spec.rings,
      portTableSize: effectivePortTableSize(spec),
    };
    this.counters = new PrimaryCounters(spec.nics, spec.rings);
    this.table.push(PRIMARY_ID);
    for (const process of spec.processes) {
      this.specs.set(process.clientId, process);
      this.instances.set(process.clientId, this.boot(process));
      this.table.push(process.clientId);
    }
    this.dataPlane = new DataPlane(() => this.connectedSecondaries(), spec.nics, this.counters);
  }

  private boot(process: ProcessSpec): SecondaryProcess {
    return new SecondaryProcess(
      process.clientId,
      process.type,
      process.coreMask,
      this.dialect,
      this.limits,
    );
  }

  /** Client ids the host runs (whether connected or not), primary excluded. */
  clientIds(): number[] {
    return [...this.specs.keys()];
  }

  hasProcess(clientId: number): boolean {
    return clientId === PRIMARY_ID || this.specs.has(clientId);
  }

  isConnected(clientId: number): boolean {
    return this.table.includes(clientId);
  }

  /** A connected secondary, or undefined (absent, exited, or not on this host). */
  process(clientId: number): SecondaryProcess | undefined {
    if (clientId === PRIMARY_ID || !this.table.includes(clientId)) return undefined;
    return this.instances.get(clientId);
  }

  /** The current instance of a secondary, connected or not (for inspection). */
  instance(clientId: number): SecondaryProcess | undefined {
    return this.instances.get(clientId);
  }

  connectedSecondaries(): SecondaryProcess[] {
    const out: SecondaryProcess[] = [];
    for (const id of [...this.table].sort((a, b) => a - b)) {
      const process = id === PRIMARY_ID ? undefined : this.instances.get(id);
      if (process) out.push(process);
    }
    return out;
  }

  /** GET /v1/processes (SPP-SPEC §2.7). */
  processTable(): ProcessEntry[] {
    return this.table.map((id) => {
      if (id === PRIMARY_ID) return { type: 'primary' };
      const process = this.instances.get(id) as SecondaryProcess;
      return { type: process.type, 'client-id': id };
    });
  }

  /** Sends one command to a connected secondary; `exit` removes it from the table. */
  command(clientId: number, text: string): CommandReply {
    const process = this.process(clientId);
    if (!process) throw new Error(`client ${clientId} is not connected`);
    const reply = process.execute(text);
    if (reply.result === 'success' && reply.exit) this.disconnect(clientId);
    return reply;
  }

  /** The process drops off spp-ctl's table (crash, exit, restart in progress). */
  disconnect(clientId: number): void {
    const at = this.table.indexOf(clientId);
    if (at >= 0) this.table.splice(at, 1);
  }

  /** The process (re)connects: appended to the table unless already there. */
  connect(clientId: number): void {
    if (!this.hasProcess(clientId)) throw new Error(`no process ${clientId} on this host`);
    if (!this.table.includes(clientId)) this.table.push(clientId);
  }

  /**
   * Restarts a process with empty state (a new spp_vf/spp_mirror: no components, no added
   * vhost/ring ports, no classification ids or VLAN ops). The primary restarts with zeroed
   * counters. `connected` false leaves it off the table (call connect() later).
   */
  restart(clientId: number, connected = true): void {
    if (clientId === PRIMARY_ID) this.counters.clear();
    else {
      const spec = this.specs.get(clientId);
      if (!spec) throw new Error(`no process ${clientId} on this host`);
      this.instances.set(clientId, this.boot(spec));
    }
    if (connected) this.connect(clientId);
    else this.disconnect(clientId);
  }

  primaryConnected(): boolean {
    return this.table.includes(PRIMARY_ID);
  }

  primaryStatus(): PrimaryStatus {
    const c = this.counters;
    return {
      phy_ports: Array.from({ length: this.spec.nics }, (_, id) => ({
        id,
        eth: nicMac(id),
        rx: c.phyRxCount[id] as number,
        tx: c.phyTxCount[id] as number,
        tx_drop: 0,
      })),
      ring_ports: Array.from({ length: this.spec.rings }, (_, id) => ({
        id,
        rx: c.ringRxCount[id] as number,
        rx_drop: c.ringRxDropCount[id] as number,
        tx: c.ringTxCount[id] as number,
        tx_drop: 0,
      })),
    };
  }

  /** A frame from the wire on phy:k or from a VM into vhost:N; where it left SPP. */
  inject(kind: 'phy' | 'vhost', index: number, frame: Buffer): Egress[] {
    return this.dataPlane.inject(kind, index, frame);
  }
}
