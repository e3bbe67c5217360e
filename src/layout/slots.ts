import type { HostConfig } from './schema.js';

/** One vhost slot a host layout defines: its physnet and its host-wide vhost id. */
export interface LayoutSlot {
  physnet: string;
  vhostId: number;
}

/**
 * The vhost slots of a layout, in vhost order: NIC 0 gets ids 0..n0-1, NIC 1 continues at
 * n0, and so on (SYSTEM.md §3.2). `host build` writes exactly these slot keys.
 */
export function layoutSlots(config: HostConfig): LayoutSlot[] {
  const slots: LayoutSlot[] = [];
  let vhostId = 0;
  for (const vf of config.vf) {
    for (let index = 0; index < vf.num_vhost; index++) {
      slots.push({ physnet: vf.physical_network, vhostId: vhostId++ });
    }
  }
  return slots;
}

/** `<physnet>/<vhost id>` of every slot of a layout, for membership checks. */
export function layoutSlotNames(config: HostConfig): Set<string> {
  return new Set(layoutSlots(config).map((slot) => `${slot.physnet}/${slot.vhostId}`));
}

/** The SPP physical networks of a layout. */
export function layoutPhysnets(config: HostConfig): Set<string> {
  return new Set(config.vf.map((vf) => vf.physical_network));
}
