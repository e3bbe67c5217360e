import type { EtcdStore } from '../../src/etcd/store.js';
import type { HostState, Slot } from '../../src/snapshot/model.js';
import { heldBy } from '../../src/snapshot/model.js';
import { readHost } from '../../src/snapshot/read.js';

/** The host as etcd has it now. */
export async function hostState(store: EtcdStore, host: string): Promise<HostState> {
  return (await readHost(store, host)).host;
}

/** The slot `portId` holds, if any. */
export function slotOf(state: HostState, portId: string): Slot | undefined {
  return state.slotsHeldBy(portId)[0];
}

/** Port id → slot, for every slot in use. */
export function usedSlots(state: HostState): Map<string, Slot> {
  const used = new Map<string, Slot>();
  for (const slot of state.sortedSlots()) {
    const holder = heldBy(slot.holder);
    if (holder !== undefined) used.set(holder, slot);
  }
  return used;
}
