import { InputError, errorMessage } from '../util/errors.js';

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
  process.exit(70);
}

/**
 * Runs a command's body with the CLI's exit conventions: bad input is one line on stderr
 * and exit code 2, any other failure one line and exit code 1, an internal fault exit 70.
 * `ownExit` lets a caller claim errors that carry their own exit code (e.g. commander's).
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
    process.exitCode = error instanceof InputError ? 2 : 1;
  }
}
