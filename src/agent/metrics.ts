/** What the agent reports about its work; the Prometheus version lives in prometheus.ts. */
export interface AgentMetrics {
  /** A plug or unplug finished (`ok`) or failed; seconds since the agent saw the request. */
  portAction(action: 'plug' | 'unplug', result: 'ok' | 'error', seconds: number): void;
  /** SPP differed from etcd without a new request (e.g. after a spp_vf restart) and was repaired. */
  repair(kind: 'component' | 'vhost', count: number): void;
  sppCtlError(process: string): void;
  watchRestart(reason: 'silent' | 'resync'): void;
  pluggedPorts(count: number): void;
  /** Tap flows wired now (those etcd wants and SPP carries). */
  tapFlows?(count: number): void;
  /** A tap flow plugged or unplugged, or a tap etcd does not have removed from SPP. */
  tapAction?(action: 'plug' | 'unplug' | 'stale'): void;
  /** Whether the agent reaches spp-ctl and every spp_vf (binds are refused while it does not). */
  sppReachable(ok: boolean): void;
}

export const noAgentMetrics: AgentMetrics = {
  portAction: () => undefined,
  repair: () => undefined,
  sppCtlError: () => undefined,
  watchRestart: () => undefined,
  pluggedPorts: () => undefined,
  sppReachable: () => undefined,
};
