import type { IniOptions } from '../config/ini.js';
import type { OptionDef } from '../config/option.js';
import { booleanOption, integerOption, secondsOption, stringOption } from '../config/option.js';
import { OptionReader } from '../config/reader.js';
import { InputError } from '../util/errors.js';

/**
 * Every option of the Placement inventory sync, in one place:
 * - `[placement]`, as Neutron (and Nova) read it: keystoneauth's password plugin, session and
 *   adapter options, plus Neutron's `endpoint_type` and its `auth_type = noauth`;
 * - `[spp_placement]`, networking-spp's own: whether to sync, how often, the leader lease.
 */
export const PLACEMENT_SECTION = 'placement';
export const SYNC_SECTION = 'spp_placement';

export type PlacementAuth =
  | {
      type: 'noauth';
      /** Placement's URL; requests carry `X-Auth-Token: admin` (Placement's noauth2 mode). */
      endpoint: string;
    }
  | {
      type: 'password';
      authUrl: string;
      password: string;
      username?: string;
      userId?: string;
      userDomainName?: string;
      userDomainId?: string;
      projectName?: string;
      projectId?: string;
      projectDomainName?: string;
      projectDomainId?: string;
      regionName?: string;
      /** Catalog interfaces to try, in order. */
      interfaces: string[];
      /** Use this URL instead of the catalog's. */
      endpointOverride?: string;
    };

export interface PlacementTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  insecure: boolean;
}

export interface PlacementOptions {
  enabled: boolean;
  /** Undefined only when the sync is disabled. */
  auth?: PlacementAuth;
  /** Deadline of every Placement and Keystone request (ms). */
  timeoutMs: number;
  tls: PlacementTls;
  /** Full comparison with Placement at least this often, also without etcd changes (ms). */
  syncIntervalMs: number;
  /** TTL of the etcd lease behind the one-writer election (s). */
  leaderTtlS: number;
  /** Cap of the backoff after a failed sync (ms). */
  retryMaxMs: number;
  /** Compute-node provider name per SPP host, where Nova's hypervisor name differs. */
  hypervisorNames: ReadonlyMap<string, string>;
}

export const DEFAULT_TIMEOUT_S = 5;
export const DEFAULT_SYNC_INTERVAL_S = 60;
export const DEFAULT_LEADER_TTL_S = 15;
export const DEFAULT_RETRY_MAX_S = 60;

const INTERFACES = ['public', 'internal', 'admin'] as const;

function parseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('not a URL (expected http(s)://host[:port][/path])');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('must be an http:// or https:// URL');
  }
  return raw.replace(/\/+$/, '');
}

/** keystoneauth's `valid_interfaces`: a comma list; `publicURL` style names are accepted. */
function parseInterfaces(raw: string): string[] {
  const names = raw
    .split(',')
    .map((each) => each.trim().replace(/URL$/, ''))
    .filter((each) => each !== '');
  if (names.length === 0) throw new Error('no interface given');
  for (const name of names) {
    if (!(INTERFACES as readonly string[]).includes(name)) {
      throw new Error(`"${name}" is not one of ${INTERFACES.join(', ')}`);
    }
  }
  return names;
}

/** `host:hypervisor[,host:hypervisor...]`. */
function parseHypervisorNames(raw: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of raw.split(',').map((each) => each.trim())) {
    if (entry === '') continue;
    const at = entry.indexOf(':');
    if (at <= 0 || at === entry.length - 1) {
      throw new Error(`"${entry}" is not HOST:HYPERVISOR_NAME`);
    }
    map.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return map;
}

const P = PLACEMENT_SECTION;
const text = (name: string, help: string, secret = false) =>
  stringOption(P, name, { help, ...(secret ? { secret } : {}) });

/** `[placement]` as Neutron reads it (keystoneauth password plugin, session, adapter). */
export const PLACEMENT_OPTIONS = {
  authType: stringOption(P, 'auth_type', {
    choices: ['password', 'v3password', 'noauth'],
    help: 'How to authenticate to Placement: password (Keystone v3) or noauth (Placement in noauth2 mode).',
  }),
  authUrl: text('auth_url', 'Keystone URL (auth_type = password).'),
  username: text('username', 'Keystone user name.'),
  userId: text('user_id', 'Keystone user id (instead of username).'),
  password: text('password', "The Keystone user's password.", true),
  userDomainName: text('user_domain_name', "The user's domain name."),
  userDomainId: text('user_domain_id', "The user's domain id."),
  projectName: text('project_name', 'Project to scope the token to.'),
  projectId: text('project_id', 'Project id to scope the token to.'),
  projectDomainName: text('project_domain_name', "The project's domain name."),
  projectDomainId: text('project_domain_id', "The project's domain id."),
  defaultDomainName: text(
    'default_domain_name',
    'Domain name for user and project when not given.',
  ),
  defaultDomainId: text('default_domain_id', 'Domain id for user and project when not given.'),
  regionName: text('region_name', "Region of Placement's catalog endpoint."),
  endpointType: stringOption(P, 'endpoint_type', {
    default: 'public',
    choices: INTERFACES,
    help: "Catalog interface of the Placement endpoint (Neutron's option).",
  }),
  validInterfaces: text(
    'valid_interfaces',
    'Catalog interfaces to try, comma separated (keystoneauth); default endpoint_type.',
  ),
  endpointOverride: text(
    'endpoint_override',
    "Placement's URL instead of the catalog's (with noauth: required).",
  ),
  authSection: text(
    'auth_section',
    "Neutron's noauth client reads Placement's URL from here when endpoint_override is not set.",
  ),
  timeout: secondsOption(P, 'timeout', {
    default: DEFAULT_TIMEOUT_S,
    min: 0.1,
    max: 300,
    help: 'Seconds per Placement and Keystone request.',
  }),
  cafile: text('cafile', 'CA bundle to verify Placement and Keystone (PEM).'),
  certfile: text('certfile', 'Client certificate (PEM).'),
  keyfile: text('keyfile', 'Client key (PEM).'),
  insecure: booleanOption(P, 'insecure', {
    default: false,
    help: 'Do not verify TLS certificates.',
  }),
} as const;

const S = SYNC_SECTION;

/** `[spp_placement]`: this project's Placement inventory sync. */
export const SYNC_OPTIONS = {
  enabled: booleanOption(S, 'enabled', {
    default: false,
    help: 'Keep vhost slots per SPP physical network in Placement (one service instance writes).',
  }),
  syncInterval: secondsOption(S, 'sync_interval', {
    default: DEFAULT_SYNC_INTERVAL_S,
    min: 1,
    max: 86400,
    help: 'Seconds between full comparisons with Placement, also without etcd changes.',
  }),
  leaderTtl: integerOption(S, 'leader_ttl', {
    default: DEFAULT_LEADER_TTL_S,
    min: 3,
    max: 300,
    help: 'TTL (s) of the etcd lease behind the one-writer election; at least twice [placement] timeout.',
  }),
  retryMaxInterval: secondsOption(S, 'retry_max_interval', {
    default: DEFAULT_RETRY_MAX_S,
    min: 1,
    max: 3600,
    help: 'Cap of the backoff (s) after a failed sync.',
  }),
  hypervisorNames: stringOption(S, 'hypervisor_names', {
    help: "HOST:HYPERVISOR_NAME[,...]: Nova's compute-node name where it differs from the host name.",
  }),
} as const;

/** Every Placement option, in the order of the sample configuration. */
export const PLACEMENT_REGISTRY: readonly OptionDef[] = [
  ...Object.values(SYNC_OPTIONS),
  ...Object.values(PLACEMENT_OPTIONS),
];

function missing(option: string, why: string): InputError {
  return new InputError(`[${PLACEMENT_SECTION}] ${option} is not set: ${why}`);
}

function passwordAuth(reader: OptionReader): PlacementAuth {
  const o = PLACEMENT_OPTIONS;
  const opt = (option: OptionDef<string>) => reader.get(option);
  const authUrl = reader.parsed(o.authUrl, parseUrl);
  if (!authUrl) throw missing('auth_url', 'the Keystone URL is needed for auth_type = password');
  const password = opt(o.password);
  if (password === undefined) throw missing('password', 'needed for auth_type = password');
  const username = opt(o.username);
  const userId = opt(o.userId);
  if (!username && !userId) throw missing('username', 'set username (or user_id)');
  const userDomainName = opt(o.userDomainName) ?? opt(o.defaultDomainName);
  const userDomainId = opt(o.userDomainId) ?? opt(o.defaultDomainId);
  if (username && !userId && !userDomainName && !userDomainId) {
    throw missing('user_domain_name', 'a user given by name needs its domain (or user_domain_id)');
  }
  const projectName = opt(o.projectName);
  const projectId = opt(o.projectId);
  if (!projectName && !projectId) throw missing('project_name', 'set project_name (or project_id)');
  const projectDomainName = opt(o.projectDomainName) ?? opt(o.defaultDomainName);
  const projectDomainId = opt(o.projectDomainId) ?? opt(o.defaultDomainId);
  if (projectName && !projectId && !projectDomainName && !projectDomainId) {
    throw missing('project_domain_name', 'a project given by name needs its domain');
  }
  const endpointType = reader.value(o.endpointType);
  const interfaces = reader.parsed(o.validInterfaces, parseInterfaces) ?? [endpointType];
  const fields = {
    username,
    userId,
    userDomainName,
    userDomainId,
    projectName,
    projectId,
    projectDomainName,
    projectDomainId,
    regionName: opt(o.regionName),
    endpointOverride: reader.parsed(o.endpointOverride, parseUrl),
  };
  const defined = Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  );
  return { type: 'password', authUrl, password, interfaces, ...defined };
}

function noAuth(reader: OptionReader): PlacementAuth {
  const o = PLACEMENT_OPTIONS;
  // Neutron's noauth client takes the URL from auth_section; endpoint_override is clearer.
  const option = reader.isSet(o.endpointOverride) ? o.endpointOverride : o.authSection;
  const endpoint = reader.parsed(option, parseUrl);
  if (!endpoint)
    throw missing('endpoint_override', "Placement's URL is needed for auth_type = noauth");
  return { type: 'noauth', endpoint };
}

function readAuth(reader: OptionReader): PlacementAuth {
  const type = reader.get(PLACEMENT_OPTIONS.authType);
  if (type === undefined) throw missing('auth_type', 'set password (Keystone) or noauth');
  return type === 'noauth' ? noAuth(reader) : passwordAuth(reader);
}

function readTls(reader: OptionReader): PlacementTls {
  const o = PLACEMENT_OPTIONS;
  const tls: PlacementTls = { insecure: reader.value(o.insecure) };
  const caFile = reader.get(o.cafile);
  const certFile = reader.get(o.certfile);
  const keyFile = reader.get(o.keyfile);
  if (caFile) tls.caFile = caFile;
  if (certFile) tls.certFile = certFile;
  if (keyFile) tls.keyFile = keyFile;
  return tls;
}

/** The sync's options; with `[spp_placement] enabled = false` (the default) nothing else is required. */
export function placementOptionsFromIni(
  ini: IniOptions,
  registry: readonly OptionDef[] = PLACEMENT_REGISTRY,
): PlacementOptions {
  const reader = new OptionReader(ini, registry);
  const o = SYNC_OPTIONS;
  const enabled = reader.value(o.enabled);
  const leaderTtlS = reader.value(o.leaderTtl);
  const options: PlacementOptions = {
    enabled,
    timeoutMs: reader.value(PLACEMENT_OPTIONS.timeout) * 1000,
    tls: readTls(reader),
    syncIntervalMs: reader.value(o.syncInterval) * 1000,
    leaderTtlS,
    retryMaxMs: reader.value(o.retryMaxInterval) * 1000,
    hypervisorNames: reader.parsed(o.hypervisorNames, parseHypervisorNames) ?? new Map(),
  };
  if (!enabled) return options;
  options.auth = readAuth(reader);
  if (options.timeoutMs * 2 > leaderTtlS * 1000) {
    throw new InputError(
      `[${PLACEMENT_SECTION}] timeout (${options.timeoutMs / 1000} s) must be at most half of [${SYNC_SECTION}] leader_ttl (${leaderTtlS} s): a leader stops writing before its lease can lapse`,
    );
  }
  return options;
}
