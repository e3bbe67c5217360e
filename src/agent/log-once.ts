/**
 * Log-once memory: what is currently wrong with each subject (a port, a vhost, an SPP
 * process). A problem is logged when it appears or changes, not on every retry, and its
 * end can be logged once too.
 */
export class LogOnce<K> {
  private readonly current = new Map<K, string>();

  /** Records `problem` for `subject`; true when it is new or different (then log it). */
  report(subject: K, problem: string): boolean {
    if (this.current.get(subject) === problem) return false;
    this.current.set(subject, problem);
    return true;
  }

  /** `subject` is fine; true when it had a problem (then log the recovery). */
  clear(subject: K): boolean {
    return this.current.delete(subject);
  }

  has(subject: K): boolean {
    return this.current.has(subject);
  }

  /** Forgets every subject `keep` rejects (e.g. ports that are gone). */
  retain(keep: (subject: K) => boolean): void {
    for (const subject of [...this.current.keys()])
      if (!keep(subject)) this.current.delete(subject);
  }
}
