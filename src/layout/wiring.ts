import type { ComponentConfig } from './schema.js';
import { parsePort } from './schema.js';

/**
 * How one vhost is wired inside its spp_vf (SYSTEM.md §5.2): the port the classifier
 * sends this VM's frames to and the component that owns it as tx, and the port the
 * merger receives this VM's frames from and the component that owns it as rx. With
 * forwarders these are rings; without them they are the vhost itself.
 */
export interface VhostWiring {
  vhostId: number;
  vhostPort: string;
  classifierSidePort: string;
  classifierComponent: string;
  mergerSidePort: string;
  mergerComponent: string;
  /** Present when the vhost sits behind forwarders (needed for tap-as-a-service). */
  forwarders?: { toVm: string; fromVm: string };
}

export interface WiringResult {
  wirings: Map<number, VhostWiring>;
  problems: string[];
}

function byPort(components: ComponentConfig[], side: 'rx_port' | 'tx_port') {
  const owners = new Map<string, ComponentConfig>();
  for (const component of components) {
    for (const port of component[side]) if (!owners.has(port)) owners.set(port, component);
  }
  return owners;
}

/** Derives the wiring of every vhost that appears in a spp_vf's components. */
export function deriveWiring(components: ComponentConfig[]): WiringResult {
  const txOwner = byPort(components, 'tx_port');
  const rxOwner = byPort(components, 'rx_port');
  const vhostPorts = new Set<string>();
  for (const component of components) {
    for (const port of [...component.rx_port, ...component.tx_port]) {
      if (parsePort(port)?.kind === 'vhost') vhostPorts.add(port);
    }
  }
  const wirings = new Map<number, VhostWiring>();
  const problems: string[] = [];
  for (const vhostPort of vhostPorts) {
    const vhostId = parsePort(vhostPort)?.index ?? -1;
    const toVm = classifierSide(vhostPort, txOwner);
    const fromVm = mergerSide(vhostPort, rxOwner);
    if (typeof toVm === 'string') problems.push(toVm);
    if (typeof fromVm === 'string') problems.push(fromVm);
    if (typeof toVm === 'string' || typeof fromVm === 'string') continue;
    const wiring: VhostWiring = {
      vhostId,
      vhostPort,
      classifierSidePort: toVm.port,
      classifierComponent: toVm.component,
      mergerSidePort: fromVm.port,
      mergerComponent: fromVm.component,
    };
    if (toVm.forwarder && fromVm.forwarder) {
      wiring.forwarders = { toVm: toVm.forwarder, fromVm: fromVm.forwarder };
    }
    wirings.set(vhostId, wiring);
  }
  return { wirings, problems };
}

interface Side {
  port: string;
  component: string;
  forwarder?: string;
}

function classifierSide(vhost: string, txOwner: Map<string, ComponentConfig>): Side | string {
  const feeder = txOwner.get(vhost);
  if (!feeder) return `${vhost} is not the tx port of any component (no classifier-side path)`;
  if (feeder.type === 'classifier_mac') return { port: vhost, component: feeder.name };
  const ring = feeder.rx_port[0];
  if (!ring) return `${vhost}: component ${feeder.name} that feeds it has no rx port`;
  const classifier = txOwner.get(ring);
  if (classifier?.type !== 'classifier_mac') {
    return `${vhost}: ${ring} (rx of ${feeder.name}) is not a tx port of a classifier_mac component`;
  }
  return { port: ring, component: classifier.name, forwarder: feeder.name };
}

function mergerSide(vhost: string, rxOwner: Map<string, ComponentConfig>): Side | string {
  const reader = rxOwner.get(vhost);
  if (!reader) return `${vhost} is not the rx port of any component (no merger-side path)`;
  if (reader.type === 'merge') return { port: vhost, component: reader.name };
  if (reader.type !== 'forward') {
    return `${vhost}: its rx component ${reader.name} is a ${reader.type}, expected forward or merge`;
  }
  const ring = reader.tx_port[0];
  if (!ring) return `${vhost}: component ${reader.name} that reads it has no tx port`;
  const merger = rxOwner.get(ring);
  if (merger?.type !== 'merge') {
    return `${vhost}: ${ring} (tx of ${reader.name}) is not an rx port of a merge component`;
  }
  return { port: ring, component: merger.name, forwarder: reader.name };
}
