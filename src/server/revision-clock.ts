interface Sample {
  /** Highest revision seen in this window, and when (the window's last sighting). */
  revision: number;
  time: number;
  opened: number;
}

/**
 * Maps etcd revisions to (a lower bound of) their age, from when this process saw them
 * arrive on its watch. Sightings are merged into windows of one second.
 */
export class RevisionClock {
  private readonly samples: Sample[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    private readonly keepMs = 3_600_000,
  ) {}

  observe(revision: number): void {
    const time = this.now();
    const last = this.samples[this.samples.length - 1];
    if (last && revision <= last.revision) return;
    if (last && time - last.opened < 1000) {
      last.revision = revision;
      last.time = time;
    } else {
      this.samples.push({ revision, time, opened: time });
    }
    while (this.samples.length > 2 && (this.samples[0] as Sample).time < time - this.keepMs) {
      this.samples.shift();
    }
  }

  /**
   * Milliseconds since a key written at `revision` was written, at least: the time since
   * this process first saw a revision at or above it (0 when not seen yet).
   */
  ageOf(revision: number): number {
    const now = this.now();
    // Binary search for the first sample whose revision covers `revision`.
    let low = 0;
    let high = this.samples.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.samples[mid] as Sample).revision >= revision) high = mid;
      else low = mid + 1;
    }
    const sample = this.samples[low];
    return sample ? Math.max(0, now - sample.time) : 0;
  }
}
