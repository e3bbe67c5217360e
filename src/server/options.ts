import { etcdSettingsFromIni } from '../config/etcd-options.js';
import type { IniOptions } from '../config/ini.js';
import { parseBoolean, parseInteger, parseSeconds } from '../config/ini.js';
import type { EtcdSettings } from '../etcd/connection.js';
import { InputError } from '../util/errors.js';

/** Section of the neutron config files that holds the binding service's own options. */
export const SERVER_SECTION = 'spp_server';

export interface ServerOptions {
  listenAddress: string;
  listenPort: number;
  /** Bearer token required on /v1/ml2/*; undefined only when `authDisabled`. */
  authToken?: string;
  authDisabled: boolean;
  /** How long a bind waits for the agent's `up` before rolling back (ms). */
  bindTimeoutMs: number;
  /**
   * Full sync leaves alone ports whose etcd keys changed less than this long ago: they may be
   * in the middle of binding, with Neutron's list taken before the binding was committed (ms).
   */
  syncGraceMs: number;
  /**
   * Require the agent's etcd liveness key `agent/<host>`. Turn off only while the original
   * agent (which does not write it) still runs on compute hosts; Neutron's view then decides.
   */
  requireEtcdAgent: boolean;
  /** On SIGTERM, how long in-flight binds may still run before they are rolled back (ms). */
  shutdownGraceMs: number;
  etcd: EtcdSettings;
}

export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';
export const DEFAULT_LISTEN_PORT = 9697;
export const DEFAULT_BIND_TIMEOUT_S = 20;
export const DEFAULT_SYNC_GRACE_S = 60;

/**
 * `[spp_server]` options (plus etcd from `[spp]`) out of the oslo-style INI files:
 * listen_address, listen_port, auth_token, auth_disabled, bind_timeout, sync_grace,
 * require_etcd_agent, shutdown_grace.
 */
export function serverOptionsFromIni(ini: IniOptions): ServerOptions {
  const s = SERVER_SECTION;
  const bindTimeout = ini.get(s, 'bind_timeout', parseSeconds(0.1, 3600), DEFAULT_BIND_TIMEOUT_S);
  const authDisabled = ini.get(s, 'auth_disabled', parseBoolean, false);
  const authToken = ini.getOptionalString(s, 'auth_token');
  const options: ServerOptions = {
    listenAddress: ini.getString(s, 'listen_address', DEFAULT_LISTEN_ADDRESS),
    listenPort: ini.get(s, 'listen_port', parseInteger(0, 65535), DEFAULT_LISTEN_PORT),
    authDisabled,
    ...(authToken ? { authToken } : {}),
    bindTimeoutMs: bindTimeout * 1000,
    syncGraceMs: ini.get(s, 'sync_grace', parseSeconds(0, 86400), DEFAULT_SYNC_GRACE_S) * 1000,
    requireEtcdAgent: ini.get(s, 'require_etcd_agent', parseBoolean, true),
    shutdownGraceMs: ini.get(s, 'shutdown_grace', parseSeconds(0, 3600), bindTimeout + 5) * 1000,
    etcd: etcdSettingsFromIni(ini),
  };
  return options;
}

/** `HOST:PORT` or `[IPv6]:PORT` as given to --listen. */
export function parseListen(text: string): { address: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new InputError(
      `--listen: "${text}" is not an address to listen on (expected HOST:PORT, e.g. 127.0.0.1:9697)`,
    );
  }
  const host = match[1] as string;
  return { address: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

/** Refuses to start an unauthenticated service unless the operator asked for it. */
export function checkAuth(options: ServerOptions): void {
  if (!options.authDisabled && !options.authToken) {
    throw new InputError(
      `[${SERVER_SECTION}] auth_token is not set: set a token the Neutron driver sends as "Authorization: Bearer <token>", or disable authentication explicitly with [${SERVER_SECTION}] auth_disabled = true (or --no-auth)`,
    );
  }
}
