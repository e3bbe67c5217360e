import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Condition, EtcdStore, KeyValue, Operation } from '../etcd/store.js';
import { HOST_PREFIX_KINDS, keys } from '../etcd/keys.js';
import { FREE } from '../etcd/values.js';
import { pythonJsonDumps } from '../layout/pyjson.js';
import type { HostConfig } from '../layout/schema.js';
import { layoutSlots } from '../layout/slots.js';
import { InputError, errorMessage } from '../util/errors.js';
import type { Holder, HostState } from '../snapshot/model.js';
import { heldBy } from '../snapshot/model.js';
import { readHost } from '../snapshot/read.js';

/** A host as read at `revision`. */
interface ReadHost {
  revision: number;
  host: HostState;
}

/** etcd's default `--max-txn-ops`: the most operations one transaction may carry. */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;
/** The fewest operations per transaction a chunked build needs (its first transaction). */
export const MIN_TXN_OPS = 10;
const LOCK_TTL_SECONDS = 60;
const ATTEMPTS = 5;

/** A build that could not complete for a reason other than bad input or etcd being unreachable. */
export class HostBuildError extends Error {
  override readonly name = 'HostBuildError';
}

const PORT_KINDS = [
  'bind_port',
  'action',
  'port_status',
  'tap_info',
  'tap_action',
  'tap_status',
  'plug_request',
] as const;

/** The slot keys (all `None`) that belong to a host configuration, in vhost order. */
export function slotKeys(host: string, config: HostConfig): string[] {
  return [
    ...layoutSlots(config).map((slot) => keys.vhost(host, slot.physnet, slot.vhostId)),
    ...(config.mirror ?? []).map((_, index) => keys.mirror(host, index)),
  ];
}

export interface BuildOptions {
  force: boolean;
  /**
   * The exact value to write as `configuration/<host>` (planHostLayout's `value`, which
   * keeps a layout file's key order); default: `config` encoded like Python's json.dumps.
   */
  configValue?: string;
  /** Operations etcd accepts in one transaction (its `--max-txn-ops`, default 128). */
  maxTxnOps?: number;
  /** Lifetime of the build lock of a chunked build: a crashed build frees the host after it. */
  lockTtlSeconds?: number;
  /** Test seam: runs after each transaction of a chunked build (1-based count). */
  afterTransaction?: (count: number) => Promise<void>;
}

export interface BuildResult {
  revision: number;
  written: string[];
  removed: string[];
  /** 1 when everything fit in one transaction. */
  transactions: number;
}

/** The host's slots as they are in etcd, and what `--force` would take away. */
export function inUse(state: HostState): string[] {
  const used = state.sortedSlots().filter((slot) => !slot.holder.free);
  const holders = new Set(used.map((slot) => heldBy(slot.holder)));
  const describe = (holder: Holder) => heldBy(holder) ?? 'an unreadable value';
  return [
    ...used.map(
      (slot) => `vhost ${slot.vhostId} (${slot.physnet}) = port ${describe(slot.holder)}`,
    ),
    ...[...state.mirrors.values()]
      .filter((mirror) => !mirror.holder.free)
      .sort((a, b) => a.mirrorId - b.mirrorId)
      .map((mirror) => `mirror ${mirror.mirrorId} = tap flow ${describe(mirror.holder)}`),
    ...[...state.ports.keys()]
      .filter((portId) => !holders.has(portId))
      .map((portId) => `port ${portId} (bind_port/action keys)`),
  ];
}

function existingSlots(state: HostState): string[] {
  return [...state.slots.keys(), ...[...state.mirrors.values()].map((mirror) => mirror.key)];
}

/** Nothing of the host changed since it was read, and no chunked build holds it. */
function unchangedGuard(host: string, read: ReadHost): Condition[] {
  const configKey = keys.configuration(host);
  const config = read.host.configuration;
  return [
    { key: keys.buildLock(host), absent: true },
    config ? { key: configKey, modRevision: config.modRevision } : { key: configKey, absent: true },
    ...HOST_PREFIX_KINDS.map((kind) => ({
      prefix: keys.hostPrefix(kind, host),
      notModifiedAfter: read.revision,
    })),
  ];
}

async function refuseIfLocked(store: EtcdStore, host: string): Promise<void> {
  const lock = await store.get(keys.buildLock(host));
  if (lock) {
    throw new InputError(
      `host ${host} is being built by another host build (${lock.value}); try again when it has finished (a crashed build frees the host within ${LOCK_TTL_SECONDS} s)`,
    );
  }
}

function tooManyOps(error: unknown, count: number, maxTxnOps: number): Error {
  if (!/too many operations in txn request/.test(errorMessage(error))) return error as Error;
  return new InputError(
    `etcd refused a transaction of ${count} operations (its --max-txn-ops is below the ${maxTxnOps} assumed): pass --max-txn-ops with etcd's value`,
  );
}

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size)
    chunks.push(items.slice(start, start + size));
  return chunks;
}

/**
 * Writes `configuration/<host>` and every slot as `None`. Refuses when the host already
 * has ports or tap flows holding slots, unless `force`, in which case their port keys are
 * removed too (the agent then unplugs what SPP still carries).
 *
 * When the whole write fits in one etcd transaction (`maxTxnOps`) it is one transaction.
 * Otherwise see `buildChunked`: readers never see a half-written host, because agents and
 * the binding service only use a host whose configuration key exists, and that key is
 * removed first and written last.
 */
export async function buildHost(
  store: EtcdStore,
  host: string,
  config: HostConfig,
  options: BuildOptions,
): Promise<BuildResult> {
  const maxTxnOps = options.maxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS;
  if (!Number.isInteger(maxTxnOps) || maxTxnOps < MIN_TXN_OPS) {
    throw new InputError(`max-txn-ops must be an integer of at least ${MIN_TXN_OPS}`);
  }
  const configKey = keys.configuration(host);
  const configValue = options.configValue ?? pythonJsonDumps(config);
  const newSlots = slotKeys(host, config);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    await refuseIfLocked(store, host);
    const read = await readHost(store, host);
    const state = read.host;
    const using = inUse(state);
    if (!options.force && using.length > 0) {
      throw new InputError(
        `host ${host} has ports plugged, refusing to overwrite its layout (use --force to reset it): ${using.join('; ')}`,
      );
    }
    const stale = existingSlots(state).filter((key) => !newSlots.includes(key));
    const removed = [
      ...stale,
      ...(options.force ? [...state.ports.keys()].map((portId) => `port ${portId}`) : []),
    ];
    const written = [configKey, ...newSlots];
    const portPrefixes = options.force ? PORT_KINDS.map((kind) => keys.hostPrefix(kind, host)) : [];
    const operations: Operation[] = [
      { put: configKey, value: configValue },
      ...newSlots.map((key) => ({ put: key, value: FREE })),
      ...stale.map((key) => ({ delete: key })),
      ...portPrefixes.map((prefix) => ({ deletePrefix: prefix })),
    ];
    if (operations.length <= maxTxnOps) {
      const result = await store
        .transaction(unchangedGuard(host, read), operations)
        .catch((error: unknown) => {
          throw tooManyOps(error, operations.length, maxTxnOps);
        });
      if (result.succeeded) return { revision: result.revision, written, removed, transactions: 1 };
      continue;
    }
    const chunked = await buildChunked(store, host, config, read, {
      configValue,
      maxTxnOps,
      portPrefixes,
      lockTtlSeconds: options.lockTtlSeconds ?? LOCK_TTL_SECONDS,
      ...(options.afterTransaction ? { afterTransaction: options.afterTransaction } : {}),
    });
    if (chunked) return { ...chunked, written, removed };
  }
  throw new HostBuildError(`host ${host} kept changing while its layout was written; try again`);
}

interface ChunkOptions {
  configValue: string;
  maxTxnOps: number;
  portPrefixes: string[];
  lockTtlSeconds: number;
  afterTransaction?: (count: number) => Promise<void>;
}

/** The build lock is ours, checked by every transaction after the first. */
interface LockGuard {
  condition: Condition;
  key: string;
  count: number;
  afterTransaction?: (count: number) => Promise<void>;
}

class LostLock extends Error {
  override readonly name = 'LostLock';
}

async function guardedWrite(store: EtcdStore, lock: LockGuard, ops: Operation[]): Promise<number> {
  const result = await store.transaction([lock.condition], ops);
  if (!result.succeeded) {
    throw new LostLock('the build lock was taken away (it expired, or host destroy ran meanwhile)');
  }
  lock.count++;
  await lock.afterTransaction?.(lock.count);
  return result.revision;
}

/**
 * Writes free slots, then the configuration key with the lock's release in the last
 * transaction (which also carries the last slots when they fit).
 */
async function writeSlotsThenConfig(
  store: EtcdStore,
  lock: LockGuard,
  slots: string[],
  configKey: string,
  configValue: string,
  maxTxnOps: number,
): Promise<number> {
  const chunks = chunk(slots, maxTxnOps);
  const last = chunks.length > 0 && (chunks.at(-1) as string[]).length <= maxTxnOps - 2;
  const tail = last ? (chunks.pop() as string[]) : [];
  for (const part of chunks) {
    await guardedWrite(
      store,
      lock,
      part.map((key) => ({ put: key, value: FREE })),
    );
  }
  return guardedWrite(store, lock, [
    ...tail.map((key) => ({ put: key, value: FREE })),
    { put: configKey, value: configValue },
    { delete: lock.key },
  ]);
}

/**
 * A build too big for one transaction (etcd's --max-txn-ops):
 * 1. one guarded transaction (nothing of the host changed since it was read, no other
 *    build holds it) takes the build lock (a leased key), deletes the configuration key
 *    FIRST (the host disappears for agents and the binding service), and removes the old
 *    slots (and, with --force, the port keys);
 * 2. transactions guarded by holding the lock write the new slots;
 * 3. the last one writes the configuration key and releases the lock.
 * If a later step fails, the keys written so far are removed and the previous layout is
 * restored the same way (slots, then configuration). A concurrent build finds the lock and
 * is refused; host destroy deletes the lock, which stops this build at its next step.
 * Returns undefined when step 1 lost a race (the caller re-reads and retries).
 */
async function buildChunked(
  store: EtcdStore,
  host: string,
  config: HostConfig,
  state: ReadHost,
  options: ChunkOptions,
): Promise<Omit<BuildResult, 'written' | 'removed'> | undefined> {
  const configKey = keys.configuration(host);
  const lockKey = keys.buildLock(host);
  const token = `${hostname()} pid ${process.pid} at ${new Date().toISOString()} (${randomUUID()})`;
  const lease = await store.grantLease(options.lockTtlSeconds);
  const lock: LockGuard = {
    condition: { key: lockKey, equals: token },
    key: lockKey,
    count: 0,
    ...(options.afterTransaction ? { afterTransaction: options.afterTransaction } : {}),
  };
  try {
    const clear: Operation[] = [
      { put: lockKey, value: token, lease },
      { delete: configKey },
      { deletePrefix: keys.hostPrefix('vhost', host) },
      { deletePrefix: keys.hostPrefix('mirror', host) },
      ...options.portPrefixes.map((prefix) => ({ deletePrefix: prefix })),
    ];
    const first = await store.transaction(unchangedGuard(host, state), clear);
    if (!first.succeeded) return undefined;
    lock.count++;
    try {
      await lock.afterTransaction?.(lock.count);
      const revision = await writeSlotsThenConfig(
        store,
        lock,
        slotKeys(host, config),
        configKey,
        options.configValue,
        options.maxTxnOps,
      );
      return { revision, transactions: lock.count };
    } catch (error) {
      const outcome = await rollback(store, host, lock, state, options.maxTxnOps).catch(
        (rollbackError: unknown) =>
          `rolling back failed too (${errorMessage(rollbackError)}); the host has no configuration key, so agents and the binding service ignore it; run host build again`,
      );
      throw new HostBuildError(
        `host ${host}: build failed after ${lock.count} transaction(s): ${errorMessage(error)}; ${outcome}`,
        { cause: error },
      );
    }
  } finally {
    await store.revokeLease(lease).catch(() => undefined);
  }
}

/** Undoes a chunked build that still holds its lock: the previous layout comes back. */
async function rollback(
  store: EtcdStore,
  host: string,
  lock: LockGuard,
  previous: ReadHost,
  maxTxnOps: number,
): Promise<string> {
  const restore = previous.host.configuration;
  const undo: Operation[] = [
    { delete: keys.configuration(host) },
    { deletePrefix: keys.hostPrefix('vhost', host) },
    { deletePrefix: keys.hostPrefix('mirror', host) },
    ...(restore ? [] : [{ delete: lock.key }]),
  ];
  const result = await store.transaction([lock.condition], undo);
  if (!result.succeeded) {
    return 'the build lock was no longer ours, so the keys were left to whoever holds the host now';
  }
  if (!restore) return 'removed the keys it had written; the host does not exist';
  await writeSlotsThenConfig(
    store,
    { condition: lock.condition, key: lock.key, count: 0 },
    existingSlots(previous.host),
    keys.configuration(host),
    restore.raw,
    maxTxnOps,
  );
  return 'restored the previous layout (its slots free)';
}

/**
 * Removes every key of the host (SYSTEM.md §3.4 plus tap keys and a build lock) in one
 * transaction: the configuration key, listed first, and each key family by prefix, so
 * the operation count stays small however big the host is.
 */
export async function deleteHostKeys(store: EtcdStore, host: string): Promise<KeyValue[]> {
  const result = await store.deleteAtomically(
    [keys.configuration(host), keys.buildLock(host), keys.agentKind(host)],
    HOST_PREFIX_KINDS.map((kind) => keys.hostPrefix(kind, host)),
  );
  return result.deleted;
}
