import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** What the Placement sync reports; tests may pass `noPlacementMetrics`. */
export interface PlacementSyncMetrics {
  leader(leader: boolean): void;
  sync(result: 'ok' | 'error', atSeconds: number): void;
  write(operation: string): void;
  providers(count: number, waitingHosts: number, pinned: number): void;
}

export const noPlacementMetrics: PlacementSyncMetrics = {
  leader: () => undefined,
  sync: () => undefined,
  write: () => undefined,
  providers: () => undefined,
};

/** The sync's Prometheus metrics, registered in the binding service's registry. */
export class PlacementMetrics implements PlacementSyncMetrics {
  private readonly leaderGauge: Gauge;
  private readonly syncs: Counter<'result'>;
  private readonly lastOk: Gauge;
  private readonly lastAt: Gauge;
  private readonly writes: Counter<'operation'>;
  private readonly providerGauge: Gauge;
  private readonly waitingGauge: Gauge;
  private readonly pinnedGauge: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.leaderGauge = new Gauge({
      name: 'spp_placement_leader',
      help: '1 while this instance is the one that writes SPP inventory to Placement, else 0',
      registers,
    });
    this.syncs = new Counter({
      name: 'spp_placement_syncs_total',
      help: 'Comparisons of etcd with Placement (and the writes they led to), by result',
      labelNames: ['result'],
      registers,
    });
    this.lastOk = new Gauge({
      name: 'spp_placement_last_sync_success',
      help: '1 when the last sync by this instance succeeded, 0 when it failed',
      registers,
    });
    this.lastAt = new Gauge({
      name: 'spp_placement_last_sync_timestamp_seconds',
      help: 'Unix time of the last sync attempt by this instance',
      registers,
    });
    this.writes = new Counter({
      name: 'spp_placement_writes_total',
      help: 'Writes to Placement by this instance, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.providerGauge = new Gauge({
      name: 'spp_placement_providers',
      help: 'SPP resource providers (host, physnet) in Placement after the last successful sync',
      registers,
    });
    this.waitingGauge = new Gauge({
      name: 'spp_placement_hosts_waiting',
      help: 'SPP hosts whose compute-node provider is not in Placement (no inventory for them)',
      registers,
    });
    this.pinnedGauge = new Gauge({
      name: 'spp_placement_providers_pinned',
      help: 'Providers of removed hosts or physnets kept because allocations still use them',
      registers,
    });
    this.leaderGauge.set(0);
  }

  leader(leader: boolean): void {
    this.leaderGauge.set(leader ? 1 : 0);
  }

  sync(result: 'ok' | 'error', atSeconds: number): void {
    this.syncs.inc({ result });
    this.lastOk.set(result === 'ok' ? 1 : 0);
    this.lastAt.set(atSeconds);
  }

  write(operation: string): void {
    this.writes.inc({ operation });
  }

  providers(count: number, waitingHosts: number, pinned: number): void {
    this.providerGauge.set(count);
    this.waitingGauge.set(waitingHosts);
    this.pinnedGauge.set(pinned);
  }
}
