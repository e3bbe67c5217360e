import { InputError } from '../util/errors.js';

/** Collects a repeatable option (e.g. `--config-file`) into a list, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** `--log-level`, checked; `undefined` means the default, `info`. */
export function checkLogLevel(level: string | undefined): string {
  const chosen = level ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(chosen)) {
    throw new InputError(`--log-level: must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return chosen;
}
