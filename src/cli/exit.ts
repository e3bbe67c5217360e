import { InputError, UnavailableError, errorMessage } from '../util/errors.js';

/**
 * A fault outside any request path (e.g. a library throwing from an event handler) ends the
 * process with one line naming the error and where it came from, for the service manager
 * to restart it, rather than a multi-line trace in the middle of the JSON logs.
 */
function exitOnInternalError(program: string, error: unknown): void {
  const where = error instanceof Error ? error.stack?.split('\n')[1]?.trim() : undefined;
  process.stderr.write(
    `${program}: internal error: ${errorMessage(error)}${where ? ` (${where})` : ''}\n`,
  );
  process.exit(EXIT.internal);
}

/**
 * The exit codes of every command (README, "Exit codes"): 0 done; 1 the command could not
 * do what was asked, for the reason it prints (e.g. a host in use, an address taken);
 * 2 bad input or configuration (fix it, do not retry as is); 69 etcd unreachable (retry
 * later or point at another etcd); 70 an internal fault (a bug: report it).
 */
export const EXIT = { failed: 1, badInput: 2, unavailable: 69, internal: 70 } as const;

/** The table of EXIT for --help. */
export const EXIT_HELP = `
Exit codes: 0 done; 1 could not do what was asked (the reason is printed); 2 bad input or
configuration; 69 etcd unreachable; 70 internal fault.`;

export function exitCodeOf(error: unknown): number {
  if (error instanceof InputError) return EXIT.badInput;
  if (error instanceof UnavailableError) return EXIT.unavailable;
  return EXIT.failed;
}

/**
 * Runs a command's body with the CLI's exit conventions (EXIT): a failure is one line on
 * stderr, never a stack trace. `ownExit` lets a caller claim errors that carry their own
 * exit code (e.g. commander's).
 */
export async function runWithExitCodes(
  program: string,
  body: () => Promise<void>,
  ownExit: (error: unknown) => number | undefined = () => undefined,
): Promise<void> {
  const internalError = (error: unknown) => exitOnInternalError(program, error);
  process.on('uncaughtException', internalError);
  process.on('unhandledRejection', internalError);
  try {
    await body();
  } catch (error) {
    const code = ownExit(error);
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
    process.stderr.write(`${program}: ${errorMessage(error)}\n`);
    process.exitCode = exitCodeOf(error);
  }
}
