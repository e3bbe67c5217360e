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
    if (controller.signal.aborted) exitSoon();
  }
}

/** How long a stopped process waits for its last writes before it exits (ms). */
const EXIT_GRACE_MS = 100;

/**
 * The work has stopped; nothing that a library still holds may keep the process alive:
 * grpc-js never gives up a connection attempt to an etcd member that accepted the TCP
 * connection but never answers (black-holed), and that socket would keep the event loop
 * running forever. The timer is unref'd, so a process with nothing left exits at once.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
