import { hostname } from 'node:os';
import type { EtcdSettings } from '../etcd/connection.js';
import { DEFAULT_ETCD_SETTINGS, parseEndpoints } from '../etcd/connection.js';
import { integerOption, secondsOption, stringOption } from './option.js';
import type { IniOptions } from './ini.js';
import { OptionReader } from './reader.js';

/** `[spp]` options of etcd, shared by the agent, the service and the CLI. */
export const ETCD_OPTIONS = {
  etcdHost: stringOption('spp', 'etcd_host', {
    default: '127.0.0.1',
    help: 'Host name or address of etcd (the original networking-spp option); ignored when etcd_endpoints is set.',
  }),
  etcdPort: integerOption('spp', 'etcd_port', {
    default: 2379,
    min: 1,
    max: 65535,
    help: 'Client port of etcd at etcd_host; ignored when etcd_endpoints is set.',
  }),
  etcdEndpoints: stringOption('spp', 'etcd_endpoints', {
    help: 'etcd cluster members as HOST:PORT[,HOST:PORT...] (http:// or https:// allowed); replaces etcd_host and etcd_port.',
  }),
  etcdTimeout: secondsOption('spp', 'etcd_timeout', {
    default: DEFAULT_ETCD_SETTINGS.requestTimeoutMs / 1000,
    min: 0.1,
    max: 300,
    help: 'Seconds each etcd request may take.',
  }),
  etcdCaCert: stringOption('spp', 'etcd_ca_cert', {
    help: 'PEM file of the CA that signed the etcd server certificates; set it to talk TLS to etcd.',
  }),
  etcdCert: stringOption('spp', 'etcd_cert', {
    help: 'PEM file of the client certificate for etcd (with etcd_ca_cert).',
  }),
  etcdKey: stringOption('spp', 'etcd_key', {
    help: 'PEM file of the private key of etcd_cert.',
  }),
  etcdUsername: stringOption('spp', 'etcd_username', {
    help: 'etcd user name, for etcd with authentication enabled.',
  }),
  etcdPassword: stringOption('spp', 'etcd_password', {
    secret: true,
    help: 'Password of etcd_username.',
  }),
} as const;

/** `[DEFAULT] host`, as Neutron's own programs read it. */
export const HOST_OPTION = stringOption('DEFAULT', 'host', {
  default: () => hostname(),
  defaultText: "this machine's host name",
  help: 'Name of this host, as Neutron knows it (binding:host_id) and as given to "networking-spp host build --host".',
});

/**
 * etcd settings from `[spp]`: the original's etcd_host/etcd_port, or the new
 * etcd_endpoints list, plus TLS, auth and timeouts.
 */
export function etcdSettingsFromOptions(reader: OptionReader): EtcdSettings {
  const o = ETCD_OPTIONS;
  let endpoints = reader.parsed(o.etcdEndpoints, (text) => parseEndpoints(text, 'entry'));
  if (!endpoints) {
    const host = reader.value(o.etcdHost);
    const port = reader.value(o.etcdPort);
    endpoints = [
      host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`,
    ];
  }
  const settings: EtcdSettings = {
    endpoints,
    requestTimeoutMs: reader.value(o.etcdTimeout) * 1000,
    dialTimeoutMs: DEFAULT_ETCD_SETTINGS.dialTimeoutMs,
  };
  const caFile = reader.get(o.etcdCaCert);
  if (caFile) {
    const certFile = reader.get(o.etcdCert);
    const keyFile = reader.get(o.etcdKey);
    settings.tls = { caFile, ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
  }
  const username = reader.get(o.etcdUsername);
  if (username) settings.auth = { username, password: reader.get(o.etcdPassword) ?? '' };
  return settings;
}

/** etcd settings out of the INI files alone (the CLI's commands that only talk to etcd). */
export function etcdSettingsFromIni(ini: IniOptions): EtcdSettings {
  return etcdSettingsFromOptions(new OptionReader(ini, Object.values(ETCD_OPTIONS)));
}
