import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { EtcdStore } from '../etcd/store.js';
import type { PlacementApi } from './client.js';
import { PlacementClient } from './client.js';
import { SnapshotCapacitySource } from './snapshot-source.js';
import { createDispatcher } from './http.js';
import type { CapacitySource } from './inventory.js';
import type { Authenticator } from './keystone.js';
import { KeystonePassword, NoAuth } from './keystone.js';
import { LeaderElection } from './leader.js';
import { PlacementMetrics } from './metrics.js';
import type { PlacementAuth, PlacementOptions } from './options.js';
import type { PlacementStatus } from './sync.js';
import { PlacementSync } from './sync.js';

export interface PlacementServiceDeps {
  store: EtcdStore;
  logger: Logger;
  /** Register the sync's metrics here (the binding service's registry). */
  registry?: Registry;
  /** The hosts; default: read from etcd by this module (SnapshotCapacitySource). */
  source?: CapacitySource;
  /** Wraps the Placement client (tests count writes through it). */
  wrapApi?: (api: PlacementApi) => PlacementApi;
  /** The election id (default hostname:pid:random). */
  instanceId?: string;
  /** Pause after a sync (ms), see PlacementSyncSettings. */
  settleMs?: number;
}

export interface PlacementService {
  readonly instance: string;
  /** Runs the election, the host reader (when our own) and the sync until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  status(): PlacementStatus;
}

/**
 * The Placement inventory sync of one binding-service instance, ready to run beside the
 * binds: Keystone (or noauth) session, Placement client, etcd election, host source.
 */
export function createPlacementService(
  options: PlacementOptions,
  deps: PlacementServiceDeps,
): PlacementService {
  const auth = options.auth;
  if (!options.enabled || !auth) throw new Error('the Placement sync is not enabled');
  const logger = deps.logger.child({ component: 'placement' });
  const dispatcher = createDispatcher(options.tls);
  const client = new PlacementClient(
    authenticatorFor(auth, dispatcher, options.timeoutMs),
    dispatcher,
    options.timeoutMs,
  );
  const api = deps.wrapApi ? deps.wrapApi(client) : client;
  const election = new LeaderElection(
    deps.store,
    { ttlS: options.leaderTtlS, ...(deps.instanceId ? { id: deps.instanceId } : {}) },
    logger,
  );
  const ownSource = deps.source ? undefined : new SnapshotCapacitySource(deps.store, logger);
  const source = deps.source ?? (ownSource as SnapshotCapacitySource);
  const sync = new PlacementSync(
    {
      source,
      api,
      leadership: election,
      logger,
      instance: election.id,
      ...(deps.registry ? { metrics: new PlacementMetrics(deps.registry) } : {}),
    },
    {
      syncIntervalMs: options.syncIntervalMs,
      retryMaxMs: options.retryMaxMs,
      writeTimeoutMs: options.timeoutMs,
      ...(deps.settleMs !== undefined ? { settleMs: deps.settleMs } : {}),
      computeNodeOf: (host) => options.hypervisorNames.get(host) ?? host,
    },
  );
  return {
    instance: election.id,
    async run(signal) {
      const settings = { auth: auth.type, sync_interval_s: options.syncIntervalMs / 1000 };
      logger.info({ instance: election.id, ...settings }, 'Placement inventory sync started');
      try {
        await Promise.all([
          election.run(signal),
          sync.run(signal),
          ...(ownSource ? [ownSource.run(signal)] : []),
        ]);
      } finally {
        await dispatcher.close();
        logger.info({ instance: election.id }, 'Placement inventory sync stopped');
      }
    },
    status: () => sync.status(),
  };
}

function authenticatorFor(
  auth: PlacementAuth,
  dispatcher: Dispatcher,
  timeoutMs: number,
): Authenticator {
  return auth.type === 'noauth'
    ? new NoAuth(auth.endpoint)
    : new KeystonePassword(auth, dispatcher, timeoutMs);
}
