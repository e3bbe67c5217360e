import type { Etcd3 } from 'etcd3';

/** What the store remembers of each member's recent answers (pure data, for `pickMember`). */
export interface MemberHealth {
  /** The member whose last attempt succeeded: calls go there first. */
  preferred?: number;
  /** When each member last failed an attempt (ms since the epoch; -Infinity = never). */
  failedAt: readonly number[];
}

/**
 * The member for a call's next attempt: never one this call has tried already (the caller
 * starts a new round once every member was tried), the preferred one if it is left, else
 * the one whose last failure is the oldest. A member that fails thus costs a call one
 * attempt at most, and later calls go to members that answered.
 */
export function pickMember(health: MemberHealth, tried: ReadonlySet<number>): number {
  if (health.preferred !== undefined && !tried.has(health.preferred)) return health.preferred;
  let best = -1;
  for (let index = 0; index < health.failedAt.length; index++) {
    if (tried.has(index)) continue;
    if (best < 0 || (health.failedAt[index] ?? 0) < (health.failedAt[best] ?? 0)) best = index;
  }
  return best;
}

/** One attempt's member: its client, and what to tell the store of the attempt's end. */
export interface MemberLease {
  index: number;
  client: Etcd3;
}

/**
 * The members an EtcdStore sends its unary calls and lease keep-alives to, one client per
 * member, so that every attempt of a call chooses its member itself (etcd3's pool picks at
 * random, and a half-open circuit let a call meet the same unanswering member twice). With
 * one member, the store's own client is the only one.
 */
export class Members {
  private readonly clients: Etcd3[];
  private preferred = 0;
  private readonly failedAt: number[];

  constructor(
    clients: Etcd3[],
    /** A fresh client for member `index`; none = clients are never replaced. */
    private readonly reconnect?: (index: number) => Etcd3,
    private readonly now: () => number = Date.now,
  ) {
    if (clients.length === 0) throw new Error('an etcd store needs at least one member');
    this.clients = [...clients];
    this.failedAt = clients.map(() => -Infinity);
  }

  get size(): number {
    return this.clients.length;
  }

  /** The member for the next attempt of a call that has tried `tried` (cleared when all were). */
  next(tried: Set<number>): MemberLease {
    if (tried.size >= this.clients.length) tried.clear();
    const index = pickMember({ preferred: this.preferred, failedAt: this.failedAt }, tried);
    tried.add(index);
    return { index, client: this.clients[index] as Etcd3 };
  }

  succeeded(lease: MemberLease): void {
    this.preferred = lease.index;
  }

  /**
   * An attempt failed on `lease`'s member. One that ran out of time may sit on a connection
   * that never answers (grpc-js waits forever for a black-holed member's HTTP/2 settings):
   * its client is replaced, once however many calls were waiting on it (their attempts
   * end as cancelled and move on).
   */
  failed(lease: MemberLease, timedOut: boolean): void {
    this.failedAt[lease.index] = this.now();
    if (this.preferred === lease.index) this.preferred = this.leastRecentlyFailed();
    if (!timedOut || !this.reconnect || this.clients[lease.index] !== lease.client) return;
    this.clients[lease.index] = this.reconnect(lease.index);
    lease.client.close();
  }

  close(): void {
    for (const client of this.clients) client.close();
  }

  private leastRecentlyFailed(): number {
    return pickMember({ failedAt: this.failedAt }, new Set());
  }
}
