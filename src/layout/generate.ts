import { InputError } from '../util/errors.js';
import { formatCoreList } from './coremask.js';
import type { MirrorSpec, NicMapping } from './mappings.js';
import type { PyValue } from './pyvalue.js';
import type { ComponentConfig, HostConfig, MirrorConfig, VfConfig } from './schema.js';
import { portName } from './schema.js';

/** Worker cores needed for a NIC with `numVhost` vhosts in the default layout. */
export function coresNeeded(numVhost: number): number {
  return 2 * numVhost + 2;
}

function describeCores(cores: number[]): string {
  return cores.length === 0 ? 'none' : formatCoreList(cores);
}

function takeWorkerCores(cores: number[], needed: number, where: string, reason: string): number[] {
  const [master, ...workers] = cores;
  if (workers.length < needed) {
    throw new InputError(
      `${where}: core mask has ${workers.length} worker core(s) (${describeCores(workers)}; core ${master} is the DPDK master) but ${reason} need ${needed}`,
    );
  }
  return workers;
}

/** Components of NIC k in the original's order: per vhost two forwarders, then classifier and merger. */
export function defaultComponents(
  nicIndex: number,
  firstVhost: number,
  numVhost: number,
  workers: number[],
): ComponentConfig[] {
  const cores = [...workers];
  const next = (): number => cores.shift() as number;
  const nic = portName('phy', nicIndex);
  const components: ComponentConfig[] = [];
  const classifierTx: string[] = [];
  const mergerRx: string[] = [];
  for (let vhost = firstVhost; vhost < firstVhost + numVhost; vhost++) {
    const toVm = portName('ring', 2 * vhost);
    const fromVm = portName('ring', 2 * vhost + 1);
    const vhostPort = portName('vhost', vhost);
    components.push({
      core: next(),
      type: 'forward',
      name: `forward_${vhost}_tx`,
      rx_port: [toVm],
      tx_port: [vhostPort],
    });
    components.push({
      core: next(),
      type: 'forward',
      name: `forward_${vhost}_rx`,
      rx_port: [vhostPort],
      tx_port: [fromVm],
    });
    classifierTx.push(toVm);
    mergerRx.push(fromVm);
  }
  components.push({
    core: next(),
    type: 'classifier_mac',
    name: 'classifier',
    rx_port: [nic],
    tx_port: classifierTx,
  });
  components.push({
    core: next(),
    type: 'merge',
    name: 'merger',
    rx_port: mergerRx,
    tx_port: [nic],
  });
  return components;
}

export function defaultMirrors(totalVhosts: number, spec: MirrorSpec): MirrorConfig[] {
  const workers = takeWorkerCores(
    spec.cores,
    spec.numMirror,
    `mirror spec ("${spec.numMirror}#${spec.coreMask}")`,
    `${spec.numMirror} mirror(s)`,
  );
  return Array.from({ length: spec.numMirror }, (_, index) => {
    const ring = 2 * totalVhosts + 2 * index;
    return {
      core: workers[index] as number,
      ports: [portName('ring', ring), portName('ring', ring + 1)] as [string, string],
    };
  });
}

export interface CustomLayout {
  vf: Array<{ components: ComponentConfig[] }>;
  mirror?: MirrorConfig[];
  /** What a layout file held, to be written as the original writes it (custom.ts). */
  source?: CustomLayoutSource;
}

/** A layout file's components (per vf entry) and mirrors as given, in the file's key order. */
export interface CustomLayoutSource {
  components: PyValue[];
  mirror?: PyValue;
  warnings: string[];
}

/**
 * Builds the value of `configuration/<host>` as the original devstack tool does: the vf
 * entries carry the mapping fields in the original's key order, then the components
 * (generated, or taken from a custom layout).
 */
export function buildHostConfig(
  mappings: NicMapping[],
  mirror?: MirrorSpec,
  custom?: CustomLayout,
): HostConfig {
  let firstVhost = 0;
  const vf: VfConfig[] = mappings.map((mapping, nicIndex) => {
    const where = `NIC mapping ${nicIndex + 1} (${mapping.pciAddress}#${mapping.physicalNetwork})`;
    const components = custom
      ? (custom.vf[nicIndex]?.components ?? [])
      : defaultComponents(
          nicIndex,
          firstVhost,
          mapping.numVhost,
          takeWorkerCores(
            mapping.cores,
            coresNeeded(mapping.numVhost),
            where,
            `${mapping.numVhost} vhost(s) (2 per vhost + classifier + merger)`,
          ),
        );
    firstVhost += mapping.numVhost;
    return {
      physical_network: mapping.physicalNetwork,
      pci_address: mapping.pciAddress,
      num_vhost: mapping.numVhost,
      core_mask: mapping.coreMask,
      components,
    };
  });
  const config: HostConfig = { vf };
  // Like the original, an empty mirror list in a layout file means "generate them".
  const given = custom?.mirror && custom.mirror.length > 0 ? custom.mirror : undefined;
  if (mirror) config.mirror = given ?? defaultMirrors(firstVhost, mirror);
  return config;
}
