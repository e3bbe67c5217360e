import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentMetrics } from './metrics.js';

const ACTION_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Prometheus registry of the agent, served on `GET /metrics`. */
export class PrometheusAgentMetrics implements AgentMetrics {
  readonly registry = new Registry();
  private readonly actions: Counter<'action' | 'result'>;
  private readonly actionSeconds: Histogram<'action'>;
  private readonly repairs: Counter<'kind'>;
  private readonly sppErrors: Counter<'process'>;
  private readonly watchRestarts: Counter<'reason'>;
  private readonly plugged: Gauge;
  private readonly taps: Gauge;
  private readonly tapActions: Counter<'action'>;
  private readonly reachable: Gauge;

  constructor(host: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ host });
    collectDefaultMetrics({ register: this.registry });
    this.actions = new Counter({
      name: 'spp_agent_port_actions_total',
      help: 'Plugs and unplugs finished, by action and result',
      labelNames: ['action', 'result'],
      registers,
    });
    this.actionSeconds = new Histogram({
      name: 'spp_agent_port_action_duration_seconds',
      help: 'Time from seeing a plug/unplug request in etcd to reporting it done',
      labelNames: ['action'],
      buckets: ACTION_BUCKETS,
      registers,
    });
    this.repairs = new Counter({
      name: 'spp_agent_reconcile_repairs_total',
      help: 'Differences between etcd and SPP repaired by reconciliation, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.sppErrors = new Counter({
      name: 'spp_agent_spp_ctl_errors_total',
      help: 'spp-ctl requests that failed, by SPP process',
      labelNames: ['process'],
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'spp_agent_watch_restarts_total',
      help: 'etcd watches re-created, by reason (silent watch, or resync after compaction)',
      labelNames: ['reason'],
      registers,
    });
    this.plugged = new Gauge({
      name: 'spp_agent_plugged_ports',
      help: 'Ports currently plugged on this host',
      registers,
    });
    this.reachable = new Gauge({
      name: 'spp_agent_spp_reachable',
      help: '1 while the agent reaches spp-ctl and every spp_vf, 0 while it does not (binds on the host are then refused as spp_unreachable)',
      registers,
    });
    this.reachable.set(1);
    this.taps = new Gauge({
      name: 'spp_agent_tap_flows',
      help: 'Tap flows currently wired on this host (tap-as-a-service)',
      registers,
    });
    this.tapActions = new Counter({
      name: 'spp_agent_tap_actions_total',
      help: 'Tap flows plugged or unplugged (etcd completion written), and stale SPP taps removed',
      labelNames: ['action'],
      registers,
    });
  }

  tapFlows(count: number): void {
    this.taps.set(count);
  }

  tapAction(action: 'plug' | 'unplug' | 'stale'): void {
    this.tapActions.inc({ action });
  }

  portAction(action: 'plug' | 'unplug', result: 'ok' | 'error', seconds: number): void {
    this.actions.inc({ action, result });
    if (result === 'ok') this.actionSeconds.observe({ action }, seconds);
  }

  repair(kind: 'component' | 'vhost', count: number): void {
    this.repairs.inc({ kind }, count);
  }

  sppCtlError(process: string): void {
    this.sppErrors.inc({ process });
  }

  watchRestart(reason: 'silent' | 'resync'): void {
    this.watchRestarts.inc({ reason });
  }

  pluggedPorts(count: number): void {
    this.plugged.set(count);
  }

  sppReachable(ok: boolean): void {
    this.reachable.set(ok ? 1 : 0);
  }

  /** Serves the registry on `address:port`; resolves with the bound port. */
  async serve(address: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
    const server: Server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) =>
          response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
