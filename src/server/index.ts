import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { EtcdStore } from '../etcd/store.js';
import { describeHost, describeHosts } from '../hosts/summary.js';
import { classifyEtcdFailure } from '../etcd/failure.js';
import { HostSnapshot } from '../snapshot/snapshot.js';
import { errorMessage } from '../util/errors.js';
import type { BindServiceOptions } from './bind/service.js';
import { BindService } from './bind/service.js';
import type { ServiceApi } from './http.js';
import { buildApp } from './http.js';
import { ServerMetrics } from './metrics.js';
import type { ServerOptions } from './options.js';
import { DEFAULT_TAP_TIMEOUT_S, checkAuth } from './options.js';
import { RevisionClock } from './revision-clock.js';
import { fullSync } from './sync/execute.js';
import { Unbinder } from './unbind.js';
import { activate } from './activate.js';
import { TapService } from './taps/service.js';
import { createPlacementService } from '../placement/service.js';
import { SnapshotCapacitySource } from '../placement/snapshot-source.js';

/**
 * How long start-up retries reading etcd (a member electing a leader, etcd starting after
 * us at boot) before the service exits for its service manager to restart it.
 */
const START_TIMEOUT_MS = 10_000;

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:9697 */
  url: string;
  port: number;
  app: FastifyInstance;
  snapshot: HostSnapshot;
  binds: BindService;
  /** Stops accepting, lets in-flight binds finish (bounded by shutdownGraceMs), closes etcd. */
  close(): Promise<void>;
}

export interface StartDeps {
  logger?: Logger;
  /** Use this store instead of connecting one (it is not closed by close()). */
  store?: EtcdStore;
  /** Extra bind options (test hooks). */
  binder?: Partial<BindServiceOptions>;
  /** Register process metrics (off in tests that start several servers). */
  defaultMetrics?: boolean;
  /** How long start-up may wait for etcd before giving up (ms). */
  startTimeoutMs?: number;
}

/** The service's parts, wired: each is given what it needs and nothing else. */
interface Parts {
  store: EtcdStore;
  snapshot: HostSnapshot;
  binds: BindService;
  taps: TapService;
  metrics: ServerMetrics;
  clock: RevisionClock;
  api: ServiceApi;
  /** What GET /v1/placement shows (set once the sync starts). */
  placementStatus: { current: (() => unknown) | undefined };
  watching: Promise<void>;
  stopWatching: AbortController;
}

/** The service's view of every host, and the clock of etcd revisions it has seen. */
function watchedHosts(store: EtcdStore, logger: Logger, stopWatching: AbortController) {
  const snapshot = new HostSnapshot(store, 'all', logger, {
    // etcd refusing our TLS or credentials will not get better by retrying: give up at once.
    onReadError: (error) => {
      if (classifyEtcdFailure(error).kind === 'refused') stopWatching.abort();
    },
  });
  const clock = new RevisionClock();
  snapshot.listeners.onChanges((changes) => {
    for (const change of changes) clock.observe(change.modRevision);
  });
  return { snapshot, clock };
}

function assemble(
  options: ServerOptions,
  deps: StartDeps,
  logger: Logger,
  store: EtcdStore,
): Omit<Parts, 'watching'> {
  const stopWatching = new AbortController();
  const { snapshot, clock } = watchedHosts(store, logger, stopWatching);
  const metrics = new ServerMetrics(() => snapshot.hosts(), {
    defaultMetrics: deps.defaultMetrics ?? true,
  });
  const binds = new BindService(store, snapshot, logger, metrics, {
    bindTimeoutMs: options.bindTimeoutMs,
    requireEtcdAgent: options.requireEtcdAgent,
    ...(options.socketDir !== undefined ? { socketDir: options.socketDir } : {}),
    ...deps.binder,
  });
  const unbinder = new Unbinder(store, snapshot, logger, metrics);
  const taps = new TapService(
    store,
    snapshot,
    clock,
    logger,
    {
      tapTimeoutMs: options.tapTimeoutMs ?? DEFAULT_TAP_TIMEOUT_S * 1000,
      syncGraceMs: options.syncGraceMs,
    },
    metrics,
  );
  const syncDeps = {
    store,
    clock,
    reservations: binds.reservations,
    isBinding: (host: string, portId: string) => binds.isBinding(host, portId),
    graceMs: options.syncGraceMs,
    metrics,
    logger,
  };
  const placementStatus: Parts['placementStatus'] = { current: undefined };
  const api: ServiceApi = {
    placement: () => placementStatus.current?.() ?? { enabled: false },
    bind: (request) => binds.bind(request),
    unbind: (portId, host) => unbinder.unbind(portId, host),
    activate: (request, previousHost) => activate(binds, unbinder, logger, request, previousHost),
    sync: (ports, syncOptions) => fullSync(syncDeps, ports, syncOptions),
    hosts: () => describeHosts(store),
    host: (name) => describeHost(store, name),
    health: async () => {
      await store.ping();
      return {
        etcd: 'reachable',
        watch: snapshot.status === 'synced' ? 'connected' : snapshot.status,
      };
    },
    metrics: () => metrics.render(),
    taps,
  };
  return { store, snapshot, binds, taps, metrics, clock, api, placementStatus, stopWatching };
}

/** Loads the snapshot (retrying transient etcd errors until the start timeout), starts its watch. */
async function startWatching(
  parts: Omit<Parts, 'watching'>,
  options: ServerOptions,
  timeoutMs: number,
): Promise<Parts> {
  const loaded = await parts.snapshot.load(
    AbortSignal.any([parts.stopWatching.signal, AbortSignal.timeout(timeoutMs)]),
  );
  if (!loaded) {
    const cause = parts.snapshot.lastReadError;
    throw new Error(
      `cannot reach etcd at ${options.etcd.endpoints.join(',')}: no answer within ${timeoutMs / 1000} s`,
      cause === undefined ? {} : { cause },
    );
  }
  parts.clock.observe(parts.snapshot.revision);
  parts.binds.start();
  parts.taps.start();
  return { ...parts, watching: parts.snapshot.run(parts.stopWatching.signal) };
}

/** Starts the binding service: etcd snapshot first, then the HTTP listener. */
export async function startServer(
  options: ServerOptions,
  deps: StartDeps = {},
): Promise<RunningServer> {
  checkAuth(options);
  const logger = deps.logger ?? pino({ base: { service: 'networking-spp-server' } });
  const store = deps.store ?? EtcdStore.connect(options.etcd);
  const ownStore = deps.store === undefined;
  const assembled = assemble(options, deps, logger, store);
  let parts: Parts;
  try {
    parts = await startWatching(assembled, options, deps.startTimeoutMs ?? START_TIMEOUT_MS);
  } catch (error) {
    if (ownStore) store.close();
    throw error;
  }
  const placement = startPlacement(options, parts, logger);
  const stopParts = async () => {
    await placement?.stop();
    await parts.binds.stop();
    await parts.taps.stop();
    parts.stopWatching.abort();
    await parts.watching;
    if (ownStore) store.close();
  };
  const app = buildApp(
    parts.api,
    logger,
    options.authDisabled ? {} : { authToken: options.authToken },
  );
  try {
    await app.listen({ host: options.listenAddress, port: options.listenPort });
  } catch (error) {
    await stopParts();
    throw new Error(
      `cannot listen on ${options.listenAddress}:${options.listenPort}: ${errorMessage(error)}`,
    );
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logStarted(logger, options, `${host}:${address.port}`);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= shutDown(app, parts, stopParts, options, logger));
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    app,
    snapshot: parts.snapshot,
    binds: parts.binds,
    close,
  };
}

/** Stops taking requests, lets binds in flight finish for the grace, then stops the parts. */
async function shutDown(
  app: { close(): Promise<unknown> },
  parts: Parts,
  stopParts: () => Promise<void>,
  options: ServerOptions,
  logger: Logger,
): Promise<void> {
  logger.info({}, 'binding service stopping');
  const timer = setTimeout(
    () => parts.binds.abortWaits('the binding service is stopping'),
    options.shutdownGraceMs,
  );
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
    await stopParts();
    logger.info({}, 'binding service stopped');
  }
}

/**
 * The Placement inventory sync beside the binds (never in their path), on the service's own
 * snapshot of the hosts; undefined when `[spp_placement] enabled` is false.
 */
function startPlacement(options: ServerOptions, parts: Parts, logger: Logger) {
  if (!options.placement?.enabled) return undefined;
  const service = createPlacementService(options.placement, {
    store: parts.store,
    logger,
    registry: parts.metrics.registry,
    source: new SnapshotCapacitySource(parts.snapshot, logger),
  });
  parts.placementStatus.current = () => service.status();
  const controller = new AbortController();
  const done = service.run(controller.signal);
  return {
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

function logStarted(logger: Logger, options: ServerOptions, listen: string): void {
  logger.info(
    {
      listen,
      etcd: options.etcd.endpoints,
      auth: options.authDisabled ? 'disabled' : 'bearer token',
      bind_timeout_s: options.bindTimeoutMs / 1000,
    },
    'binding service started',
  );
  if (options.syncGraceMs < options.bindTimeoutMs) {
    logger.warn(
      { sync_grace_s: options.syncGraceMs / 1000, bind_timeout_s: options.bindTimeoutMs / 1000 },
      'sync_grace is shorter than bind_timeout: a full sync may unplug a port that is still binding',
    );
  }
}

/** Runs the service until `signal` aborts, then shuts down gracefully. */
export async function runServer(
  options: ServerOptions,
  signal: AbortSignal,
  deps: StartDeps = {},
): Promise<void> {
  const server = await startServer(options, deps);
  if (!signal.aborted) {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
  }
  await server.close();
}
