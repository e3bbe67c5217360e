import { ETCD_OPTIONS, HOST_OPTION, etcdSettingsFromOptions } from '../config/etcd-options.js';
import type { IniOptions } from '../config/ini.js';
import type { OptionDef } from '../config/option.js';
import { integerOption, secondsOption, stringOption } from '../config/option.js';
import { OptionReader } from '../config/reader.js';
import type { EtcdSettings } from '../etcd/connection.js';
import { z } from 'zod';
import { InputError } from '../util/errors.js';
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

/** The agent's own options (besides the `[spp]` etcd options and `[DEFAULT] host`). */
export const AGENT_OPTIONS = {
  apiIpAddr: stringOption('spp', 'api_ip_addr', {
    default: '127.0.0.1',
    help: "Address of spp-ctl's REST API on this host.",
  }),
  apiPort: integerOption('spp', 'api_port', {
    default: 7777,
    min: 1,
    max: 65535,
    help: "Port of spp-ctl's REST API.",
  }),
  sppCtlTimeout: secondsOption('spp', 'spp_ctl_timeout', {
    default: 5,
    min: 0.05,
    max: 300,
    help: 'Seconds each spp-ctl request may take.',
  }),
  sppDialect: stringOption('spp', 'spp_dialect', {
    default: 'auto',
    choices: DIALECT_CHOICES,
    help: "SPP version of spp-ctl's REST API: 18.08, 19.11, or auto (detected from the first status answer).",
  }),
  reconcileInterval: secondsOption('spp', 'reconcile_interval', {
    default: 5,
    min: 0.1,
    max: 3600,
    help: 'Seconds between full comparisons of etcd and SPP (repairs e.g. a restarted spp_vf).',
  }),
  retryMaxInterval: secondsOption('spp', 'retry_max_interval', {
    default: 10,
    min: 0.1,
    max: 600,
    help: 'Cap, in seconds, of the exponential backoff between retries after errors.',
  }),
  livenessTtl: integerOption('spp', 'agent_liveness_ttl', {
    default: 15,
    min: 2,
    max: 3600,
    help: "TTL, in seconds, of the lease behind the agent's liveness key /spp/openstack/agent/<host>.",
  }),
  metricsPort: integerOption('spp', 'agent_metrics_port', {
    min: 0,
    max: 65535,
    help: 'Serve Prometheus metrics on this port (unset: no metrics).',
  }),
  metricsAddress: stringOption('spp', 'agent_metrics_address', {
    default: '127.0.0.1',
    help: 'Address of the metrics listener.',
  }),
  transportUrl: stringOption('DEFAULT', 'transport_url', {
    secret: true,
    help: "RabbitMQ for the state reports to Neutron, in oslo.messaging's URL syntax (several hosts allowed); unset: no reports.",
  }),
  reportInterval: secondsOption('AGENT', 'report_interval', {
    default: 30,
    min: 0,
    max: 86400,
    help: "Seconds between state reports to Neutron; 0 disables them. Read from [agent] (any case), like Neutron's agents.",
  }),
} as const;

/** Every option the agent reads, in the order of its sample configuration. */
export const AGENT_REGISTRY: readonly OptionDef[] = [
  HOST_OPTION,
  AGENT_OPTIONS.transportUrl,
  AGENT_OPTIONS.reportInterval,
  ...Object.values(ETCD_OPTIONS),
  ...Object.values(AGENT_OPTIONS).filter(
    (option) => option !== AGENT_OPTIONS.transportUrl && option !== AGENT_OPTIONS.reportInterval,
  ),
];

/**
 * The agent's options out of oslo-style INI files: the original's `[DEFAULT] host` and
 * `[spp]` etcd_host, etcd_port, api_ip_addr, api_port; the new `[spp]` options; and, for
 * the heartbeat to Neutron, `[DEFAULT] transport_url` and `[AGENT] report_interval` as
 * Neutron's own agents read them.
 */
/**
 * The host name is part of every etcd key of the host (`<family>/<host>/…`): one with a "/"
 * or an empty one (`host =`, which oslo.config reads as '') can never be served, so it is
 * refused at start-up (exit 2) rather than retried forever.
 */
const hostNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((host) => !host.includes('/'), 'must not contain "/"');

function agentHost(reader: OptionReader): string {
  // Unset: this machine's name. Set, even to nothing: what oslo.config gives, '' included.
  const host = reader.isSet(HOST_OPTION)
    ? (reader.osloValue(HOST_OPTION) ?? '')
    : reader.value(HOST_OPTION);
  const checked = hostNameSchema.safeParse(host);
  if (!checked.success) {
    const why = checked.error.issues.map((issue) => issue.message).join('; ');
    throw new InputError(
      `[DEFAULT] host: "${host}" ${why} (it names this host in etcd, as Neutron's binding:host_id)`,
    );
  }
  return host;
}

export function agentOptionsFromIni(ini: IniOptions): AgentOptions {
  const reader = new OptionReader(ini, AGENT_REGISTRY);
  const o = AGENT_OPTIONS;
  const address = reader.value(o.apiIpAddr);
  const port = reader.value(o.apiPort);
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  const metricsPort = reader.get(o.metricsPort);
  const transportUrl = reader.get(o.transportUrl);
  const seconds = (option: OptionDef<number>) => reader.value(option) * 1000;
  return {
    host: agentHost(reader),
    etcd: etcdSettingsFromOptions(reader),
    sppCtlUrl: `http://${host}:${port}`,
    sppCtlTimeoutMs: seconds(o.sppCtlTimeout),
    dialect: reader.value(o.sppDialect) as AgentOptions['dialect'],
    reconcileIntervalMs: seconds(o.reconcileInterval),
    retryMaxMs: seconds(o.retryMaxInterval),
    livenessTtlS: reader.value(o.livenessTtl),
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    metricsAddress: reader.value(o.metricsAddress),
    ...(transportUrl !== undefined ? { transportUrl } : {}),
    reportIntervalS: reader.value(o.reportInterval),
  };
}
