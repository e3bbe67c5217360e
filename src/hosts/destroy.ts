import type { EtcdStore, KeyValue } from '../etcd/store.js';
import type { UnplugPlan } from '../server/unbind.js';
import { planUnplug } from '../server/unbind.js';
import type { HostState } from '../snapshot/model.js';
import { readHost } from '../snapshot/read.js';
import { Backoff, sleep } from '../util/backoff.js';
import { InputError } from '../util/errors.js';
import { deleteHostKeys, inUse } from './admin.js';

export interface DestroyOptions {
  /** Destroy although ports are plugged: the agent is asked to unplug them first. */
  force: boolean;
  /** How long `force` waits for the agent to take the ports out of SPP (ms). */
  unplugWaitMs?: number;
  signal?: AbortSignal;
}

export interface DestroyResult {
  removed: KeyValue[];
  /** Ports the agent took out of SPP before the keys were removed. */
  unplugged: string[];
  /** Ports still in SPP when the keys were removed (agent down or too slow), by id. */
  leftInSpp: string[];
  agentAlive: boolean;
}

export const DEFAULT_UNPLUG_WAIT_MS = 30_000;
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1000;

/** Ports of the host that SPP may carry: those with a bind_port key. */
function bound(state: HostState): string[] {
  return [...state.ports.values()]
    .filter((port) => port.bindPort !== undefined)
    .map((port) => port.portId)
    .sort();
}

/** Asks the agent to unplug every bound port (guarded like an unbind from Neutron). */
async function requestUnplugs(store: EtcdStore, state: HostState, revision: number): Promise<void> {
  for (const portId of bound(state)) {
    const plan: UnplugPlan = planUnplug({ host: state, portId, revision });
    if (plan.kind === 'txn') await store.transaction(plan.conditions, plan.operations);
  }
}

/** Waits until no port of the host has a bind_port key, or the deadline; returns those left. */
async function awaitUnplugs(
  store: EtcdStore,
  host: string,
  waitMs: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  const backoff = new Backoff(POLL_FIRST_MS, POLL_MAX_MS);
  for (;;) {
    const left = bound((await readHost(store, host)).host);
    if (left.length === 0 || Date.now() >= deadline || signal?.aborted) return left;
    await sleep(Math.min(backoff.next(), Math.max(0, deadline - Date.now())), signal);
  }
}

/**
 * `host destroy`: removes every key of the host. A host with ports plugged (or tap flows
 * holding mirrors) is refused unless `force`; then its agent, when alive, is asked to
 * unplug each port first (SPP would otherwise keep forwarding to the old MACs while
 * Neutron shows the ports ACTIVE), and the keys go once it has or the wait ends.
 */
export async function destroyHost(
  store: EtcdStore,
  host: string,
  options: DestroyOptions,
): Promise<DestroyResult> {
  const read = await readHost(store, host);
  const using = inUse(read.host);
  if (using.length > 0 && !options.force) {
    throw new InputError(
      `host ${host} has ports plugged, refusing to destroy it (with --force its agent first takes them out of SPP): ${using.join('; ')}`,
    );
  }
  const agentAlive = read.host.agent !== undefined;
  const ports = bound(read.host);
  let leftInSpp = ports;
  if (ports.length > 0 && agentAlive) {
    await requestUnplugs(store, read.host, read.revision);
    leftInSpp = await awaitUnplugs(
      store,
      host,
      options.unplugWaitMs ?? DEFAULT_UNPLUG_WAIT_MS,
      options.signal,
    );
  }
  const removed = await deleteHostKeys(store, host);
  return {
    removed,
    unplugged: ports.filter((portId) => !leftInSpp.includes(portId)),
    leftInSpp,
    agentAlive,
  };
}
