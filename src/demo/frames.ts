/** Ethernet frames for the demo's data-path checks: built and described independently of SPP. */

const TPID_8021Q = 0x8100;

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((byte) => parseInt(byte, 16)));
}

function macText(bytes: Buffer): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** An IPv4-typed frame from `src` to `dst`, 802.1Q-tagged when `vlanId` is given. */
export function ethernetFrame(dst: string, src: string, vlanId?: number): Buffer {
  const tag =
    vlanId === undefined
      ? Buffer.alloc(0)
      : Buffer.from([TPID_8021Q >> 8, TPID_8021Q & 0xff, (vlanId >> 8) & 0x0f, vlanId & 0xff]);
  const payload = Buffer.from('4500001c000040004011000a0a000001', 'hex');
  return Buffer.concat([macBytes(dst), macBytes(src), tag, Buffer.from([0x08, 0x00]), payload]);
}

export interface FrameSummary {
  dst: string;
  src: string;
  /** VLAN id of the 802.1Q tag, undefined when untagged. */
  vlanId?: number;
}

export function describeFrame(frame: Buffer): FrameSummary {
  const summary: FrameSummary = {
    dst: macText(frame.subarray(0, 6)),
    src: macText(frame.subarray(6, 12)),
  };
  if (frame.length >= 16 && frame.readUInt16BE(12) === TPID_8021Q) {
    summary.vlanId = frame.readUInt16BE(14) & 0x0fff;
  }
  return summary;
}

export function tagText(vlanId: number | undefined): string {
  return vlanId === undefined ? 'untagged' : `vlan ${vlanId}`;
}
