/**
 * One holder at a time per SPP process: a spp_vf's own run and a tap run that touches its
 * forwarders must not interleave their calls (a build could re-attach a ring a tap step
 * has just moved). Several locks are always taken in sorted order, so runs cannot deadlock.
 */
export class ProcessLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async with<T>(names: readonly string[], run: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(names)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const name of sorted) releases.push(await this.acquire(name));
      return await run();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  private async acquire(name: string): Promise<() => void> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(name, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    };
  }
}
