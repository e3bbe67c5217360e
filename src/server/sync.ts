import { ROOT, parseKey } from '../etcd/keys.js';
import type { KeyValue, Read } from '../etcd/store.js';
import type { Binder, RequestCounter } from './binder.js';
import type { PortView, Segment, Wanted } from './plan.js';
import { addToView, planBind, selectSegment } from './plan.js';

/** A port Neutron has bound through this driver, as the full sync lists it. */
export interface SyncPort {
  id: string;
  host: string;
  mac_address: string;
  segment: Segment;
}

export interface SyncEntry {
  port_id: string;
  host: string;
  vhost_id?: number;
  reason: string;
  detail: string;
}

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

interface HostData {
  config?: KeyValue;
  kvs: KeyValue[];
  portIds: Set<string>;
}

/**
 * Makes etcd match Neutron's list of bound ports: what Neutron does not have is unplugged
 * (or cleaned up), bound ports whose keys are missing get a slot and a plug request.
 * Ports with a bind running in this process, or whose keys changed within the grace
 * period, are left alone: they may be binding right now, after Neutron's list was taken.
 */
export async function fullSync(
  binder: Binder,
  ports: SyncPort[],
  options: { dryRun: boolean },
): Promise<SyncReport> {
  const counter: RequestCounter = { requests: 0 };
  const snapshot = await binder.read(
    counter,
    ['configuration', 'agent', 'vhost', 'bind_port', 'action', 'port_status'].map((kind): Read => ({
      getPrefix: `${ROOT}${kind}/`,
    })),
  );
  const report: SyncReport = {
    revision: snapshot.revision,
    dry_run: options.dryRun,
    unplug_requested: [],
    cleaned: [],
    plug_requested: [],
    skipped: [],
    errors: [],
    etcd_requests: 0,
  };
  const hosts = new Map<string, HostData>();
  const hostData = (host: string): HostData => {
    let data = hosts.get(host);
    if (!data) hosts.set(host, (data = { kvs: [], portIds: new Set() }));
    return data;
  };
  for (const kv of snapshot.kvs) {
    const parsed = parseKey(kv.key);
    if (!parsed) continue;
    const data = hostData(parsed.host);
    data.kvs.push(kv);
    if (parsed.kind === 'configuration') data.config = kv;
    if (parsed.kind === 'vhost' && kv.value !== 'None') data.portIds.add(kv.value);
    if (parsed.kind === 'bind_port' || parsed.kind === 'action' || parsed.kind === 'port_status') {
      data.portIds.add(parsed.portId);
    }
  }
  const wanted = new Map<string, SyncPort>();
  for (const port of ports) wanted.set(`${port.host}\u0000${port.id}`, port);
  const viewOf = (host: string, portId: string): PortView => {
    const view: PortView = { host, portId, revision: snapshot.revision, slots: [] };
    for (const kv of hosts.get(host)?.kvs ?? []) addToView(view, kv);
    view.slots.sort((a, b) => a.vhostId - b.vhostId);
    return view;
  };
  const entry = (
    host: string,
    portId: string,
    reason: string,
    detail: string,
    vhostId?: number,
  ): SyncEntry => ({
    port_id: portId,
    host,
    ...(vhostId !== undefined ? { vhost_id: vhostId } : {}),
    reason,
    detail,
  });

  // Work per host in parallel, one port after the other within a host.
  const allHosts = new Set<string>([...hosts.keys(), ...ports.map((port) => port.host)]);
  await Promise.all(
    [...allHosts].map(async (host) => {
      const data = hosts.get(host);
      // 1. What etcd has and Neutron does not.
      for (const portId of data?.portIds ?? []) {
        if (wanted.has(`${host}\u0000${portId}`)) continue;
        if (binder.isBinding(host, portId)) {
          report.skipped.push(entry(host, portId, 'binding', 'a bind of this port is running'));
          continue;
        }
        const view = viewOf(host, portId);
        const revisions = [
          view.bindPort?.modRevision ?? 0,
          view.action?.modRevision ?? 0,
          view.status?.modRevision ?? 0,
          ...view.slots.filter((slot) => slot.portId === portId).map((slot) => slot.modRevision),
        ];
        const age = binder.hub.clock.ageOf(Math.max(...revisions));
        if (age < binder.options.syncGraceMs) {
          report.skipped.push(
            entry(
              host,
              portId,
              'recent',
              `its keys changed ${Math.round(age / 1000)} s ago (grace ${binder.options.syncGraceMs / 1000} s); it may be binding`,
            ),
          );
          continue;
        }
        const step = await binder.unplugStep(counter, view, [], options.dryRun);
        const why = 'Neutron does not have this port bound on this host';
        if (step === 'unplug_requested') {
          report.unplug_requested.push(entry(host, portId, 'not_in_neutron', why));
        } else if (step === 'cleaned') {
          report.cleaned.push(entry(host, portId, 'not_in_neutron', `${why}; no bind_port`));
        } else if (step === 'already_pending') {
          report.skipped.push(entry(host, portId, 'unplug_pending', 'its unplug is pending'));
        } else if (step !== 'not_found') {
          report.errors.push(entry(host, portId, 'conflict', 'its keys changed during the sync'));
        }
      }
      // 2. What Neutron has bound here and etcd lacks (or has differently).
      for (const port of ports) {
        if (port.host !== host) continue;
        await repairBound(binder, counter, port, data, viewOf, report, entry, options.dryRun);
      }
    }),
  );
  report.etcd_requests = counter.requests;
  const m = binder.metrics;
  m.syncChanges('unplug_requested', report.unplug_requested.length);
  m.syncChanges('cleaned', report.cleaned.length);
  m.syncChanges('plug_requested', report.plug_requested.length);
  m.syncChanges('error', report.errors.length);
  binder.logger.info(
    {
      revision: report.revision,
      dry_run: report.dry_run,
      neutron_ports: ports.length,
      unplug_requested: report.unplug_requested.length,
      cleaned: report.cleaned.length,
      plug_requested: report.plug_requested.length,
      skipped: report.skipped.length,
      errors: report.errors.length,
      etcd_requests: counter.requests,
    },
    'sync',
  );
  return report;
}

async function repairBound(
  binder: Binder,
  counter: RequestCounter,
  port: SyncPort,
  data: HostData | undefined,
  viewOf: (host: string, portId: string) => PortView,
  report: SyncReport,
  entry: (h: string, p: string, r: string, d: string, v?: number) => SyncEntry,
  dryRun: boolean,
): Promise<void> {
  const { host, id: portId } = port;
  if (binder.isBinding(host, portId)) {
    report.skipped.push(entry(host, portId, 'binding', 'a bind of this port is running'));
    return;
  }
  if (!data?.config) {
    report.errors.push(
      entry(host, portId, 'not_spp_host', `host ${host} has no SPP configuration in etcd`),
    );
    return;
  }
  const physnets = binder.physnetsOf(host, data.config);
  if (!(physnets instanceof Set)) {
    report.errors.push(entry(host, portId, 'error', physnets.error));
    return;
  }
  const selected = selectSegment([port.segment], physnets);
  if (!selected) {
    report.errors.push(
      entry(
        host,
        portId,
        'no_segment',
        `segment ${port.segment.id} is not a flat or vlan segment on a physical network SPP serves on host ${host}`,
      ),
    );
    return;
  }
  const wanted: Wanted = {
    macAddress: port.mac_address.toLowerCase(),
    physnet: selected.physnet,
    ...(selected.vlanId !== undefined ? { vlanId: selected.vlanId } : {}),
  };
  const view = viewOf(host, portId);
  // An unplug request without bind_port that is older than the grace period is a leftover.
  const unplugLeftover =
    !view.bindPort &&
    view.action?.value === 'unplug' &&
    binder.hub.clock.ageOf(view.action.modRevision) >= binder.options.syncGraceMs;
  const plan = planBind(view, wanted, binder.reservedSlots, undefined, { unplugLeftover });
  switch (plan.kind) {
    case 'bound':
    case 'wait':
      return;
    case 'await-unplug':
      report.skipped.push(
        entry(
          host,
          portId,
          'unplug_pending',
          'Neutron has it bound but an unplug is pending; it is plugged again by a later sync',
        ),
      );
      return;
    case 'no-free-slot':
      report.errors.push(entry(host, portId, 'no_free_vhost', plan.detail));
      return;
    case 'request-unplug':
      if (!dryRun) {
        const result = await binder.txn(counter, plan.conditions, plan.operations);
        if (!result.succeeded) {
          report.errors.push(entry(host, portId, 'conflict', 'its keys changed during the sync'));
          return;
        }
      }
      report.unplug_requested.push(
        entry(
          host,
          portId,
          'mismatch',
          'plugged with another MAC, VLAN or physical network than Neutron has; it is plugged again by a later sync',
        ),
      );
      return;
    case 'write': {
      if (!dryRun) {
        if (plan.claim) binder.reserve(plan.claim);
        try {
          const result = await binder.txn(counter, plan.conditions, plan.operations);
          if (!result.succeeded) {
            report.errors.push(entry(host, portId, 'conflict', 'its keys changed during the sync'));
            return;
          }
        } finally {
          if (plan.claim) binder.release(plan.claim);
        }
      }
      if (plan.claim) {
        // Later ports of this host must see the slot as taken.
        const claim = plan.claim;
        data.kvs = data.kvs.map((kv) => (kv.key === claim ? { ...kv, value: portId } : kv));
      }
      report.plug_requested.push(
        entry(
          host,
          portId,
          'missing_in_etcd',
          `Neutron has it bound; plug requested on vhost ${plan.vhostId}`,
          plan.vhostId,
        ),
      );
      return;
    }
  }
}
