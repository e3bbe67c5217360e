import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const live = new Set<ChildProcess>();
let hooked = false;

/**
 * Registers a child process to be killed if this process exits without stopping it (a
 * failed test, Ctrl-C in the demo), so no etcd, agent or emulator outlives its owner.
 * Children started with `detached: true` are killed as a whole process group.
 */
export function trackChild(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const each of live) killTree(each, 'SIGKILL');
    });
  }
  return child;
}

export function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Stops a child: `signal` to it (its process group when detached), SIGKILL after `graceMs`,
 * then SIGKILL to the group so that no helper it spawned (neutron workers, Erlang helpers)
 * outlives it. Resolves with how the child exited.
 */
export async function stopChild(
  child: ChildProcess,
  graceMs: number,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<ChildExit> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    killTree(child, signal);
    const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // no such group, or it is gone already
    }
  }
  return { code: child.exitCode, signal: child.signalCode };
}
