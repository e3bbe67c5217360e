import type { Logger } from 'pino';
import type { EtcdStore } from '../../etcd/store.js';
import { readAllHosts } from '../../snapshot/read.js';
import type { SlotReservations } from '../bind/reservations.js';
import type { BinderMetrics } from '../metrics.js';
import type { RevisionClock } from '../revision-clock.js';
import type { SyncAction, SyncEntry, SyncPlan, SyncPort } from './plan.js';
import { planSync } from './plan.js';

export interface SyncReport {
  /** etcd revision the comparison was made at. */
  revision: number;
  dry_run: boolean;
  /** Ports Neutron no longer has (or has elsewhere, or differently): the agent unplugs them. */
  unplug_requested: SyncEntry[];
  /** Leftover keys without a bind_port, removed (and slots freed) directly. */
  cleaned: SyncEntry[];
  /** Bound ports whose keys were missing: slot (re)claimed and plug requested. */
  plug_requested: SyncEntry[];
  /** Left alone on purpose (in the middle of binding, recently changed, unplug pending). */
  skipped: SyncEntry[];
  /** Could not be repaired now (not an SPP host, no free slot, changed concurrently). */
  errors: SyncEntry[];
  etcd_requests: number;
}

export interface SyncDeps {
  store: EtcdStore;
  clock: RevisionClock;
  reservations: SlotReservations;
  isBinding(host: string, portId: string): boolean;
  graceMs: number;
  metrics: BinderMetrics;
  logger: Logger;
}

/**
 * Makes etcd match Neutron's list of bound ports: one read of every host, a pure plan, then
 * its transactions (hosts side by side, one port after the other within a host). A
 * transaction whose guard fails is reported as a conflict; the next sync tries again.
 */
export async function fullSync(
  deps: SyncDeps,
  ports: SyncPort[],
  options: { dryRun: boolean },
): Promise<SyncReport> {
  const read = await readAllHosts(deps.store);
  const plan = planSync({
    hosts: read.hosts,
    revision: read.revision,
    ports,
    isBinding: deps.isBinding,
    ageOf: (revision) => deps.clock.ageOf(revision),
    graceMs: deps.graceMs,
    reserved: deps.reservations,
  });
  const report: SyncReport = {
    revision: read.revision,
    dry_run: options.dryRun,
    unplug_requested: [],
    cleaned: [],
    plug_requested: [],
    skipped: [],
    errors: [],
    etcd_requests: 1,
  };
  for (const finding of plan.findings) report[finding.category].push(finding.entry);
  await Promise.all(
    [...groupByHost(plan.actions).values()].map(async (actions) => {
      for (const action of actions) await carryOut(deps, action, options.dryRun, report);
    }),
  );
  record(deps, report, ports.length);
  return report;
}

function groupByHost(actions: SyncPlan['actions']): Map<string, SyncAction[]> {
  const hosts = new Map<string, SyncAction[]>();
  for (const action of actions) {
    const list = hosts.get(action.host);
    if (list) list.push(action);
    else hosts.set(action.host, [action]);
  }
  return hosts;
}

async function carryOut(
  deps: SyncDeps,
  action: SyncAction,
  dryRun: boolean,
  report: SyncReport,
): Promise<void> {
  if (dryRun) {
    report[action.category].push(action.entry);
    return;
  }
  if (action.claim) deps.reservations.reserve(action.claim);
  try {
    report.etcd_requests++;
    deps.metrics.etcdRequest('txn');
    const result = await deps.store.transaction(action.conditions, action.operations);
    if (result.succeeded) report[action.category].push(action.entry);
    else {
      report.errors.push({
        ...action.entry,
        reason: 'conflict',
        detail: 'its keys changed during the sync',
      });
    }
  } finally {
    if (action.claim) deps.reservations.release(action.claim);
  }
}

function record(deps: SyncDeps, report: SyncReport, neutronPorts: number): void {
  const m = deps.metrics;
  m.syncChanges('unplug_requested', report.unplug_requested.length);
  m.syncChanges('cleaned', report.cleaned.length);
  m.syncChanges('plug_requested', report.plug_requested.length);
  m.syncChanges('error', report.errors.length);
  deps.logger.info(
    {
      revision: report.revision,
      dry_run: report.dry_run,
      neutron_ports: neutronPorts,
      unplug_requested: report.unplug_requested.length,
      cleaned: report.cleaned.length,
      plug_requested: report.plug_requested.length,
      skipped: report.skipped.length,
      errors: report.errors.length,
      etcd_requests: report.etcd_requests,
    },
    'sync',
  );
}
