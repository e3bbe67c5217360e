import type { Direction, PortKind } from './ports.js';
import { UNTAGGED_VID } from './ports.js';
import type { Component, PortState, SecondaryProcess, VlanSlot } from './process.js';
import { classifierTables } from './process.js';

/**
 * Frames through the components (SPP-SPEC §6), one frame at a time: no queues, no bursts.
 * Rings are host-global (ring:N of spp_vf 1 and of spp_mirror is one primary ring); a frame
 * on a port is read by the first *ready* component (lowest client id, then lowest component
 * slot) that has it as an rx port; if no ready component reads it, it is dropped (a real
 * ring would hold it until it fills). Sends to phy:k leave to the wire, sends to vhost:N
 * leave towards the VM.
 */

export interface Egress {
  /** `phy:k` (to the wire) or `vhost:N` (to the VM). */
  port: string;
  frame: Buffer;
}

/** Counters of spp_primary's status, bumped by the data plane. */
export interface TrafficCounters {
  phyRx(index: number): void;
  phyTx(index: number): void;
  ringRx(index: number): void;
  ringTx(index: number): void;
  ringRxDrop(index: number): void;
}

const TPID = 0x8100;
/** Generous: the longest path in any sane layout is a handful of hops. */
export const MAX_HOPS = 64;

/** Applies one VLAN op to a frame (§6.1); returns a new buffer when it changes. */
export function applyVlanOp(frame: Buffer, op: 'add' | 'del', vid: number, pcp: number): Buffer {
  const tagged = frame.length >= 16 && frame.readUInt16BE(12) === TPID;
  if (op === 'add') {
    const tci = ((pcp << 13) | (vid & 0xfff)) & 0xffff;
    if (tagged) {
      const out = Buffer.from(frame);
      out.writeUInt16BE(tci, 14);
      return out;
    }
    const out = Buffer.alloc(frame.length + 4);
    frame.copy(out, 0, 0, 12);
    out.writeUInt16BE(TPID, 12);
    out.writeUInt16BE(tci, 14);
    frame.copy(out, 16, 12);
    return out;
  }
  if (!tagged) return frame;
  return Buffer.concat([frame.subarray(0, 12), frame.subarray(16)]);
}

/** Every op of (port, direction) in slot order, each with the first op's VID/PCP (§6.1). */
function applyVlanOps(frame: Buffer, ops: VlanSlot[]): Buffer {
  const first = ops[0];
  if (!first) return frame;
  let out = frame;
  for (const op of ops) out = applyVlanOp(out, op.op, first.vid, first.pcp);
  return out;
}

/** VID the classifier sees: the tag's VID, or 4095 for untagged frames (§6.4 step 1). */
export function frameVid(frame: Buffer): number {
  if (frame.length >= 16 && frame.readUInt16BE(12) === TPID) return frame.readUInt16BE(14) & 0xfff;
  return UNTAGGED_VID;
}

function destinationMac(frame: Buffer): number {
  return frame.readUIntBE(0, 6);
}

/** Whether a component reads its rx ports at all (§6.2–6.5). */
export function isReady(component: Component): boolean {
  const rx = component.rx.length;
  const tx = component.tx.length;
  switch (component.kind) {
    case 'forward':
      return rx === 1 && tx === 1;
    case 'merge':
      return rx >= 1 && tx === 1;
    case 'mirror':
      return rx === 1 && tx === 2;
    case 'classifier':
      return rx >= 1 && tx >= 1 && component.tx.some((port) => port.classMac !== 0);
  }
}

/** Tx ports a classifier sends a frame to (§6.4 step 3); empty = drop. */
export function classify(component: Component, frame: Buffer): PortState[] {
  const tables = classifierTables(component);
  const vid = frameVid(frame);
  const generalDefault = tables.get(UNTAGGED_VID)?.defaultPort;
  const fallback = generalDefault ? [generalDefault] : [];
  const table = tables.get(vid);
  if (!table) return fallback;
  const dst = destinationMac(frame);
  const found = table.macs.get(dst);
  if (found) return [found];
  const multicast = (frame[0] as number) & 1;
  if (multicast) {
    const targets = [...table.holders];
    if (vid !== UNTAGGED_VID && generalDefault) targets.push(generalDefault);
    return targets;
  }
  if (vid !== UNTAGGED_VID && !table.defaultPort) return fallback;
  return table.defaultPort ? [table.defaultPort] : [];
}

interface Reader {
  process: SecondaryProcess;
  component: Component;
  port: PortState;
}

/** The data plane of one host: `processes` are the connected secondaries, in id order. */
export class DataPlane {
  constructor(
    private readonly processes: () => SecondaryProcess[],
    private readonly nics: number,
    private readonly counters?: TrafficCounters,
  ) {}

  /**
   * A frame arriving from the wire on `phy:k` or sent by a VM into `vhost:N`; returns where
   * it (and its copies) left SPP, in the order they left.
   */
  inject(kind: 'phy' | 'vhost', index: number, frame: Buffer): Egress[] {
    const egress: Egress[] = [];
    if (kind === 'phy') this.counters?.phyRx(index);
    this.arrive(kind, index, frame, 0, egress);
    return egress;
  }

  /** First ready component of any process that reads (kind, index). */
  private reader(kind: PortKind, index: number): Reader | undefined {
    for (const process of this.processes()) {
      const port = process.port(kind, index);
      if (!port) continue;
      for (const component of process.components()) {
        const reads =
          component.kind === 'classifier' ? component.rx[0] === port : component.rx.includes(port);
        if (reads && isReady(component)) return { process, component, port };
      }
    }
    return undefined;
  }

  private arrive(
    kind: PortKind,
    index: number,
    frame: Buffer,
    hops: number,
    egress: Egress[],
  ): void {
    if (hops >= MAX_HOPS) return;
    const reader = this.reader(kind, index);
    if (kind === 'ring') {
      if (!reader) {
        this.counters?.ringRxDrop(index);
        return;
      }
      this.counters?.ringRx(index);
    }
    if (!reader) return;
    const { process, component, port } = reader;
    const received = applyVlanOps(frame, process.vlanOps(port, 'rx'));
    let sends: Array<[PortState, Buffer]>;
    switch (component.kind) {
      case 'forward':
      case 'merge':
        sends = [[component.tx[0] as PortState, received]];
        break;
      case 'mirror':
        sends = [
          [component.tx[0] as PortState, received],
          [component.tx[1] as PortState, Buffer.from(received)],
        ];
        break;
      case 'classifier':
        sends = classify(component, received).map((target, copy) => [
          target,
          copy === 0 ? received : Buffer.from(received),
        ]);
        break;
    }
    for (const [target, body] of sends) {
      this.send(process, target, 'tx', body, hops + 1, egress);
    }
  }

  private send(
    process: SecondaryProcess,
    port: PortState,
    dir: Direction,
    frame: Buffer,
    hops: number,
    egress: Egress[],
  ): void {
    const out = applyVlanOps(frame, process.vlanOps(port, dir));
    switch (port.kind) {
      case 'phy':
        if (port.index < this.nics) {
          this.counters?.phyTx(port.index);
          egress.push({ port: port.key, frame: out });
        }
        return;
      case 'vhost':
        egress.push({ port: port.key, frame: out });
        return;
      case 'ring':
        this.counters?.ringTx(port.index);
        this.arrive('ring', port.index, out, hops, egress);
        return;
    }
  }
}
