import type { KeyEvent } from '../../snapshot/listeners.js';
import type { Listeners } from '../../snapshot/listeners.js';

export type WaitResult =
  | Exclude<KeyEvent, { type: 'resync' }>
  | { type: 'resync' }
  | { type: 'timeout' }
  | { type: 'aborted'; reason: string };

/**
 * The changes of a few keys, in order, for one waiting operation. It is created before the
 * operation reads or writes anything ("listen before looking"), so no change can slip by.
 */
export class KeySubscription {
  private readonly queue: KeyEvent[] = [];
  private wake: (() => void) | undefined;
  private readonly off: () => void;

  constructor(
    listeners: Listeners,
    keyNames: readonly string[],
    private readonly shutdown: AbortSignal,
  ) {
    this.off = listeners.onKeys(keyNames, (event) => {
      this.queue.push(event);
      this.wake?.();
    });
  }

  /** The next change above `floor` (events at or below it are already known), or why there is none by `until`. */
  async next(until: number, floor: number): Promise<WaitResult> {
    for (;;) {
      if (this.shutdown.aborted) return { type: 'aborted', reason: String(this.shutdown.reason) };
      const event = this.queue.shift();
      if (event) {
        if (event.type === 'resync' || event.modRevision > floor) return event;
        continue;
      }
      const remaining = until - Date.now();
      if (remaining <= 0) return { type: 'timeout' };
      await this.sleep(remaining);
    }
  }

  close(): void {
    this.off();
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.shutdown.removeEventListener('abort', finish);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.shutdown.addEventListener('abort', finish, { once: true });
      this.wake = finish;
    });
  }
}
