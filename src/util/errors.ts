/**
 * An error caused by input an operator gave us (a flag, a config file, an etcd value).
 * The CLI prints its message as one line and exits non-zero, without a stack trace.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * A service the program needs (etcd) cannot be reached. The CLI prints the message as one
 * line and exits 69 (sysexits' EX_UNAVAILABLE): worth retrying, unlike bad input (2).
 */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}
