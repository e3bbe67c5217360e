import { HOST_PREFIX_KINDS, ROOT, keys } from '../etcd/keys.js';
import type { Read } from '../etcd/store.js';

/** What a snapshot holds: one compute host (the agent) or every host (the service, tools). */
export type Scope = { host: string } | 'all';

/** A key range of etcd: one exact key, or every key under a prefix. */
export type KeyRange = { key: string } | { prefix: string };

/**
 * The ranges that hold a scope's keys. One host's families are not contiguous in etcd
 * (`<root><family>/<host>/…`), so a host needs one range per family; its configuration and
 * liveness keys are exact keys (a prefix would also match `compute-10` for `compute-1`).
 */
export function scopeRanges(scope: Scope): KeyRange[] {
  if (scope === 'all') return [{ prefix: ROOT }];
  const { host } = scope;
  return [
    { key: keys.configuration(host) },
    { key: keys.agent(host) },
    { key: keys.agentKind(host) },
    ...HOST_PREFIX_KINDS.map((kind) => ({ prefix: keys.hostPrefix(kind, host) })),
  ];
}

export function rangeReads(ranges: KeyRange[]): Read[] {
  return ranges.map((range) => ('key' in range ? { get: range.key } : { getPrefix: range.prefix }));
}

export function describeScope(scope: Scope): string {
  return scope === 'all' ? 'all hosts' : `host ${scope.host}`;
}
