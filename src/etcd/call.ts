import type { CallOptions } from '@grpc/grpc-js';
import { BrokenCircuitError } from 'cockatiel';
import { Backoff, sleep } from '../util/backoff.js';
import { withDeadline } from '../util/deadline.js';
import { EtcdCallAborted, retryable } from './failure.js';

/** How long EtcdStore's calls may take. */
export interface CallTimeouts {
  /** The whole call, all attempts on all members included (ms). */
  requestTimeoutMs: number;
  /** One attempt on one member (ms); a member that does not answer costs at most this. */
  attemptTimeoutMs: number;
}

/** The shortest attempt worth making at the end of a call's deadline (ms). */
const MIN_ATTEMPT_MS = 100;

/**
 * Runs `attempt` until it succeeds, within the call's deadline: each attempt gets its own
 * gRPC deadline (`options`, a member that does not answer costs one attempt, not the
 * call) and the client's member choice skips members whose circuit is open, so a call
 * whose member is unreachable, or not the leader, or whose leader changed, is retried on
 * the other members. A guarded transaction is safe to retry: if an attempt that timed out
 * was applied after all, its compare fails on the retry and the caller sees a conflict,
 * exactly as if another writer had won; callers then re-read and re-plan (a bind finds
 * its own claim and keeps it), so nothing is applied twice. Unguarded puts and deletes
 * write the same value again.
 */
export async function callWithFailover<T>(
  what: string,
  attempt: (options: CallOptions) => Promise<T>,
  timeouts: CallTimeouts,
  stop: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeouts.requestTimeoutMs;
  const backoff = new Backoff(25, 250);
  // A member's open circuit says nothing of why it failed: report the failure itself.
  let cause: unknown;
  for (;;) {
    if (stop.aborted) throw new EtcdCallAborted(`etcd ${what}: aborted`);
    const budget = Math.min(timeouts.attemptTimeoutMs, deadline - Date.now());
    // Too little time left for an attempt to mean anything: report why the others failed.
    if (cause !== undefined && budget < MIN_ATTEMPT_MS) throw cause;
    try {
      // The gRPC deadline ends the call; withDeadline is the backstop for a client that
      // does not honour it, and ends the wait at once on abort.
      return await withDeadline(
        attempt({ deadline: Date.now() + budget }),
        budget + 250,
        `etcd ${what}`,
        stop,
      );
    } catch (error) {
      if (stop.aborted) throw new EtcdCallAborted(`etcd ${what}: aborted`);
      if (!(error instanceof BrokenCircuitError) || cause === undefined) cause = error;
      const pause = backoff.next();
      if (!retryable(error) || Date.now() + pause + MIN_ATTEMPT_MS >= deadline) throw cause;
      await sleep(pause, stop);
    }
  }
}
