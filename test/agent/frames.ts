import type { Egress } from '../../src/emulator/model/dataplane.js';

/** Builds an Ethernet frame (optionally 802.1Q-tagged) as bytes, independently of the emulator. */
export function frame(dst: string, src: string, vlanId?: number): Buffer {
  const mac = (text: string) => Buffer.from(text.split(':').map((byte) => parseInt(byte, 16)));
  const tag =
    vlanId === undefined
      ? Buffer.alloc(0)
      : Buffer.from([0x81, 0x00, (vlanId >> 8) & 0x0f, vlanId & 0xff]);
  const payload = Buffer.from('45000014000000004000000000000000', 'hex');
  return Buffer.concat([mac(dst), mac(src), tag, Buffer.from([0x08, 0x00]), payload]);
}

export const WIRE_MAC = '52:54:00:aa:bb:cc';

/** Where frames left SPP, as comparable `[port, frame hex]` pairs. */
export function egressOf(list: Egress[]): Array<[string, string]> {
  return list.map((out) => [out.port, out.frame.toString('hex')]);
}
