import { ETCD_OPTIONS, etcdSettingsFromOptions } from '../config/etcd-options.js';
import type { IniOptions } from '../config/ini.js';
import type { OptionDef } from '../config/option.js';
import { booleanOption, integerOption, secondsOption, stringOption } from '../config/option.js';
import { OptionReader } from '../config/reader.js';
import type { EtcdSettings } from '../etcd/connection.js';
import { InputError } from '../util/errors.js';
import type { EtcdAgentRequirement } from './agent-gate.js';
import { parseEtcdAgentRequirement } from './agent-gate.js';
import type { PlacementOptions } from '../placement/options.js';
import { PLACEMENT_REGISTRY, placementOptionsFromIni } from '../placement/options.js';

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
   * Whose word on a host's agent a bind trusts (agent-gate.ts): our etcd liveness key on
   * every host (`true`), Neutron's agent list only (`false`, while only original agents
   * run), or per host by the kind of agent it runs (`auto`, during a migration).
   */
  requireEtcdAgent: EtcdAgentRequirement;
  /** Directory of the vhost-user sockets Neutron hands to Nova/QEMU (`<dir>/sock<N>`). */
  socketDir?: string;
  /** How long a tap flow create waits for the agent's `tap_status = up` before rolling back (ms). */
  tapTimeoutMs?: number;
  /** On SIGTERM, how long in-flight binds may still run before they are rolled back (ms). */
  shutdownGraceMs: number;
  etcd: EtcdSettings;
  /** The Placement inventory sync (off unless `[spp_placement] enabled`). */
  placement?: PlacementOptions;
}

export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';
export const DEFAULT_LISTEN_PORT = 9697;
export const DEFAULT_BIND_TIMEOUT_S = 20;
export const DEFAULT_SYNC_GRACE_S = 60;
/** The original TaaS driver waits 30 s for tap_status. */
export const DEFAULT_TAP_TIMEOUT_S = 30;
/** The original's socket directory (`/tmp/sock<N>`, SYSTEM.md §4). */
export const DEFAULT_SOCKET_DIR = '/tmp';

const s = SERVER_SECTION;

/** The service's `[spp_server]` options. */
export const SERVER_OPTIONS = {
  listenAddress: stringOption(s, 'listen_address', {
    default: DEFAULT_LISTEN_ADDRESS,
    help: 'Address the service listens on (HTTP).',
  }),
  listenPort: integerOption(s, 'listen_port', {
    default: DEFAULT_LISTEN_PORT,
    min: 0,
    max: 65535,
    help: 'Port the service listens on.',
  }),
  authToken: stringOption(s, 'auth_token', {
    secret: true,
    help: "Bearer token the ML2 driver must send on /v1/ml2/* (the driver's [spp] auth_token). The service refuses to start without one unless auth_disabled is true.",
  }),
  authDisabled: booleanOption(s, 'auth_disabled', {
    default: false,
    help: 'Accept /v1/ml2/* requests without a token (trusted networks only).',
  }),
  bindTimeout: secondsOption(s, 'bind_timeout', {
    default: DEFAULT_BIND_TIMEOUT_S,
    min: 0.1,
    max: 3600,
    help: 'Seconds a bind waits for the agent\'s "up" before it is rolled back; the driver\'s request_timeout must be longer.',
  }),
  tapTimeout: secondsOption(s, 'tap_timeout', {
    default: DEFAULT_TAP_TIMEOUT_S,
    min: 0.1,
    max: 3600,
    help: 'Seconds a tap flow create waits for the agent\'s tap_status "up" before it is rolled back (tap-as-a-service); the driver\'s request_timeout must be longer.',
  }),
  syncGrace: secondsOption(s, 'sync_grace', {
    default: DEFAULT_SYNC_GRACE_S,
    min: 0,
    max: 86400,
    help: 'Seconds: a full sync leaves alone ports whose etcd keys changed more recently (they may be binding).',
  }),
  requireEtcdAgent: stringOption(s, 'require_etcd_agent', {
    default: 'true',
    help: "true: a bind needs the agent's etcd liveness key; false: Neutron's agent list alone decides (only original agents, which do not write the key, run); auto: hosts that run our agent are judged by etcd, the others by Neutron (mixed operation during a migration).",
  }),
  socketDir: stringOption(s, 'vhost_socket_dir', {
    default: DEFAULT_SOCKET_DIR,
    help: "Directory of the vhost-user sockets in the answers to Neutron (<dir>/sock<vhost id>); spp_vf itself opens /tmp/sock<vhost id>, so a different directory must be what spp_vf sees as /tmp (e.g. its unit's BindPaths=<dir>:/tmp).",
  }),
  shutdownGrace: secondsOption(s, 'shutdown_grace', {
    defaultText: 'bind_timeout + 5',
    min: 0,
    max: 3600,
    help: 'Seconds binds in flight may still run after SIGTERM before they are rolled back.',
  }),
} as const;

/** Every option the service reads, in the order of its sample configuration. */
export const SERVER_REGISTRY: readonly OptionDef[] = [
  ...Object.values(SERVER_OPTIONS),
  ...Object.values(ETCD_OPTIONS),
  ...PLACEMENT_REGISTRY,
];

/**
 * `[spp_server]` options (plus etcd from `[spp]`) out of the oslo-style INI files:
 * listen_address, listen_port, auth_token, auth_disabled, bind_timeout, tap_timeout, sync_grace,
 * require_etcd_agent, shutdown_grace.
 */
export function serverOptionsFromIni(ini: IniOptions): ServerOptions {
  const reader = new OptionReader(ini, SERVER_REGISTRY);
  const o = SERVER_OPTIONS;
  const bindTimeout = reader.value(o.bindTimeout);
  const authToken = reader.get(o.authToken);
  return {
    listenAddress: reader.value(o.listenAddress),
    listenPort: reader.value(o.listenPort),
    authDisabled: reader.value(o.authDisabled),
    ...(authToken ? { authToken } : {}),
    bindTimeoutMs: bindTimeout * 1000,
    syncGraceMs: reader.value(o.syncGrace) * 1000,
    tapTimeoutMs: reader.value(o.tapTimeout) * 1000,
    requireEtcdAgent:
      reader.parsed(o.requireEtcdAgent, parseEtcdAgentRequirement) ?? ('true' as const),
    socketDir: reader.parsed(o.socketDir, parseSocketDir) ?? DEFAULT_SOCKET_DIR,
    shutdownGraceMs: (reader.get(o.shutdownGrace) ?? bindTimeout + 5) * 1000,
    etcd: etcdSettingsFromOptions(reader),
    placement: placementOptionsFromIni(ini, SERVER_REGISTRY),
  };
}

/** An absolute directory without a trailing slash (QEMU is given `<dir>/sock<N>`). */
function parseSocketDir(raw: string): string {
  if (!raw.startsWith('/')) throw new Error('must be an absolute directory');
  if (/[\s,]/.test(raw)) throw new Error('must not contain spaces or commas');
  return raw === '/' ? raw : raw.replace(/\/+$/, '');
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
