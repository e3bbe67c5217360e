import type { EtcdStore, KeyValue } from '../etcd/store.js';
import { HOST_PREFIX_KINDS, keys, parseKey } from '../etcd/keys.js';
import type { Action, AgentRecord, BindPort, TapInfo } from '../etcd/values.js';
import {
  FREE,
  actionSchema,
  agentRecordSchema,
  bindPortSchema,
  decodeEnum,
  decodeHostConfig,
  decodeJson,
  tapInfoSchema,
} from '../etcd/values.js';
import type { HostConfig } from '../layout/schema.js';
import { errorMessage } from '../util/errors.js';

export interface VhostSlot {
  physnet: string;
  vhostId: number;
  /** Neutron port id holding the slot, or null when free. */
  portId: string | null;
}

export interface PortState {
  portId: string;
  bindPort?: BindPort;
  action?: Action;
  up: boolean;
}

export interface HostState {
  host: string;
  revision: number;
  config?: HostConfig;
  /** The configuration key as stored (also when its value could not be decoded). */
  configKv?: KeyValue;
  slots: VhostSlot[];
  mirrors: Array<{ mirrorId: number; flowId: string | null }>;
  ports: Map<string, PortState>;
  taps: Map<string, { info?: TapInfo; action?: Action; up: boolean }>;
  agent?: { record: AgentRecord; lease: string };
  /** Keys whose value could not be understood, with why; they are shown, never dropped. */
  problems: string[];
}

/** Every key family of one host, including our agent record, read at one revision. */
export function hostPrefixes(host: string): string[] {
  return [
    keys.configuration(host),
    ...HOST_PREFIX_KINDS.map((kind) => keys.hostPrefix(kind, host)),
    keys.agent(host),
  ];
}

export async function readHostState(store: EtcdStore, host: string): Promise<HostState> {
  const snapshot = await store.getPrefixes(hostPrefixes(host));
  const state: HostState = {
    host,
    revision: snapshot.revision,
    slots: [],
    mirrors: [],
    ports: new Map(),
    taps: new Map(),
    problems: [],
  };
  const port = (portId: string): PortState => {
    let entry = state.ports.get(portId);
    if (!entry) state.ports.set(portId, (entry = { portId, up: false }));
    return entry;
  };
  const tap = (flowId: string) => {
    let entry = state.taps.get(flowId);
    if (!entry) state.taps.set(flowId, (entry = { up: false }));
    return entry;
  };
  for (const kv of snapshot.kvs) {
    const parsed = parseKey(kv.key);
    // A prefix read of configuration/<host> also matches configuration/<host>-other.
    if (!parsed || parsed.host !== host) continue;
    try {
      switch (parsed.kind) {
        case 'configuration':
          state.configKv = kv;
          state.config = decodeHostConfig(kv.value, kv.key);
          break;
        case 'vhost':
          state.slots.push({
            physnet: parsed.physnet,
            vhostId: parsed.vhostId,
            portId: kv.value === FREE ? null : kv.value,
          });
          break;
        case 'mirror':
          state.mirrors.push({
            mirrorId: parsed.mirrorId,
            flowId: kv.value === FREE ? null : kv.value,
          });
          break;
        case 'bind_port':
          port(parsed.portId).bindPort = decodeJson(bindPortSchema, kv.value, kv.key);
          break;
        case 'action':
          port(parsed.portId).action = decodeEnum(actionSchema, kv.value, kv.key);
          break;
        case 'port_status':
          port(parsed.portId).up = kv.value === 'up';
          break;
        case 'tap_info':
          tap(parsed.flowId).info = decodeJson(tapInfoSchema, kv.value, kv.key);
          break;
        case 'tap_action':
          tap(parsed.flowId).action = decodeEnum(actionSchema, kv.value, kv.key);
          break;
        case 'tap_status':
          tap(parsed.flowId).up = kv.value === 'up';
          break;
        case 'agent':
          state.agent = {
            record: decodeJson(agentRecordSchema, kv.value, kv.key),
            lease: kv.lease,
          };
          break;
      }
    } catch (error) {
      state.problems.push(errorMessage(error));
    }
  }
  state.slots.sort((a, b) => a.vhostId - b.vhostId);
  state.mirrors.sort((a, b) => a.mirrorId - b.mirrorId);
  return state;
}

/** Hosts that have a configuration key. */
export async function listHostNames(store: EtcdStore): Promise<string[]> {
  const snapshot = await store.getPrefix(keys.configurationPrefix());
  return snapshot.kvs
    .map((kv) => parseKey(kv.key))
    .filter(
      (parsed): parsed is { kind: 'configuration'; host: string } =>
        parsed?.kind === 'configuration',
    )
    .map((parsed) => parsed.host)
    .sort();
}
