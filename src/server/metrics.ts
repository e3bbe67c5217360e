import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HostState } from '../snapshot/model.js';
import { valueOf } from '../snapshot/model.js';

/** Free slots per physnet of one host. */
function freeByPhysnet(host: HostState): Map<string, number> {
  const free = new Map<string, number>();
  for (const slot of host.slots.values()) {
    free.set(slot.physnet, (free.get(slot.physnet) ?? 0) + (slot.holder.free ? 1 : 0));
  }
  return free;
}

/** What the binder reports; the Prometheus implementation is below, tests may pass their own. */
export interface BinderMetrics {
  bind(result: string, seconds: number): void;
  unbind(result: string): void;
  syncChanges(kind: string, count: number): void;
  etcdRequest(operation: 'read' | 'txn'): void;
  inflight(delta: number): void;
}

export const noMetrics: BinderMetrics = {
  bind: () => undefined,
  unbind: () => undefined,
  syncChanges: () => undefined,
  etcdRequest: () => undefined,
  inflight: () => undefined,
};

type HostLabel = 'host' | 'physnet' | 'state';
/** Registers a gauge filled per host with a layout from the service's snapshot when scraped. */
type PerHost = (
  name: string,
  help: string,
  labelNames: readonly HostLabel[],
  fill: (gauge: Gauge<HostLabel>, host: HostState) => void,
) => void;

function perHostGauges(registers: Registry[], hosts: () => Iterable<HostState>): PerHost {
  return (name, help, labelNames, fill) => {
    const gauge: Gauge<HostLabel> = new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect: () => {
        gauge.reset();
        for (const host of hosts()) if (host.configuration) fill(gauge, host);
      },
    });
  };
}

/** Tap-as-a-service: tap flows by state and mirror slots per host. */
function registerTapGauges(perHost: PerHost): void {
  perHost(
    'spp_server_tap_flows',
    "Tap flows in etcd per host, by state (up, pending, unplugging), from the service's snapshot",
    ['host', 'state'],
    (gauge, host) => {
      const counts = { up: 0, pending: 0, unplugging: 0 };
      for (const tap of host.taps.values()) {
        if (tap.action?.ok && tap.action.value === 'unplug') counts.unplugging++;
        else if (tap.status?.ok) counts.up++;
        else counts.pending++;
      }
      for (const [state, count] of Object.entries(counts))
        gauge.set({ host: host.host, state }, count);
    },
  );
  perHost(
    'spp_server_mirror_slots',
    'Mirror slots per host, free or used (tap-as-a-service)',
    ['host', 'state'],
    (gauge, host) => {
      if (host.mirrors.size === 0) return;
      const free = [...host.mirrors.values()].filter((slot) => slot.holder.free).length;
      gauge.set({ host: host.host, state: 'free' }, free);
      gauge.set({ host: host.host, state: 'used' }, host.mirrors.size - free);
    },
  );
}

/** Gauges read from the service's etcd snapshot when scraped: slots, agents, SPP per host. */
function registerHostGauges(registers: Registry[], hosts: () => Iterable<HostState>): void {
  const perHost = perHostGauges(registers, hosts);
  registerTapGauges(perHost);
  perHost(
    'spp_server_free_vhost_slots',
    "Free vhost slots per host and physical network (from the service's etcd snapshot)",
    ['host', 'physnet'],
    (gauge, host) => {
      for (const [physnet, count] of freeByPhysnet(host))
        gauge.set({ host: host.host, physnet }, count);
    },
  );
  perHost(
    'spp_server_agent_alive',
    "1 when the host's SPP agent holds its etcd liveness key, else 0 (hosts with a layout)",
    ['host'],
    (gauge, host) => gauge.set({ host: host.host }, host.agent ? 1 : 0),
  );
  perHost(
    'spp_server_spp_reachable',
    "1 when the host's live agent reports SPP reachable, 0 when it reports it unreachable (binds refused as spp_unreachable); absent without a live agent",
    ['host'],
    (gauge, host) => {
      const spp = valueOf(host.agent)?.spp;
      if (spp) gauge.set({ host: host.host }, spp.state === 'ok' ? 1 : 0);
    },
  );
}

/** Bind latency buckets (seconds): fine below 10 ms, where binds should be, up to the timeout. */
const BIND_BUCKETS = [
  0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10, 20, 30, 60,
];

/**
 * The service's Prometheus registry: binds by result, bind latency, unbinds, sync changes,
 * etcd requests made by binds, and (from the service's etcd snapshot) free vhost slots per
 * host and physical network and agent liveness per host.
 */
export class ServerMetrics implements BinderMetrics {
  readonly registry = new Registry();
  private readonly binds: Counter<'result'>;
  private readonly bindSeconds: Histogram<'result'>;
  private readonly unbinds: Counter<'result'>;
  private readonly sync: Counter<'change'>;
  private readonly etcdRequests: Counter<'operation'>;
  private readonly inflightBinds: Gauge;
  private readonly tapCreates: Counter<'result'>;

  constructor(hosts: () => Iterable<HostState>, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.binds = new Counter({
      name: 'spp_server_binds_total',
      help: 'Bind requests answered, by result (bound or the reason it was not). Counts requests, not ports: ML2 retries a port whose binding failed (up to 10 times per port update), so one refused port can count up to 10',
      labelNames: ['result'],
      registers,
    });
    this.bindSeconds = new Histogram({
      name: 'spp_server_bind_duration_seconds',
      help: 'Time from receiving a bind to answering it, by result',
      labelNames: ['result'],
      buckets: BIND_BUCKETS,
      registers,
    });
    this.unbinds = new Counter({
      name: 'spp_server_unbinds_total',
      help: 'Unbinds answered, by result',
      labelNames: ['result'],
      registers,
    });
    this.sync = new Counter({
      name: 'spp_server_sync_changes_total',
      help: 'Changes made (or found impossible) by full syncs, by kind',
      labelNames: ['change'],
      registers,
    });
    this.etcdRequests = new Counter({
      name: 'spp_server_etcd_requests_total',
      help: 'etcd requests made by binds, unbinds and syncs (the shared watch not included)',
      labelNames: ['operation'],
      registers,
    });
    this.inflightBinds = new Gauge({
      name: 'spp_server_inflight_binds',
      help: 'Binds being processed now',
      registers,
    });
    registerHostGauges(registers, hosts);
    this.tapCreates = new Counter({
      name: 'spp_server_tap_flow_creates_total',
      help: 'Tap flow creates answered, by result (active or the reason it is not)',
      labelNames: ['result'],
      registers,
    });
  }

  bind(result: string, seconds: number): void {
    this.binds.inc({ result });
    this.bindSeconds.observe({ result }, seconds);
  }

  tapCreate(result: string, _seconds: number): void {
    this.tapCreates.inc({ result });
  }

  unbind(result: string): void {
    this.unbinds.inc({ result });
  }

  syncChanges(kind: string, count: number): void {
    if (count > 0) this.sync.inc({ change: kind }, count);
  }

  etcdRequest(operation: 'read' | 'txn'): void {
    this.etcdRequests.inc({ operation });
  }

  inflight(delta: number): void {
    this.inflightBinds.inc(delta);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
