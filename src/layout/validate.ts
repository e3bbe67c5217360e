import { formatCoreList, parseCoreMask } from './coremask.js';
import type { MirrorSpec } from './mappings.js';
import type { ComponentConfig, HostConfig, VfConfig } from './schema.js';
import { parsePort } from './schema.js';
import { deriveWiring } from './wiring.js';

/** SPP keeps 32 entries per port type per process unless DPDK is built with more. */
export const DEFAULT_PORT_TABLE_SIZE = 32;

export interface LayoutReport {
  /** Problems that make the layout unusable; each starts with the field path. */
  errors: string[];
  /** Things that work only on a non-default SPP/DPDK build. */
  warnings: string[];
}

export function totalVhosts(config: HostConfig): number {
  return config.vf.reduce((sum, vf) => sum + vf.num_vhost, 0);
}

/** Rings spp_primary creates for this host: two per vhost and two per mirror. */
export function ringCount(config: HostConfig): number {
  return 2 * totalVhosts(config) + 2 * (config.mirror?.length ?? 0);
}

function checkComponentCounts(component: ComponentConfig, at: string, errors: string[]): void {
  const { rx_port: rx, tx_port: tx } = component;
  if (component.type === 'forward' && (rx.length !== 1 || tx.length !== 1)) {
    errors.push(
      `${at}: a forward needs exactly one rx and one tx port, has ${rx.length} and ${tx.length}`,
    );
  }
  if (component.type === 'merge' && tx.length !== 1) {
    errors.push(`${at}.tx_port: a merge needs exactly one tx port, has ${tx.length}`);
  }
  if (component.type === 'classifier_mac' && rx.length !== 1) {
    errors.push(`${at}.rx_port: a classifier_mac needs exactly one rx port, has ${rx.length}`);
  }
}

function checkPorts(
  component: ComponentConfig,
  at: string,
  limits: { nics: number; rings: number; firstVhost: number; numVhost: number },
  errors: string[],
): void {
  for (const side of ['rx_port', 'tx_port'] as const) {
    component[side].forEach((name, index) => {
      const port = parsePort(name);
      const where = `${at}.${side}[${index}]`;
      if (!port) return;
      if (port.kind === 'phy' && port.index >= limits.nics) {
        errors.push(`${where}: ${name} does not exist, the host has ${limits.nics} NIC(s)`);
      }
      if (port.kind === 'ring' && port.index >= limits.rings) {
        errors.push(
          `${where}: ${name} does not exist, spp_primary has ${limits.rings} ring(s) for this host`,
        );
      }
      const lastVhost = limits.firstVhost + limits.numVhost - 1;
      if (port.kind === 'vhost' && (port.index < limits.firstVhost || port.index > lastVhost)) {
        errors.push(
          `${where}: ${name} is outside this NIC's vhost ids ${limits.firstVhost}..${lastVhost}`,
        );
      }
    });
  }
}

function checkCores(vf: VfConfig, at: string, errors: string[]): void {
  let workers: number[];
  try {
    workers = parseCoreMask(vf.core_mask, `${at}.core_mask`).slice(1);
  } catch (error) {
    errors.push((error as Error).message);
    return;
  }
  const typeOnCore = new Map<number, string>();
  vf.components.forEach((component, index) => {
    const where = `${at}.components[${index}].core`;
    if (!workers.includes(component.core)) {
      errors.push(
        `${where}: core ${component.core} is not a worker core of mask ${vf.core_mask} (worker cores: ${formatCoreList(workers) || 'none'})`,
      );
    }
    const previous = typeOnCore.get(component.core);
    if (previous === 'classifier_mac' && component.type === 'classifier_mac') {
      errors.push(
        `${where}: core ${component.core} already runs a classifier_mac (SPP runs one per core)`,
      );
    } else if (previous !== undefined && previous !== component.type) {
      errors.push(
        `${where}: core ${component.core} already runs a ${previous}; SPP 18.08 cannot mix component types on one core`,
      );
    }
    typeOnCore.set(component.core, component.type);
  });
}

function checkNames(vf: VfConfig, at: string, errors: string[]): void {
  const seen = new Map<string, number>();
  vf.components.forEach((component, index) => {
    const first = seen.get(component.name);
    if (first !== undefined) {
      errors.push(
        `${at}.components[${index}].name: duplicate component name "${component.name}" (also components[${first}])`,
      );
    } else seen.set(component.name, index);
  });
}

function checkVhosts(
  vf: VfConfig,
  at: string,
  firstVhost: number,
  needForwarders: boolean,
  errors: string[],
): void {
  const { wirings, problems } = deriveWiring(vf.components);
  for (const problem of problems) errors.push(`${at}.components: ${problem}`);
  for (let vhost = firstVhost; vhost < firstVhost + vf.num_vhost; vhost++) {
    const wiring = wirings.get(vhost);
    const mentioned = problems.some(
      (problem) => problem.startsWith(`vhost:${vhost} `) || problem.startsWith(`vhost:${vhost}:`),
    );
    if (!wiring && !mentioned) {
      errors.push(`${at}.components: vhost:${vhost} is not used by any component`);
    }
    if (wiring && needForwarders && !wiring.forwarders) {
      errors.push(
        `${at}.components: vhost:${vhost} has no forwarders, but mirrors (tap-as-a-service) need forwarders for every vhost`,
      );
    }
  }
}

/**
 * Checks a host configuration against what SPP can run. Errors name the field path
 * (`vf[0].components[2].core`) so that the caller can prefix the file name.
 */
export function validateHostConfig(config: HostConfig, mirror?: MirrorSpec): LayoutReport {
  const errors: string[] = [];
  const warnings: string[] = [];
  const rings = ringCount(config);
  const hasMirrors = (config.mirror?.length ?? 0) > 0;
  let firstVhost = 0;
  const workerOwner = new Map<number, number>();
  config.vf.forEach((vf, vfIndex) => {
    const at = `vf[${vfIndex}]`;
    checkNames(vf, at, errors);
    checkCores(vf, at, errors);
    vf.components.forEach((component, index) => {
      const where = `${at}.components[${index}]`;
      checkComponentCounts(component, where, errors);
      checkPorts(
        component,
        where,
        { nics: config.vf.length, rings, firstVhost, numVhost: vf.num_vhost },
        errors,
      );
    });
    checkVhosts(vf, at, firstVhost, hasMirrors, errors);
    checkSharedCores(vf, vfIndex, workerOwner, errors);
    firstVhost += vf.num_vhost;
  });
  checkMirrors(config, rings, mirror, workerOwner, errors);
  const widest = Math.max(firstVhost - 1, rings - 1);
  if (widest >= DEFAULT_PORT_TABLE_SIZE) {
    warnings.push(
      `this layout uses port index ${widest} (vhost/ring); a default SPP/DPDK build has ${DEFAULT_PORT_TABLE_SIZE} entries per port type (0..${DEFAULT_PORT_TABLE_SIZE - 1}), so SPP must be built with a larger RTE_MAX_ETHPORTS`,
    );
  }
  return { errors, warnings };
}

/** Cores listed compactly with agreement: "worker core 3 is" / "worker cores 3-7,9 are". */
function coresPhrase(cores: number[]): string {
  return cores.length === 1
    ? `worker core ${cores[0]} is`
    : `worker cores ${formatCoreList(cores)} are`;
}

/** Groups by owner: the worker cores of `values` that another owner already took. */
function sharedByOwner(
  values: Array<{ core: number; index: number }>,
  workerOwner: Map<number, number>,
): Map<number, Array<{ core: number; index: number }>> {
  const shared = new Map<number, Array<{ core: number; index: number }>>();
  for (const value of values) {
    const owner = workerOwner.get(value.core);
    if (owner === undefined) continue;
    const list = shared.get(owner) ?? [];
    list.push(value);
    shared.set(owner, list);
  }
  return shared;
}

/** One error per pair of spp_vf processes whose worker cores overlap, with the cores as ranges. */
function checkSharedCores(
  vf: VfConfig,
  vfIndex: number,
  workerOwner: Map<number, number>,
  errors: string[],
): void {
  let workers: number[];
  try {
    workers = parseCoreMask(vf.core_mask, `vf[${vfIndex}].core_mask`).slice(1);
  } catch {
    return; // already reported by checkCores
  }
  const shared = sharedByOwner(
    workers.map((core) => ({ core, index: vfIndex })),
    workerOwner,
  );
  for (const [owner, entries] of shared) {
    errors.push(
      `vf[${vfIndex}].core_mask: ${coresPhrase(entries.map((entry) => entry.core))} used by both vf[${owner}] and vf[${vfIndex}]; each spp_vf needs its own cores`,
    );
  }
  for (const core of workers) if (!workerOwner.has(core)) workerOwner.set(core, vfIndex);
}

function checkMirrors(
  config: HostConfig,
  rings: number,
  spec: MirrorSpec | undefined,
  workerOwner: Map<number, number>,
  errors: string[],
): void {
  const mirrors = config.mirror ?? [];
  const workers = spec?.cores.slice(1);
  if (spec && mirrors.length !== spec.numMirror) {
    errors.push(
      `mirror: ${mirrors.length} mirror(s) given, but the mirror spec asks for ${spec.numMirror}`,
    );
  }
  mirrors.forEach((mirror, index) => {
    const at = `mirror[${index}]`;
    mirror.ports.forEach((name, portIndex) => {
      const port = parsePort(name);
      if (port?.kind !== 'ring')
        errors.push(`${at}.ports[${portIndex}]: a mirror port must be a ring, got ${name}`);
      else if (port.index >= rings) {
        errors.push(
          `${at}.ports[${portIndex}]: ${name} does not exist, spp_primary has ${rings} ring(s) for this host`,
        );
      }
    });
    if (mirror.ports[0] === mirror.ports[1]) errors.push(`${at}.ports: the two rings must differ`);
    if (workers && !workers.includes(mirror.core)) {
      errors.push(
        `${at}.core: core ${mirror.core} is not a worker core of the mirror mask ${spec?.coreMask} (worker cores: ${formatCoreList(workers) || 'none'})`,
      );
    }
  });
  const shared = sharedByOwner(
    mirrors.map((mirror, index) => ({ core: mirror.core, index })),
    workerOwner,
  );
  for (const [owner, entries] of shared) {
    const indexes = entries.map((entry) => entry.index);
    const cores = entries.map((entry) => entry.core);
    const at = indexes.length === 1 ? `mirror[${indexes[0]}]` : `mirror[${indexes.join(',')}]`;
    errors.push(
      `${at}.core: ${cores.length === 1 ? `core ${cores[0]} is` : `cores ${formatCoreList(cores)} are`} used by both vf[${owner}] and spp_mirror; spp_mirror needs its own cores`,
    );
  }
}
