import { parseCoreMask } from '../../layout/coremask.js';
import type { Dialect } from '../spec.js';
import type { Direction, PortId, PortKind } from './ports.js';
import {
  DEFAULT_MAC,
  UNTAGGED_VID,
  formatMac,
  parseRanged,
  parseSppMac,
  parseSppPort,
  portKey,
} from './ports.js';

/**
 * One spp_vf or spp_mirror: its state (SPP-SPEC §5.2, single view) and its command engine
 * (§5.1, §5.3–5.5, wording of §8). `execute` takes the exact command strings spp-ctl sends
 * (§7.1) and answers as the secondary would.
 */

export type ProcessType = 'vf' | 'mirror';
/** Internal component kinds; `classifier` prints as `classifier_mac` in 18.08. */
export type ComponentKind = 'forward' | 'merge' | 'classifier' | 'mirror';

export interface VlanSlot {
  op: 'add' | 'del';
  dir: Direction;
  vid: number;
  pcp: number;
}

/** A port of one process. Classification id and VLAN ops belong to the port (§5.2). */
export interface PortState {
  readonly kind: PortKind;
  readonly index: number;
  readonly key: string;
  /** phy: always; vhost/ring: after the first successful attach (the PMD exists). */
  added: boolean;
  /** Classification id: MAC (0 = none, DEFAULT_MAC = `default`) and VID (4095 = untagged). */
  classMac: number;
  classVid: number;
  /** Four VLAN-operation slots shared by both directions. */
  readonly vlan: Array<VlanSlot | undefined>;
}

export interface Component {
  readonly slot: number;
  readonly name: string;
  readonly kind: ComponentKind;
  readonly lcore: number;
  readonly rx: PortState[];
  readonly tx: PortState[];
}

export type CommandReply =
  | {
      result: 'success';
      /** Reply to `status`. */
      info?: StatusInfo;
      /** Reply to `_get_client_id`. */
      clientId?: number;
      processType?: ProcessType;
      /** The process terminates after this command (`exit`). */
      exit?: boolean;
      /** 18.08's `exit`: the process dies without replying. */
      noReply?: boolean;
    }
  | { result: 'error'; message: string };

export interface VlanJson {
  operation: 'none' | 'add' | 'del';
  id: number;
  pcp: number;
}
export interface PortJson {
  port: string;
  vlan: VlanJson;
}
export type ComponentJson =
  | { core: number; type: 'unuse' }
  | { core: number; name: string; type: string; rx_port: PortJson[]; tx_port: PortJson[] };
export interface ClassifierEntryJson {
  type: 'mac' | 'vlan';
  value: string;
  port: string;
}

/** The secondary's raw `info` object (§4.1); 19.11 prints the port arrays as strings. */
export interface StatusInfo {
  'client-id': number;
  phy: Array<number | string>;
  vhost: Array<number | string>;
  ring: Array<number | string>;
  'master-lcore'?: number;
  core: ComponentJson[];
  classifier_table?: ClassifierEntryJson[];
}

/** What spp-ctl makes of it for GET /v1/vfs|mirrors/{id} (§4.2, key order of §4.4). */
export interface RestStatus {
  'client-id': number;
  ports: string[];
  'master-lcore'?: number;
  components: ComponentJson[];
  classifier_table?: ClassifierEntryJson[];
}

export interface ProcessLimits {
  nics: number;
  rings: number;
  portTableSize: number;
}

const MAX_COMPONENTS = 128;
const MAX_LCORE = 128;
const VLAN_SLOTS = 4;
/** spp_vf rejects component names of 111 characters or more. */
const NAME_LIMIT = 111;
const MAX_TOKENS = 8;

/** LATEST's count limits, checked before mutating (§5.6); undefined = unlimited. */
const PORT_LIMITS: Record<ComponentKind, Record<Direction, number | undefined>> = {
  forward: { rx: 1, tx: 1 },
  merge: { rx: undefined, tx: 1 },
  classifier: { rx: 1, tx: undefined },
  mirror: { rx: 1, tx: 2 },
};

class CommandFailure extends Error {}

export class SecondaryProcess {
  readonly masterLcore: number;
  readonly workerLcores: readonly number[];
  private readonly lcoreSet: Set<number>;
  private readonly ports = new Map<string, PortState>();
  private readonly addedVhosts = new Set<number>();
  private readonly addedRings = new Set<number>();
  private readonly slots: Array<Component | undefined> = [];
  private readonly byName = new Map<string, Component>();
  private readonly byLcore = new Map<number, Component[]>();

  constructor(
    readonly clientId: number,
    readonly type: ProcessType,
    readonly coreMask: string,
    readonly dialect: Dialect,
    readonly limits: ProcessLimits,
  ) {
    const cores = parseCoreMask(coreMask, `client ${clientId} core mask`);
    this.masterLcore = cores[0] as number;
    this.workerLcores = cores.slice(1);
    this.lcoreSet = new Set(cores);
  }

  // ---- inspection -------------------------------------------------------------------

  /** Running components in slot order. */
  components(): Component[] {
    return this.slots.filter((component): component is Component => component !== undefined);
  }

  component(name: string): Component | undefined {
    return this.byName.get(name);
  }

  /** The port's state if it was ever touched (phys exist implicitly). */
  port(kind: PortKind, index: number): PortState | undefined {
    return (
      this.ports.get(portKey(kind, index)) ??
      (this.isNic(kind, index) ? this.portState({ kind, index }) : undefined)
    );
  }

  /** The VLAN op of (port, direction) as status shows it: the first slot of that direction. */
  vlanOf(port: PortState, dir: Direction): VlanJson {
    const slot = port.vlan.find((candidate) => candidate?.dir === dir);
    if (!slot) return { operation: 'none', id: 0, pcp: 0 };
    if (slot.op === 'del') return { operation: 'del', id: 0, pcp: 0 };
    return { operation: 'add', id: slot.vid, pcp: slot.pcp };
  }

  /** The VLAN ops applied to frames of (port, direction), in slot order. */
  vlanOps(port: PortState, dir: Direction): VlanSlot[] {
    return port.vlan.filter((slot): slot is VlanSlot => slot?.dir === dir);
  }

  /** Type name as this dialect prints it. */
  typeName(kind: ComponentKind): string {
    return kind === 'classifier' && this.dialect === '18.08' ? 'classifier_mac' : kind;
  }

  // ---- command engine ---------------------------------------------------------------

  execute(command: string): CommandReply {
    try {
      return this.dispatch(command.split(' ').filter((token) => token !== ''));
    } catch (error) {
      if (error instanceof CommandFailure) return { result: 'error', message: error.message };
      throw error;
    }
  }

  private badValue(parameter: string): CommandFailure {
    return new CommandFailure(
      this.dialect === '18.08' ? `bad value(${parameter})` : `Invalid value (${parameter})`,
    );
  }

  private badFormat(): CommandFailure {
    return new CommandFailure(
      this.dialect === '18.08' ? 'bad message format' : 'Wrong message format',
    );
  }

  private static errorOccur(): CommandFailure {
    return new CommandFailure('error occur');
  }

  private dispatch(tokens: string[]): CommandReply {
    if (tokens.length > MAX_TOKENS) throw this.badFormat();
    const count = tokens.length;
    switch (tokens[0]) {
      case 'classifier_table':
        if (count !== 5 && count !== 6) throw this.badFormat();
        return this.classifierTable(tokens);
      case '_get_client_id':
        if (count !== 1) throw this.badFormat();
        return { result: 'success', clientId: this.clientId, processType: this.type };
      case 'status':
        if (count !== 1) throw this.badFormat();
        return { result: 'success', info: this.statusInfo() };
      case 'exit':
        if (count !== 1) throw this.badFormat();
        return this.dialect === '18.08'
          ? { result: 'success', exit: true, noReply: true }
          : { result: 'success', exit: true };
      case 'component':
        if (count < 3 || count > 5) throw this.badFormat();
        return this.componentCommand(tokens);
      case 'port':
        if (count < 5 || count > 8) throw this.badFormat();
        return this.portCommand(tokens);
      default:
        throw this.badValue('command');
    }
  }

  private componentKinds(): Map<string, ComponentKind> {
    if (this.type === 'mirror') return new Map([['mirror', 'mirror']]);
    return new Map<string, ComponentKind>([
      [this.dialect === '18.08' ? 'classifier_mac' : 'classifier', 'classifier'],
      ['merge', 'merge'],
      ['forward', 'forward'],
    ]);
  }

  private componentCommand(tokens: string[]): CommandReply {
    const action = tokens[1];
    if (action !== 'start' && action !== 'stop') throw this.badValue('action');
    const name = tokens[2] as string;
    if (Buffer.byteLength(name) >= NAME_LIMIT) throw this.badValue('component name');
    if (action === 'stop') return this.stopComponent(name);
    if (this.byName.has(name)) throw this.badValue('component name');
    const lcore = tokens[3] === undefined ? undefined : parseRanged(tokens[3], 0, MAX_LCORE - 1);
    if (lcore === undefined) throw this.badValue('core');
    const typeToken = tokens[4];
    let kind: ComponentKind | undefined;
    if (typeToken !== undefined) {
      kind = this.componentKinds().get(typeToken);
      if (kind === undefined) throw this.badValue('component type');
      const onLcore = this.byLcore.get(lcore) ?? [];
      if (this.dialect === '18.08' && onLcore.some((other) => other.kind !== kind)) {
        throw this.badValue('component type');
      }
    }
    return this.startComponent(name, lcore, kind);
  }

  private startComponent(
    name: string,
    lcore: number,
    kind: ComponentKind | undefined,
  ): CommandReply {
    // Execution failures (§5.3), plus the two V18 hangs turned into errors.
    if (kind === undefined) throw SecondaryProcess.errorOccur();
    if (!this.lcoreSet.has(lcore)) throw SecondaryProcess.errorOccur();
    if (lcore === this.masterLcore) throw SecondaryProcess.errorOccur();
    const onLcore = this.byLcore.get(lcore) ?? [];
    if (kind === 'classifier' && onLcore.some((other) => other.kind === 'classifier')) {
      throw SecondaryProcess.errorOccur();
    }
    let slot = 0;
    while (slot < MAX_COMPONENTS && this.slots[slot] !== undefined) slot++;
    if (slot >= MAX_COMPONENTS) throw SecondaryProcess.errorOccur();
    const component: Component = { slot, name, kind, lcore, rx: [], tx: [] };
    this.slots[slot] = component;
    this.byName.set(name, component);
    this.byLcore.set(lcore, [...onLcore, component]);
    return { result: 'success' };
  }

  private stopComponent(name: string): CommandReply {
    const component = this.byName.get(name);
    if (!component) return { result: 'success' };
    this.slots[component.slot] = undefined;
    this.byName.delete(name);
    const remaining = (this.byLcore.get(component.lcore) ?? []).filter((c) => c !== component);
    if (remaining.length > 0) this.byLcore.set(component.lcore, remaining);
    else this.byLcore.delete(component.lcore);
    return { result: 'success' };
  }

  private usedIn(port: PortId, dir: Direction): boolean {
    const state = this.ports.get(portKey(port.kind, port.index));
    if (!state) return false;
    for (const component of this.slots) {
      if (component?.[dir].includes(state)) return true;
    }
    return false;
  }

  private portCommand(tokens: string[]): CommandReply {
    const action = tokens[1];
    if (action !== 'add' && action !== 'del') throw this.badValue('action');
    const port = parseSppPort(tokens[2] as string);
    if (!port) throw this.badValue('port');
    const override = tokens.length === 8;
    const checkUse = action === 'add' && !override;
    if (checkUse && this.usedIn(port, 'rx') && this.usedIn(port, 'tx')) throw this.badValue('port');
    const dir = tokens[3];
    if (dir !== 'rx' && dir !== 'tx') throw this.badValue('port rxtx');
    if (checkUse && this.usedIn(port, dir)) throw this.badValue('port rxtx');
    const component = this.byName.get(tokens[4] as string);
    if (!component) throw this.badValue('component name');
    let op: VlanSlot | undefined;
    const opToken = tokens[5];
    if (opToken !== undefined) {
      if (opToken !== 'add_vlantag' && opToken !== 'del_vlantag') {
        throw this.badValue('port vlan operation');
      }
      let vid = 0;
      let pcp = 0;
      if (tokens[6] !== undefined) {
        const parsed = parseRanged(tokens[6], 0, 4095);
        if (parsed === undefined) throw this.badValue('port vid');
        vid = parsed;
        pcp = -1;
      }
      if (tokens[7] !== undefined) {
        const parsed = parseRanged(tokens[7], 0, 7);
        if (parsed === undefined) throw this.badValue('port pcp');
        pcp = parsed;
      }
      op =
        opToken === 'add_vlantag'
          ? { op: 'add', dir, vid, pcp }
          : { op: 'del', dir, vid: 0, pcp: 0 };
    }
    return action === 'add'
      ? this.attach(port, dir, component, op)
      : this.detach(port, dir, component);
  }

  private isNic(kind: PortKind, index: number): boolean {
    return kind === 'phy' && index < this.limits.nics && index < this.limits.portTableSize;
  }

  private inTable(port: PortId): boolean {
    return port.index < this.limits.portTableSize;
  }

  private portState(port: PortId): PortState {
    const key = portKey(port.kind, port.index);
    let state = this.ports.get(key);
    if (!state) {
      state = {
        kind: port.kind,
        index: port.index,
        key,
        added: this.isNic(port.kind, port.index),
        classMac: 0,
        classVid: UNTAGGED_VID,
        vlan: new Array<VlanSlot | undefined>(VLAN_SLOTS).fill(undefined),
      };
      this.ports.set(key, state);
    }
    return state;
  }

  private attach(
    port: PortId,
    dir: Direction,
    component: Component,
    op: VlanSlot | undefined,
  ): CommandReply {
    if (!this.inTable(port)) throw SecondaryProcess.errorOccur();
    if (port.kind === 'phy' && port.index >= this.limits.nics) throw SecondaryProcess.errorOccur();
    if (port.kind === 'ring' && port.index >= this.limits.rings)
      throw SecondaryProcess.errorOccur();
    const list = component[dir];
    const limit = PORT_LIMITS[component.kind][dir];
    if (limit !== undefined && list.length + 1 > limit) throw SecondaryProcess.errorOccur();
    const state = this.portState(port);
    if (list.includes(state)) {
      // Only reachable with the 8-token override form: rewrite the port's first `add` slot.
      const slot = state.vlan.find((candidate) => candidate?.op === 'add');
      if (!slot || !op) throw SecondaryProcess.errorOccur();
      slot.dir = dir;
      slot.vid = op.vid;
      slot.pcp = op.pcp;
      return { result: 'success' };
    }
    if (list.length >= Math.max(32, this.limits.portTableSize)) throw SecondaryProcess.errorOccur();
    let free = -1;
    if (op) {
      free = state.vlan.findIndex((slot) => slot === undefined);
      if (free < 0) throw SecondaryProcess.errorOccur();
    }
    if (op) state.vlan[free] = op;
    if (!state.added) {
      state.added = true;
      if (state.kind === 'vhost') this.addedVhosts.add(state.index);
      if (state.kind === 'ring') this.addedRings.add(state.index);
    }
    list.push(state);
    return { result: 'success' };
  }

  private detach(port: PortId, dir: Direction, component: Component): CommandReply {
    if (!this.inTable(port)) throw SecondaryProcess.errorOccur();
    const state = this.ports.get(portKey(port.kind, port.index));
    if (!state) return { result: 'success' };
    state.vlan.forEach((slot, index) => {
      if (slot?.dir === dir) state.vlan[index] = undefined;
    });
    const list = component[dir];
    const at = list.indexOf(state);
    if (at >= 0) list.splice(at, 1);
    return { result: 'success' };
  }

  private classifierTable(tokens: string[]): CommandReply {
    const vlanForm = tokens.length === 6;
    const action = tokens[1];
    if (action !== 'add' && action !== 'del') throw this.badValue('action');
    if (tokens[2] !== (vlanForm ? 'vlan' : 'mac')) throw this.badValue('type');
    let vid = UNTAGGED_VID;
    if (vlanForm) {
      const parsed = parseRanged(tokens[3], 0, 4095);
      if (parsed === undefined) throw this.badValue('vlan id');
      vid = parsed;
    }
    const macToken = tokens[vlanForm ? 4 : 3] as string;
    const mac = macToken === 'default' ? DEFAULT_MAC : parseSppMac(macToken);
    if (mac === undefined) throw this.badValue('mac address');
    const port = parseSppPort(tokens[vlanForm ? 5 : 4] as string);
    if (!port) throw this.badValue('port');
    const state = this.inTable(port) ? this.port(port.kind, port.index) : undefined;
    if (!state?.added) throw this.badValue('port');
    const hasId = state.classMac !== 0 || state.classVid !== UNTAGGED_VID;
    if (action === 'add') {
      if (hasId) throw this.badValue('port');
      state.classMac = mac;
      state.classVid = vid;
    } else {
      if (state.classMac !== mac || state.classVid !== vid) throw this.badValue('port');
      state.classMac = 0;
      state.classVid = UNTAGGED_VID;
    }
    return { result: 'success' };
  }

  // ---- status -----------------------------------------------------------------------

  private portJson(port: PortState, dir: Direction): PortJson {
    return { port: port.key, vlan: this.vlanOf(port, dir) };
  }

  /** The `components` list: one or more entries per worker lcore, ascending (§4.3). */
  componentsJson(): ComponentJson[] {
    const out: ComponentJson[] = [];
    for (const lcore of this.workerLcores) {
      const components = this.byLcore.get(lcore);
      if (!components) {
        out.push({ core: lcore, type: 'unuse' });
        continue;
      }
      for (const component of components) {
        out.push({
          core: lcore,
          name: component.name,
          type: this.typeName(component.kind),
          rx_port: component.rx.map((port) => this.portJson(port, 'rx')),
          tx_port: component.tx.map((port) => this.portJson(port, 'tx')),
        });
      }
    }
    return out;
  }

  /** The classifier table shown in status (§4.3), from every running classifier. */
  classifierTableJson(): ClassifierEntryJson[] {
    const out: ClassifierEntryJson[] = [];
    for (const component of this.slots) {
      if (component?.kind !== 'classifier') continue;
      const tables = classifierTables(component);
      for (const vid of [...tables.keys()].sort((a, b) => a - b)) {
        const table = tables.get(vid) as ClassifierVidTable;
        const prefix = vid === UNTAGGED_VID ? '' : `${vid}/`;
        const type = vid === UNTAGGED_VID ? 'mac' : 'vlan';
        if (table.defaultPort) {
          out.push({ type, value: `${prefix}default`, port: table.defaultPort.key });
        }
        for (const [mac, port] of table.macs) {
          out.push({ type, value: `${prefix}${formatMac(mac)}`, port: port.key });
        }
      }
    }
    return out;
  }

  /** Ports listed in status: phy 0..M-1, then added vhosts and rings, ascending. */
  portIndices(): { phy: number[]; vhost: number[]; ring: number[] } {
    const nics = Math.min(this.limits.nics, this.limits.portTableSize);
    return {
      phy: Array.from({ length: nics }, (_, index) => index),
      vhost: [...this.addedVhosts].sort((a, b) => a - b),
      ring: [...this.addedRings].sort((a, b) => a - b),
    };
  }

  statusInfo(): StatusInfo {
    const { phy, vhost, ring } = this.portIndices();
    const asText = this.dialect === '19.11';
    const list = (values: number[]) => (asText ? values.map(String) : values);
    const info: StatusInfo = {
      'client-id': this.clientId,
      phy: list(phy),
      vhost: list(vhost),
      ring: list(ring),
    } as StatusInfo;
    if (this.dialect === '19.11') info['master-lcore'] = this.masterLcore;
    info.core = this.componentsJson();
    if (this.type === 'vf') info.classifier_table = this.classifierTableJson();
    return info;
  }

  /** The REST object of GET /v1/vfs|mirrors/{id}, built directly. */
  restStatus(): RestStatus {
    const { phy, vhost, ring } = this.portIndices();
    const status: RestStatus = {
      'client-id': this.clientId,
      ports: [
        ...phy.map((index) => `phy:${index}`),
        ...vhost.map((index) => `vhost:${index}`),
        ...ring.map((index) => `ring:${index}`),
      ],
    } as RestStatus;
    if (this.dialect === '19.11') status['master-lcore'] = this.masterLcore;
    status.components = this.componentsJson();
    if (this.type === 'vf') status.classifier_table = this.classifierTableJson();
    return status;
  }
}

export interface ClassifierVidTable {
  defaultPort?: PortState;
  /** dst MAC -> tx port; a later tx port replaces an earlier one with the same key. */
  macs: Map<number, PortState>;
  /** Every tx port holding an id for this VID, in tx order (flood targets). */
  holders: PortState[];
}

/** A classifier's tables, built from its tx ports' classification ids (§5.5). */
export function classifierTables(component: Component): Map<number, ClassifierVidTable> {
  const tables = new Map<number, ClassifierVidTable>();
  for (const port of component.tx) {
    if (port.classMac === 0) continue;
    let table = tables.get(port.classVid);
    if (!table) tables.set(port.classVid, (table = { macs: new Map(), holders: [] }));
    if (!table.holders.includes(port)) table.holders.push(port);
    if (port.classMac === DEFAULT_MAC) table.defaultPort = port;
    else table.macs.set(port.classMac, port);
  }
  return tables;
}

/** SPP's reply text for a command (§5.1); undefined when the process does not reply. */
export function formatReply(reply: CommandReply): string | undefined {
  if (reply.result === 'error') {
    return sppJson({
      results: [{ result: 'error', error_details: { message: reply.message } }],
    });
  }
  if (reply.noReply) return undefined;
  const results = [{ result: 'success' }];
  if (reply.info) return sppJson({ results, info: reply.info });
  if (reply.clientId !== undefined) {
    return sppJson({ results, client_id: reply.clientId, process_type: reply.processType });
  }
  return sppJson({ results });
}

/** SPP's hand-written JSON layout: `{ "a": 1, "b": [ 1, 2 ] }`, empty containers `[  ]`. */
export function sppJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[ ${value.map(sppJson).join(', ')} ]`;
  const members = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .map(([key, member]) => `${JSON.stringify(key)}: ${sppJson(member)}`);
  return `{ ${members.join(', ')} }`;
}
