import { InputError } from '../util/errors.js';

/** Root of every key networking-spp uses in etcd (SYSTEM.md §3.4). */
export const ROOT = '/spp/openstack/';

export type KeyKind =
  | 'configuration'
  | 'vhost'
  | 'bind_port'
  | 'action'
  | 'port_status'
  | 'mirror'
  | 'tap_info'
  | 'tap_action'
  | 'tap_status'
  | 'agent'
  | 'agent_kind'
  | 'plug_request';

/** Per-host key families that `host destroy` removes (the §3.4 list plus the tap keys). */
export const HOST_PREFIX_KINDS = [
  'vhost',
  'bind_port',
  'action',
  'port_status',
  'mirror',
  'tap_info',
  'tap_action',
  'tap_status',
  'plug_request',
] as const satisfies readonly KeyKind[];

function segment(value: string, what: string): string {
  if (value === '' || value.includes('/')) {
    throw new InputError(`${what} "${value}" must be non-empty and must not contain "/"`);
  }
  return value;
}

const hostSegment = (host: string) => segment(host, 'host');

export const keys = {
  configuration: (host: string) => `${ROOT}configuration/${hostSegment(host)}`,
  configurationPrefix: () => `${ROOT}configuration/`,
  vhost: (host: string, physnet: string, vhostId: number) =>
    `${ROOT}vhost/${hostSegment(host)}/${segment(physnet, 'physical network')}/${vhostId}`,
  vhostPhysnetPrefix: (host: string, physnet: string) =>
    `${ROOT}vhost/${hostSegment(host)}/${segment(physnet, 'physical network')}/`,
  bindPort: (host: string, portId: string) =>
    `${ROOT}bind_port/${hostSegment(host)}/${segment(portId, 'port id')}`,
  action: (host: string, portId: string) =>
    `${ROOT}action/${hostSegment(host)}/${segment(portId, 'port id')}`,
  portStatus: (host: string, portId: string) =>
    `${ROOT}port_status/${hostSegment(host)}/${segment(portId, 'port id')}`,
  mirror: (host: string, mirrorId: number) => `${ROOT}mirror/${hostSegment(host)}/${mirrorId}`,
  tapInfo: (host: string, flowId: string) =>
    `${ROOT}tap_info/${hostSegment(host)}/${segment(flowId, 'tap flow id')}`,
  tapAction: (host: string, flowId: string) =>
    `${ROOT}tap_action/${hostSegment(host)}/${segment(flowId, 'tap flow id')}`,
  tapStatus: (host: string, flowId: string) =>
    `${ROOT}tap_status/${hostSegment(host)}/${segment(flowId, 'tap flow id')}`,
  /** New in this project: the agent's lease-bound liveness record. */
  agent: (host: string) => `${ROOT}agent/${hostSegment(host)}`,
  agentPrefix: () => `${ROOT}agent/`,
  /**
   * New in this project (issue 15), not leased: written by our agent when it starts, and
   * kept when it stops, so that a host whose liveness key has lapsed is still known to run
   * our agent (its liveness is judged from etcd, not from Neutron's view).
   */
  agentKind: (host: string) => `${ROOT}agent_kind/${hostSegment(host)}`,
  /**
   * New in this project (issue 15): written by our binding service in the same transaction
   * as `bind_port` and `action = plug`. Its writer watches from that transaction's revision,
   * so the agent need not re-announce `up` for it; the original driver does not write it.
   */
  plugRequest: (host: string, portId: string) =>
    `${ROOT}plug_request/${hostSegment(host)}/${segment(portId, 'port id')}`,
  /**
   * New in this project: held (with a lease) by a `host build` that needs several
   * transactions, so that two builds of one host cannot interleave.
   */
  buildLock: (host: string) => `${ROOT}build_lock/${hostSegment(host)}`,
  /**
   * New in this project: held (with a lease) by the one binding-service instance that keeps
   * Placement's inventory in sync; the others wait for it to lapse.
   */
  placementLeader: () => `${ROOT}placement_leader`,
  /** `<ROOT><kind>/<host>/`: every key of one family for one host. */
  hostPrefix: (kind: KeyKind, host: string) => `${ROOT}${kind}/${hostSegment(host)}/`,
};

export type ParsedKey =
  | { kind: 'configuration'; host: string }
  | { kind: 'vhost'; host: string; physnet: string; vhostId: number }
  | {
      kind: 'bind_port' | 'action' | 'port_status' | 'plug_request';
      host: string;
      portId: string;
    }
  | { kind: 'mirror'; host: string; mirrorId: number }
  | { kind: 'tap_info' | 'tap_action' | 'tap_status'; host: string; flowId: string }
  | { kind: 'agent' | 'agent_kind'; host: string };

const ID = /^(0|[1-9][0-9]*)$/;

/** Parses any key under ROOT; undefined for keys that do not follow §3.4. */
export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(ROOT)) return undefined;
  const parts = key.slice(ROOT.length).split('/');
  const [kind, host, a, b] = parts;
  if (!host || parts.some((part) => part === '')) return undefined;
  switch (kind) {
    case 'configuration':
    case 'agent':
    case 'agent_kind':
      return parts.length === 2 ? { kind, host } : undefined;
    case 'vhost':
      return parts.length === 4 && a && b && ID.test(b)
        ? { kind, host, physnet: a, vhostId: Number(b) }
        : undefined;
    case 'mirror':
      return parts.length === 3 && a && ID.test(a)
        ? { kind, host, mirrorId: Number(a) }
        : undefined;
    case 'bind_port':
    case 'action':
    case 'port_status':
    case 'plug_request':
      return parts.length === 3 && a ? { kind, host, portId: a } : undefined;
    case 'tap_info':
    case 'tap_action':
    case 'tap_status':
      return parts.length === 3 && a ? { kind, host, flowId: a } : undefined;
    default:
      return undefined;
  }
}
