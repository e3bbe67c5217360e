import type { Logger } from 'pino';

/**
 * Runs a long-running command with a signal that aborts on the first SIGTERM or SIGINT, so
 * the work in progress can finish; a second signal exits at once with code 1.
 */
export async function runUntilSignalled(
  logger: Logger,
  stopping: string,
  work: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'second signal, exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, stopping);
    controller.abort();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await work(controller.signal);
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
