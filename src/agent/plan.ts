import type { MirrorConfig } from '../layout/schema.js';
import { parsePort } from '../layout/schema.js';
import type { VhostWiring } from '../layout/wiring.js';
import type { ClassifierChange } from '../spp/client.js';
import type {
  Classification,
  ComponentStatus,
  PortVlan,
  ProcessStatus,
  VlanOp,
} from '../spp/status.js';
import { parseClassifierEntry, sameVlan } from '../spp/status.js';
import type { DesiredVhost } from './desired.js';
import type { Dialect, VfPlan } from './layout-index.js';
import { sppComponentType } from './layout-index.js';

/** One spp-ctl call against one process (SPP-SPEC §9.1). Pure data; the executor sends it. */
export type SppCall =
  | { op: 'start'; name: string; core: number; type: string }
  | { op: 'attach'; component: string; port: string; dir: 'rx' | 'tx'; vlan: PortVlan }
  | { op: 'detach'; component: string; port: string; dir: 'rx' | 'tx' }
  | { op: 'classify'; change: ClassifierChange };

const NO_VLAN: PortVlan = { operation: 'none' };
const NO_PORTS: ReadonlySet<string> = new Set();

function runningComponents(status: ProcessStatus): Map<string, ComponentStatus> {
  const byName = new Map<string, ComponentStatus>();
  for (const component of status.components) {
    if (component.type !== 'unuse' && component.name !== undefined)
      byName.set(component.name, component);
  }
  return byName;
}

const attach = (component: string, port: string, dir: 'rx' | 'tx'): SppCall => ({
  op: 'attach',
  component,
  port,
  dir,
  vlan: NO_VLAN,
});

/**
 * The calls that build a spp_vf's components on whatever SPP already has (SPP-SPEC §9.1
 * step 3): a missing component is started and gets its tx then rx ports; an existing one
 * only gets what is missing, by the original's rules, so a running host is never disturbed.
 */
export function planBuild(vf: VfPlan, status: ProcessStatus, dialect: Dialect): SppCall[] {
  const running = runningComponents(status);
  const calls: SppCall[] = [];
  for (const component of vf.components) {
    const existing = running.get(component.name);
    if (!existing) {
      calls.push({
        op: 'start',
        name: component.name,
        core: component.core,
        type: sppComponentType(component.type, dialect),
      });
      for (const port of component.tx_port) calls.push(attach(component.name, port, 'tx'));
      for (const port of component.rx_port) calls.push(attach(component.name, port, 'rx'));
      continue;
    }
    const rx = new Set((existing.rx_port ?? []).map((p) => p.port));
    const tx = new Set((existing.tx_port ?? []).map((p) => p.port));
    const [firstTx] = component.tx_port;
    const [firstRx] = component.rx_port;
    if (component.type === 'classifier_mac') {
      for (const port of component.tx_port)
        if (!tx.has(port)) calls.push(attach(component.name, port, 'tx'));
      if (rx.size === 0 && firstRx) calls.push(attach(component.name, firstRx, 'rx'));
      continue;
    }
    if (tx.size === 0 && firstTx) calls.push(attach(component.name, firstTx, 'tx'));
    const mergesIntoWire = component.type === 'merge' && parsePort(firstTx ?? '')?.kind === 'phy';
    if (mergesIntoWire) {
      for (const port of component.rx_port)
        if (!rx.has(port)) calls.push(attach(component.name, port, 'rx'));
    } else if (rx.size === 0 && firstRx) {
      calls.push(attach(component.name, firstRx, 'rx'));
    }
  }
  return calls;
}

/** Mirror components are created without ports (SPP-SPEC §9.1 step 5). */
export function planMirrors(mirrors: MirrorConfig[], status: ProcessStatus): SppCall[] {
  const running = runningComponents(status);
  return mirrors.flatMap((mirror, index): SppCall[] =>
    running.has(`mirror_${index}`)
      ? []
      : [{ op: 'start', name: `mirror_${index}`, core: mirror.core, type: 'mirror' }],
  );
}

/** What SPP currently does for one vhost. `undefined` port op = the port is not attached. */
export interface ActualVhost {
  mergerRx: VlanOp | undefined;
  classifierTx: VlanOp | undefined;
  /** The classification on the classifier-side port; `foreign` = an entry we cannot parse. */
  classification: Classification | 'foreign' | undefined;
  /**
   * SPP has the vhost wired into a tap (its forwarders read or write other rings than their
   * own): the vhost may not change hands until the tap is torn down (SYSTEM.md §5.3).
   */
  tapped?: boolean;
}

function portOp(
  component: ComponentStatus | undefined,
  side: 'rx_port' | 'tx_port',
  port: string,
): VlanOp | undefined {
  const entry = component?.[side]?.find((candidate) => candidate.port === port);
  if (!entry) return undefined;
  return entry.vlan ?? { operation: 'none', id: 0, pcp: 0 };
}

/** Reads one vhost's state out of its spp_vf's status (learning plugged ports, §5.1 step 3). */
export function readActualVhost(status: ProcessStatus, wiring: VhostWiring): ActualVhost {
  const running = runningComponents(status);
  const entry = status.classifier_table?.find((e) => e.port === wiring.classifierSidePort);
  return {
    mergerRx: portOp(running.get(wiring.mergerComponent), 'rx_port', wiring.mergerSidePort),
    classifierTx: portOp(
      running.get(wiring.classifierComponent),
      'tx_port',
      wiring.classifierSidePort,
    ),
    classification: entry ? (parseClassifierEntry(entry) ?? 'foreign') : undefined,
    ...(isTapped(running, wiring) ? { tapped: true } : {}),
  };
}

function isTapped(running: Map<string, ComponentStatus>, wiring: VhostWiring): boolean {
  if (!wiring.forwarders) return false;
  const toVm = running.get(wiring.forwarders.toVm)?.rx_port?.map((p) => p.port);
  const fromVm = running.get(wiring.forwarders.fromVm)?.tx_port?.map((p) => p.port);
  const own = (ports: string[] | undefined, ring: string) =>
    ports === undefined || ports.length === 0 || (ports.length === 1 && ports[0] === ring);
  return !own(toVm, wiring.classifierSidePort) || !own(fromVm, wiring.mergerSidePort);
}

export type VhostPlan = { calls: SppCall[] } | { blocked: string };

/**
 * The calls that move one vhost from `actual` to `desired`, in the original's order
 * (SPP-SPEC §9.1): VLAN op of the merger-side port (rx), then of the classifier-side port
 * (tx), each by detach + attach; then the classifier table (delete stale, add wanted).
 * An already-correct vhost needs no call, which makes plug and unplug idempotent.
 */
export function planVhost(
  wiring: VhostWiring,
  actual: ActualVhost,
  desired: DesiredVhost,
  tapPorts: ReadonlySet<string> = NO_PORTS,
): VhostPlan {
  if (desired.kind === 'keep') return { calls: [] };

  const carry = desired.kind === 'carry' ? desired : undefined;
  const tagged = carry?.vlanId !== undefined;
  const mergerOp: PortVlan = tagged ? { operation: 'add', id: carry.vlanId ?? 0 } : NO_VLAN;
  const classifierOp: PortVlan = tagged ? { operation: 'del' } : NO_VLAN;
  const wanted: Classification | undefined = carry
    ? { mac: carry.mac, ...(tagged ? { vlanId: carry.vlanId } : {}) }
    : undefined;
  if (actual.classification === 'foreign') {
    return {
      blocked: `the classifier table has an entry on ${wiring.classifierSidePort} that is not a port MAC`,
    };
  }
  const calls: SppCall[] = [];
  const reattach = (
    component: string,
    port: string,
    dir: 'rx' | 'tx',
    current: VlanOp | undefined,
    op: PortVlan,
  ) => {
    if (current !== undefined && sameVlan(current, op)) return;
    if (current !== undefined) calls.push({ op: 'detach', component, port, dir });
    calls.push({ op: 'attach', component, port, dir, vlan: op });
  };
  reattach(wiring.mergerComponent, wiring.mergerSidePort, 'rx', actual.mergerRx, mergerOp);
  reattach(
    wiring.classifierComponent,
    wiring.classifierSidePort,
    'tx',
    actual.classifierTx,
    classifierOp,
  );
  const current = actual.classification;
  if (!sameClassification(current, wanted)) {
    if (current) calls.push({ op: 'classify', change: classifierChange('del', wiring, current) });
    if (wanted) calls.push({ op: 'classify', change: classifierChange('add', wiring, wanted) });
  }
  const tapAllowed = carry !== undefined && tapPorts.has(carry.portId);
  if (actual.tapped && !tapAllowed && (calls.length > 0 || !carry)) {
    return {
      blocked:
        'SPP has a tap wired on this vhost that etcd does not want; waiting for its teardown',
    };
  }
  return { calls };
}

function classifierChange(
  action: 'add' | 'del',
  wiring: VhostWiring,
  c: Classification,
): ClassifierChange {
  return {
    action,
    mac: c.mac,
    port: wiring.classifierSidePort,
    ...(c.vlanId !== undefined ? { vlanId: c.vlanId } : {}),
  };
}

/** Both sides carry normalised MACs: SPP's are lower-cased when its status is read, etcd's when decoded. */
function sameClassification(a: Classification | undefined, b: Classification | undefined): boolean {
  if (!a || !b) return a === b;
  return a.mac === b.mac && a.vlanId === b.vlanId;
}

/** The state a vhost is in once its plan ran without error. */
export function actualAfter(desired: DesiredVhost, before: ActualVhost): ActualVhost {
  if (desired.kind === 'keep') return before;
  const tapped = before.tapped ? { tapped: true } : {};
  const none: VlanOp = { operation: 'none', id: 0, pcp: 0 };
  if (desired.kind === 'empty')
    return { mergerRx: none, classifierTx: none, classification: undefined, ...tapped };
  if (desired.vlanId === undefined) {
    return { mergerRx: none, classifierTx: none, classification: { mac: desired.mac }, ...tapped };
  }
  return {
    ...tapped,
    mergerRx: { operation: 'add', id: desired.vlanId, pcp: 0 },
    classifierTx: { operation: 'del', id: 0, pcp: 0 },
    classification: { mac: desired.mac, vlanId: desired.vlanId },
  };
}
