/** Why a wait ended without what it waited for. */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

/**
 * Resolves with `promise`'s value, or rejects with DeadlineExceeded after `ms` or when
 * `signal` aborts, whichever comes first. The promise itself is left to settle (its
 * rejection is observed, so it never becomes an unhandled one). A plain timer rather than
 * AbortSignal.timeout/any: this wraps every etcd call, and those signals cost several
 * times more CPU to create.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const end = (error: Error | undefined, value?: T) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(value as T);
    };
    const onAbort = () => end(new DeadlineExceeded(`${what}: aborted`));
    const timer = setTimeout(
      () => end(new DeadlineExceeded(`${what}: no answer within ${ms} ms`)),
      Math.max(0, Math.ceil(ms)),
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => end(undefined, value),
      (error: unknown) => end(error instanceof Error ? error : new Error(String(error))),
    );
  });
}

/** Waits for `promise` to settle, at most `ms`; never rejects (for best-effort clean-up). */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(promise, ms, 'clean-up').catch(() => undefined);
}
