/**
 * Slot keys this process is claiming or has just claimed, counted per claimer: concurrent
 * binds (and syncs) of one process avoid each other's slots instead of colliding in etcd.
 */
export class SlotReservations {
  private readonly counts = new Map<string, number>();

  reserve(slotKey: string): void {
    this.counts.set(slotKey, (this.counts.get(slotKey) ?? 0) + 1);
  }

  release(slotKey: string): void {
    const count = (this.counts.get(slotKey) ?? 1) - 1;
    if (count <= 0) this.counts.delete(slotKey);
    else this.counts.set(slotKey, count);
  }

  has(slotKey: string): boolean {
    return this.counts.has(slotKey);
  }
}

/** (host, port) pairs with an operation running in this process, counted. */
export class RunningPairs {
  private readonly counts = new Map<string, number>();

  private static key(host: string, portId: string): string {
    return `${host}\u0000${portId}`;
  }

  enter(host: string, portId: string): () => void {
    const key = RunningPairs.key(host, portId);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return () => {
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }

  has(host: string, portId: string): boolean {
    return this.counts.has(RunningPairs.key(host, portId));
  }
}
