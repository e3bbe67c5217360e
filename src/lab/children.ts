import type { ChildProcess } from 'node:child_process';

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
