import { pino } from 'pino';
import type { Logger } from 'pino';
import { EtcdStore } from '../etcd/store.js';
import type { AgentRecord } from '../etcd/values.js';
import type { HostState } from '../snapshot/model.js';
import { HostSnapshot } from '../snapshot/snapshot.js';
import { SppCtlClient } from '../spp/client.js';
import { VERSION } from '../version.js';
import { Announcer } from './announcer.js';
import { Completions } from './completions.js';
import { AgentController } from './controller.js';
import { DialectState } from './dialect.js';
import type { AgentLayout } from './layout-index.js';
import { physnetVhosts } from './layout-index.js';
import { LayoutTracker } from './layout-tracker.js';
import { Liveness } from './liveness.js';
import { ownWriteWatch } from './own-write.js';
import type { AgentMetrics } from './metrics.js';
import { noAgentMetrics } from './metrics.js';
import type { AgentOptions } from './options.js';
import { ProcessLocks } from './process-locks.js';
import { HostWork } from './reconcile-host.js';
import { newTapProblems } from './reconcile-mirror.js';
import { TapCompletions } from './taps/completions.js';
import { SppProblems } from './reconcile-vf.js';
import { SppHealth } from './spp-health.js';
import { SppView } from './spp-view.js';

/** Extra work that runs beside the agent (e.g. the heartbeat to Neutron). */
export interface AgentSidecar {
  run(signal: AbortSignal): Promise<void>;
}

export interface AgentDeps {
  logger?: Logger;
  /** Builds sidecars once the agent knows its state (the Neutron heartbeat uses `state`). */
  sidecars?: (agent: AgentHandle) => AgentSidecar[];
}

/** What sidecars may read about the running agent. */
export interface AgentHandle {
  options: AgentOptions;
  record(): AgentRecord;
  /** Free vhost ids per physnet, from the agent's snapshot of etcd. */
  freeVhosts(): Record<string, number>;
  /** The agent's liveness key is being refreshed (its etcd session and watch work). */
  live(): boolean;
  logger: Logger;
}

function freeVhosts(host: HostState, layout: AgentLayout | undefined): Record<string, number> {
  const free: Record<string, number> = {};
  const slots = new Map(
    [...host.slots.values()].map((slot) => [`${slot.physnet}/${slot.vhostId}`, slot]),
  );
  for (const [physnet, { vhosts }] of Object.entries(layout ? physnetVhosts(layout) : {})) {
    free[physnet] = vhosts.filter(
      (id) => slots.get(`${physnet}/${id}`)?.holder.free ?? true,
    ).length;
  }
  return free;
}

/** SPP's reachability: logged and counted when it changes, and told to the liveness key at once. */
function sppHealth(logger: Logger, metrics: AgentMetrics, changed: () => void): SppHealth {
  return new SppHealth((state) => {
    metrics.sppReachable(state.state === 'ok');
    if (state.state === 'ok') logger.info('SPP reachable again; binds on this host accepted');
    else logger.warn({ problem: state.problem }, 'SPP unreachable; binds on this host refused');
    changed();
  });
}

/** The liveness record: who runs, what the layout offers, whether SPP answers. */
function recordSource(
  host: string,
  layout: LayoutTracker,
  dialect: DialectState,
  health: SppHealth,
): () => AgentRecord {
  const startedAt = new Date().toISOString();
  return () => {
    const current = layout.current;
    return {
      host,
      version: VERSION,
      started_at: startedAt,
      pid: process.pid,
      physnets: current ? physnetVhosts(current) : {},
      ...(dialect.value ? { dialect: dialect.value } : {}),
      spp: health.record(),
    };
  };
}

/** The agent's view of its host's etcd keys; a re-read after compaction is counted. */
function hostSnapshot(
  store: EtcdStore,
  options: AgentOptions,
  logger: Logger,
  metrics: AgentMetrics,
): HostSnapshot {
  const snapshot = new HostSnapshot(store, { host: options.host }, logger, {
    retryMaxMs: options.retryMaxMs,
  });
  snapshot.listeners.onStatus((status) => {
    if (status === 'resyncing') metrics.watchRestart('resync');
  });
  return snapshot;
}

/** The agent's parts, wired: each is given what it needs and nothing else. */
function assemble(
  options: AgentOptions,
  logger: Logger,
  metrics: AgentMetrics,
  store: EtcdStore,
  spp: SppCtlClient,
) {
  const snapshot = hostSnapshot(store, options, logger, metrics);
  const layout = new LayoutTracker(logger);
  const dialect = new DialectState(
    options.dialect === 'auto' ? undefined : options.dialect,
    logger,
  );
  const announcer = new Announcer(store, snapshot, options.host, logger);
  const completions = new Completions(
    store,
    options.host,
    logger,
    metrics,
    (portId, bindPort, revision) => announcer.reportedUp(portId, bindPort, revision),
  );
  const livenessRef: { current?: Liveness } = {};
  const health = sppHealth(logger, metrics, () => livenessRef.current?.nudge());
  const sppDeps = {
    locks: new ProcessLocks(),
    tapCompletions: new TapCompletions(store, options.host, logger, (action) =>
      metrics.tapAction?.(action),
    ),
    tapProblems: newTapProblems(),
    spp,
    dialect,
    view: new SppView(),
    problems: new SppProblems(logger, metrics, health),
    metrics,
    logger,
  };
  const controller = new AgentController(
    snapshot,
    options.host,
    layout,
    { ...sppDeps, completions },
    new HostWork(completions, logger, metrics),
    logger,
    { reconcileIntervalMs: options.reconcileIntervalMs, retryMaxMs: options.retryMaxMs },
  );
  const record = recordSource(options.host, layout, dialect, health);
  const liveness = new Liveness(
    store,
    ownWriteWatch(snapshot, options.host, metrics),
    options.livenessTtlS,
    record,
    logger,
  );
  livenessRef.current = liveness;
  return { snapshot, layout, controller, liveness, record, announcer };
}

/**
 * Runs the compute agent until `signal` aborts: read the host's keys, watch them, reconcile
 * SPP against them, keep the liveness key alive. On abort the runs in progress finish,
 * the lease is revoked, and connections close.
 */
export async function runAgent(
  options: AgentOptions,
  signal: AbortSignal,
  deps: AgentDeps = {},
): Promise<void> {
  const logger = (deps.logger ?? pino()).child({ host: options.host });
  const metrics = await startMetrics(options, logger);
  const store = EtcdStore.connect(options.etcd);
  // Shutdown must not wait on an etcd call that a member never answers.
  const abortCalls = () => store.abortCalls();
  signal.addEventListener('abort', abortCalls, { once: true });
  const spp = new SppCtlClient({ baseUrl: options.sppCtlUrl, timeoutMs: options.sppCtlTimeoutMs });
  const parts = assemble(options, logger, metrics.sink, store, spp);
  const handle: AgentHandle = {
    options,
    record: parts.record,
    logger,
    freeVhosts: () => freeVhosts(parts.snapshot.host(options.host), parts.layout.current),
    live: () => parts.liveness.live,
  };
  try {
    logger.info(
      { version: VERSION, etcd: options.etcd.endpoints, spp_ctl: options.sppCtlUrl },
      'agent starting',
    );
    if (!(await parts.snapshot.load(signal))) return;
    logger.info({ revision: parts.snapshot.revision }, 'watching etcd');
    await Promise.all([
      parts.snapshot.run(signal),
      parts.controller.run(signal),
      parts.liveness.run(signal),
      ...(deps.sidecars?.(handle) ?? []).map((sidecar) => sidecar.run(signal)),
    ]);
  } finally {
    signal.removeEventListener('abort', abortCalls);
    await parts.announcer.stop();
    await parts.liveness.release();
    await spp.close();
    store.close();
    await metrics.close();
    logger.info({}, 'agent stopped');
  }
}

async function startMetrics(
  options: AgentOptions,
  logger: Logger,
): Promise<{ sink: AgentMetrics; close(): Promise<void> }> {
  if (options.metricsPort === undefined) return { sink: noAgentMetrics, close: async () => {} };
  // prom-client is loaded only when metrics are wanted: it is most of the start-up time.
  const { PrometheusAgentMetrics } = await import('./prometheus.js');
  const metrics = new PrometheusAgentMetrics(options.host);
  const server = await metrics.serve(options.metricsAddress, options.metricsPort);
  logger.info(
    { metrics: `http://${options.metricsAddress}:${server.port}/metrics` },
    'metrics served',
  );
  return { sink: metrics, close: () => server.close() };
}
