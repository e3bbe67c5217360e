import { keys } from '../etcd/keys.js';
import type { Condition, Operation } from '../etcd/store.js';

/*
 * Re-announcing `up` for plug requests written by the original driver (issue 15).
 *
 * The original driver writes `bind_port`, then `action = plug`, and only when that put has
 * returned opens a watch on `port_status` with no start revision (SYSTEM.md §4.1). Our
 * agent answers within a few milliseconds, so its `up` can be committed before that watch
 * exists, and the driver never sees it. A watch sees every write made after it opened, so
 * writing `up` again later reaches a watch opened late. The agent re-puts `up` at the
 * offsets below after its first `up` (each write guarded by the port's keys being as it
 * left them), for requests without the marker our binding service writes with its own
 * requests (`plug_request/<host>/<port>`: the service watches from its transaction's
 * revision and cannot miss the first `up`).
 *
 * A watch opened L ms after the first `up` sees the first re-announce after L: with
 * offsets first·factor^k it comes at most max(first, factor·L) after the first `up`, so
 * within (factor - 1)·L (or `first`) of the watch opening, far inside the watch's 20 s.
 */

export interface AnnounceSchedule {
  /** First re-announce, after the first `up` (ms). */
  firstDelayMs: number;
  /** Each later one is this many times further from the first `up`. */
  factor: number;
  /** No re-announce this long (or longer) after the first `up`: the original's watch lasts 20 s. */
  horizonMs: number;
}

/** 50 ms, 200 ms, 0.8 s, 3.2 s, 12.8 s after the first `up`: five extra writes per plug. */
export const ORIGINAL_DRIVER_SCHEDULE: AnnounceSchedule = {
  firstDelayMs: 50,
  factor: 4,
  horizonMs: 20_000,
};

/** The offsets (ms after the first `up`) of every re-announce, ascending. */
export function announceOffsets(schedule: AnnounceSchedule = ORIGINAL_DRIVER_SCHEDULE): number[] {
  const { firstDelayMs, factor, horizonMs } = schedule;
  if (!(firstDelayMs > 0) || !(factor > 1) || !Number.isFinite(horizonMs)) {
    throw new RangeError(
      'an announce schedule needs firstDelayMs > 0, factor > 1, a finite horizon',
    );
  }
  const offsets: number[] = [];
  for (let offset = firstDelayMs; offset < horizonMs; offset *= factor) offsets.push(offset);
  return offsets;
}

/** Extra etcd writes (one guarded transaction each) per plug that is re-announced. */
export function announceWritesPerPlug(
  schedule: AnnounceSchedule = ORIGINAL_DRIVER_SCHEDULE,
): number {
  return announceOffsets(schedule).length;
}

/**
 * When to re-announce next: the first scheduled time strictly after `after` (a clock
 * reading, same clock as `firstUpAt`), or undefined when the schedule is over. Call it
 * with `after` = now after each write, so missed times (a busy agent) collapse into one.
 */
export function nextAnnounceAt(
  firstUpAt: number,
  after: number,
  schedule: AnnounceSchedule = ORIGINAL_DRIVER_SCHEDULE,
): number | undefined {
  const offset = announceOffsets(schedule).find((candidate) => firstUpAt + candidate > after);
  return offset === undefined ? undefined : firstUpAt + offset;
}

/**
 * Whether a port the agent just reported `up` gets re-announced: only a plug request
 * without our service's marker (the original driver's, or one written by hand).
 */
export function needsReannounce(request: { action: string; marked: boolean }): boolean {
  return request.action === 'plug' && !request.marked;
}

/** The modification revisions of the port's keys when the agent last wrote `up`. */
export interface AnnouncedPort {
  host: string;
  portId: string;
  bindPortRevision: number;
  actionRevision: number;
  /** The revision of the agent's last `up` (the first one, then each re-announce). */
  statusRevision: number;
}

/**
 * The transaction of one re-announce: put `port_status` = `up` again, only if nothing of
 * the port changed since the agent's last `up` (no unplug, no new request, no marker, no
 * one else's status). A failed guard ends the port's schedule. On success the port's
 * `statusRevision` becomes the transaction's revision.
 */
export function reannounceTransaction(port: AnnouncedPort): {
  conditions: Condition[];
  operations: Operation[];
} {
  const status = keys.portStatus(port.host, port.portId);
  return {
    conditions: [
      { key: keys.bindPort(port.host, port.portId), modRevision: port.bindPortRevision },
      { key: keys.action(port.host, port.portId), modRevision: port.actionRevision },
      { key: keys.action(port.host, port.portId), equals: 'plug' },
      { key: status, modRevision: port.statusRevision },
      { key: status, equals: 'up' },
      { key: keys.plugRequest(port.host, port.portId), absent: true },
    ],
    operations: [{ put: status, value: 'up' }],
  };
}
