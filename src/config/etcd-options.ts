import { hostname } from 'node:os';
import type { EtcdSettings } from '../etcd/connection.js';
import { DEFAULT_ETCD_SETTINGS, parseEndpoints } from '../etcd/connection.js';
import type { IniOptions } from './ini.js';
import { parseInteger, parseSeconds } from './ini.js';

/**
 * etcd settings from `[spp]`: the original's etcd_host/etcd_port, or the new
 * etcd_endpoints list, plus TLS, auth and timeouts.
 */
export function etcdSettingsFromIni(ini: IniOptions): EtcdSettings {
  const endpointsText = ini.getOptionalString('spp', 'etcd_endpoints');
  let endpoints: string[];
  if (endpointsText) {
    endpoints = ini.get(
      'spp',
      'etcd_endpoints',
      (raw) => parseEndpoints(raw, 'etcd_endpoints'),
      [],
    );
  } else {
    const host = ini.getString('spp', 'etcd_host', '127.0.0.1');
    const port = ini.get('spp', 'etcd_port', parseInteger(1, 65535), 2379);
    endpoints = [
      host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`,
    ];
  }
  const settings: EtcdSettings = {
    endpoints,
    requestTimeoutMs:
      ini.get(
        'spp',
        'etcd_timeout',
        parseSeconds(0.1, 300),
        DEFAULT_ETCD_SETTINGS.requestTimeoutMs / 1000,
      ) * 1000,
    dialTimeoutMs: DEFAULT_ETCD_SETTINGS.dialTimeoutMs,
  };
  const caFile = ini.getOptionalString('spp', 'etcd_ca_cert');
  if (caFile) {
    const certFile = ini.getOptionalString('spp', 'etcd_cert');
    const keyFile = ini.getOptionalString('spp', 'etcd_key');
    settings.tls = { caFile, ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
  }
  const username = ini.getOptionalString('spp', 'etcd_username');
  if (username) settings.auth = { username, password: ini.getString('spp', 'etcd_password', '') };
  return settings;
}

/** `[DEFAULT] host`, defaulting to the machine's hostname as oslo does. */
export function hostFromIni(ini: IniOptions): string {
  return ini.getString('DEFAULT', 'host', hostname());
}
