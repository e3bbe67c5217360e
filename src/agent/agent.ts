import { pino } from 'pino';
import type { Logger } from 'pino';
import { EtcdStore } from '../etcd/store.js';
import type { AgentRecord } from '../etcd/values.js';
import { SppCtlClient } from '../spp/client.js';
import { VERSION } from '../version.js';
import { EtcdSync } from './etcd-sync.js';
import { HostKeys } from './host-keys.js';
import { physnetVhosts } from './layout-index.js';
import { Liveness } from './liveness.js';
import type { AgentMetrics } from './metrics.js';
import { noAgentMetrics } from './metrics.js';
import type { AgentOptions } from './options.js';
import { Reconciler } from './reconciler.js';

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
  /** Free vhost ids per physnet, from the agent's copy of etcd. */
  freeVhosts(): Record<string, number>;
  /** The agent's liveness key is being refreshed (its etcd session and watch work). */
  live(): boolean;
  logger: Logger;
}

/**
 * Runs the compute agent until `signal` aborts: read the host's keys, watch them, reconcile
 * SPP against them, keep the liveness key alive. On abort the pass in progress finishes,
 * the lease is revoked, and connections close.
 */
export async function runAgent(
  options: AgentOptions,
  signal: AbortSignal,
  deps: AgentDeps = {},
): Promise<void> {
  const logger = (deps.logger ?? pino()).child({ host: options.host });
  const startedAt = new Date().toISOString();
  const metrics = await startMetrics(options, logger);
  const store = EtcdStore.connect(options.etcd);
  const spp = new SppCtlClient({ baseUrl: options.sppCtlUrl, timeoutMs: options.sppCtlTimeoutMs });
  const hostKeys = new HostKeys(options.host);
  const reconciler = new Reconciler(hostKeys, spp, store, logger, metrics.sink, {
    dialect: options.dialect,
    reconcileIntervalMs: options.reconcileIntervalMs,
    retryMaxMs: options.retryMaxMs,
  });
  const sync = new EtcdSync(
    store,
    hostKeys,
    { changed: (changes) => reconciler.onChanges(changes), reloaded: () => reconciler.onReload() },
    logger,
    metrics.sink,
    options.retryMaxMs,
  );
  const record = (): AgentRecord => {
    const layout = reconciler.currentLayout;
    return {
      host: options.host,
      version: VERSION,
      started_at: startedAt,
      pid: process.pid,
      physnets: layout ? physnetVhosts(layout) : {},
      ...(reconciler.dialect ? { dialect: reconciler.dialect } : {}),
    };
  };
  const liveness = new Liveness(store, sync, options.livenessTtlS, record, logger);
  const handle: AgentHandle = {
    options,
    record,
    logger,
    freeVhosts: () => freeVhosts(hostKeys, record()),
    live: () => liveness.live,
  };
  try {
    logger.info(
      { version: VERSION, etcd: options.etcd.endpoints, spp_ctl: options.sppCtlUrl },
      'agent starting',
    );
    const revision = await sync.load(signal);
    if (revision === undefined) return;
    const work = [
      sync.run(signal),
      reconciler.run(signal),
      liveness.run(signal),
      ...(deps.sidecars?.(handle) ?? []).map((sidecar) => sidecar.run(signal)),
    ];
    logger.info({ revision }, 'watching etcd');
    await Promise.all(work);
  } finally {
    await liveness.release();
    await spp.close();
    store.close();
    await metrics.close();
    logger.info({}, 'agent stopped');
  }
}

function freeVhosts(hostKeys: HostKeys, record: AgentRecord): Record<string, number> {
  const free: Record<string, number> = {};
  for (const [physnet, { vhosts }] of Object.entries(record.physnets)) {
    free[physnet] = vhosts.filter((id) => {
      const slot = hostKeys.slots.get(HostKeys.slotKey(physnet, id));
      return slot === undefined || slot.value === 'None';
    }).length;
  }
  return free;
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
