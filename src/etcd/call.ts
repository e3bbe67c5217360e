import type { CallOptions } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { GRPCDeadlineExceededError } from 'etcd3';
import { Backoff, sleep } from '../util/backoff.js';
import { DeadlineExceeded, withDeadline } from '../util/deadline.js';
import { EtcdCallAborted, retryable } from './failure.js';
import type { Members } from './members.js';

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
 * Runs `attempt` until it succeeds, within the call's deadline. Each attempt goes to a
 * member of its own choosing (`Members`: one this call has not tried yet, the one that
 * answered last first) and gets its own gRPC deadline, so a member that is unreachable,
 * black-holed or not the leader costs the call one attempt, and the call moves on to the
 * others. A guarded transaction is safe to retry: if an attempt that timed out was
 * applied after all, its compare fails on the retry and the caller sees a conflict,
 * exactly as if another writer had won; callers then re-read and re-plan (a bind finds
 * its own claim and keeps it), so nothing is applied twice. Unguarded puts and deletes
 * write the same value again.
 */
export async function callWithFailover<T>(
  what: string,
  attempt: (options: CallOptions, client: Etcd3) => Promise<T>,
  timeouts: CallTimeouts,
  stop: AbortSignal,
  members: Members,
): Promise<T> {
  const deadline = Date.now() + timeouts.requestTimeoutMs;
  const backoff = new Backoff(25, 250);
  const tried = new Set<number>();
  let cause: unknown;
  for (;;) {
    if (stop.aborted) throw new EtcdCallAborted(`etcd ${what}: aborted`);
    const budget = Math.min(timeouts.attemptTimeoutMs, deadline - Date.now());
    // Too little time left for an attempt to mean anything: report why the others failed.
    if (cause !== undefined && budget < MIN_ATTEMPT_MS) throw cause;
    const member = members.next(tried);
    try {
      // The gRPC deadline ends the call; withDeadline is the backstop for a client that
      // does not honour it (a call waiting for a connection), and ends the wait on abort.
      const result = await withDeadline(
        attempt({ deadline: Date.now() + budget }, member.client),
        budget + 250,
        `etcd ${what}`,
        stop,
      );
      members.succeeded(member);
      return result;
    } catch (error) {
      if (stop.aborted) throw new EtcdCallAborted(`etcd ${what}: aborted`);
      cause = error;
      if (!retryable(error)) throw error;
      members.failed(member, timedOut(error));
      // Every member tried once: pause before the next round (a leader election, say).
      if (tried.size < members.size) continue;
      const pause = backoff.next();
      if (Date.now() + pause + MIN_ATTEMPT_MS >= deadline) throw cause;
      await sleep(pause, stop);
    }
  }
}

function timedOut(error: unknown): boolean {
  return error instanceof DeadlineExceeded || error instanceof GRPCDeadlineExceededError;
}
