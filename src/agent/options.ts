import { etcdSettingsFromIni, hostFromIni } from '../config/etcd-options.js';
import type { IniOptions } from '../config/ini.js';
import { parseChoice, parseInteger, parseSeconds } from '../config/ini.js';
import type { EtcdSettings } from '../etcd/connection.js';
import type { Dialect } from './layout-index.js';

export interface AgentOptions {
  host: string;
  etcd: EtcdSettings;
  /** spp-ctl base URL, from `[spp] api_ip_addr` / `api_port`. */
  sppCtlUrl: string;
  /** Deadline of each spp-ctl request (ms). */
  sppCtlTimeoutMs: number;
  /** SPP REST dialect, or `auto` to detect it from the first status answer. */
  dialect: Dialect | 'auto';
  /** Full comparison of etcd and SPP at least this often (ms). */
  reconcileIntervalMs: number;
  /** Cap of the exponential backoff between retries after errors (ms). */
  retryMaxMs: number;
  /** TTL of the lease that keeps `agent/<host>` alive (s). */
  livenessTtlS: number;
  /** Prometheus metrics on `metricsAddress:metricsPort`; undefined = off. */
  metricsPort?: number;
  metricsAddress: string;
  /** `[DEFAULT] transport_url` (RabbitMQ, oslo syntax): where to report state to Neutron. */
  transportUrl?: string;
  /** `[AGENT] report_interval` (s) between state reports to Neutron; 0 disables them. */
  reportIntervalS: number;
}

export const DIALECT_CHOICES = ['auto', '18.08', '19.11'] as const;

/**
 * The agent's options out of oslo-style INI files: the original's `[DEFAULT] host` and
 * `[spp]` etcd_host, etcd_port, api_ip_addr, api_port; plus new `[spp]` options
 * (etcd_endpoints, etcd TLS/auth/timeout, spp_ctl_timeout, spp_dialect,
 * reconcile_interval, retry_max_interval, agent_liveness_ttl, agent_metrics_port,
 * agent_metrics_address); and, for the heartbeat to Neutron, `[DEFAULT] transport_url`
 * and `[AGENT] report_interval` as Neutron's own agents read them.
 */
export function agentOptionsFromIni(ini: IniOptions): AgentOptions {
  const address = ini.getString('spp', 'api_ip_addr', '127.0.0.1');
  const port = ini.get('spp', 'api_port', parseInteger(1, 65535), 7777);
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  const metricsPort = ini.get<number | undefined>(
    'spp',
    'agent_metrics_port',
    parseInteger(0, 65535),
    undefined,
  );
  const transportUrl = ini.getOptionalString('DEFAULT', 'transport_url');
  return {
    host: hostFromIni(ini),
    etcd: etcdSettingsFromIni(ini),
    sppCtlUrl: `http://${host}:${port}`,
    sppCtlTimeoutMs: ini.get('spp', 'spp_ctl_timeout', parseSeconds(0.05, 300), 5) * 1000,
    dialect: ini.get('spp', 'spp_dialect', parseChoice(DIALECT_CHOICES), 'auto'),
    reconcileIntervalMs: ini.get('spp', 'reconcile_interval', parseSeconds(0.1, 3600), 5) * 1000,
    retryMaxMs: ini.get('spp', 'retry_max_interval', parseSeconds(0.1, 600), 10) * 1000,
    livenessTtlS: ini.get('spp', 'agent_liveness_ttl', parseInteger(2, 3600), 15),
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    metricsAddress: ini.getString('spp', 'agent_metrics_address', '127.0.0.1'),
    ...(transportUrl !== undefined ? { transportUrl } : {}),
    reportIntervalS: ini.get('AGENT', 'report_interval', parseSeconds(0, 86400), 30),
  };
}
