/** Why a wait ended without what it waited for. */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

/**
 * Resolves with `promise`'s value, or rejects with DeadlineExceeded after `ms` or when
 * `signal` aborts, whichever comes first. The promise itself is left to settle (its
 * rejection is observed, so it never becomes an unhandled one).
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  signal?: AbortSignal,
): Promise<T> {
  const timeout = AbortSignal.timeout(Math.max(0, Math.ceil(ms)));
  const limit = signal ? AbortSignal.any([signal, timeout]) : timeout;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(
        new DeadlineExceeded(
          signal?.aborted ? `${what}: aborted` : `${what}: no answer within ${ms} ms`,
        ),
      );
    if (limit.aborted) return onAbort();
    limit.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        limit.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        limit.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Waits for `promise` to settle, at most `ms`; never rejects (for best-effort clean-up). */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(promise, ms, 'clean-up').catch(() => undefined);
}
