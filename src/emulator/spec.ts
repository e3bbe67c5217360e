import { parseCoreMask } from '../layout/coremask.js';
import type { HostConfig } from '../layout/schema.js';
import { parsePort } from '../layout/schema.js';
import { DEFAULT_PORT_TABLE_SIZE, ringCount, totalVhosts } from '../layout/validate.js';
import { InputError } from '../util/errors.js';

/** Which SPP the emulator imitates: the tag networking-spp pins, or the last release. */
export type Dialect = '18.08' | '19.11';

export const DIALECTS: readonly Dialect[] = ['18.08', '19.11'];

export interface ProcessSpec {
  type: 'vf' | 'mirror';
  clientId: number;
  /** Hexadecimal DPDK core mask (`0xfe`, `fc02`); its lowest core is the master lcore. */
  coreMask: string;
}

/** One host's SPP: what spp_primary and the secondaries were started with. */
export interface HostSpec {
  /** phy:0..nics-1 exist in every secondary (and in spp_primary's status). */
  nics: number;
  /** spp_primary -n: ring:0..rings-1 exist. */
  rings: number;
  processes: ProcessSpec[];
  dialect: Dialect;
  /** Entries per port type per process (index 0..size-1); default 32. */
  portTableSize?: number;
}

export function isDialect(text: string): text is Dialect {
  return (DIALECTS as readonly string[]).includes(text);
}

function maskOf(cores: number[]): string {
  let mask = 0n;
  for (const core of cores) mask |= 1n << BigInt(core);
  return `0x${mask.toString(16)}`;
}

/** spp_mirror's mask when the operator's mirror spec is not at hand (see hostSpecFromLayout). */
function derivedMirrorMask(config: HostConfig): string {
  const mirrorCores = [...new Set((config.mirror ?? []).map((mirror) => mirror.core))].sort(
    (a, b) => a - b,
  );
  const lowest = mirrorCores[0] as number;
  const firstVf = config.vf[0];
  const vfMaster = firstVf ? parseCoreMask(firstVf.core_mask, 'vf[0].core_mask')[0] : undefined;
  let master: number;
  if (vfMaster !== undefined && vfMaster < lowest) master = vfMaster;
  else if (lowest > 0) master = lowest - 1;
  else {
    throw new InputError(
      'mirror: a mirror runs on core 0, which leaves no lower core for the master lcore of spp_mirror; give the mirror spec (<count>#<core mask>)',
    );
  }
  return maskOf([master, ...mirrorCores]);
}

/**
 * The SPP a host with this layout runs (SYSTEM.md §3, SPP-SPEC §1): spp_vf k+1 per vf entry
 * with the vf's core mask, spp_mirror N+1 when mirrors are configured, one NIC per vf and
 * 2 × vhosts + 2 × mirrors rings. The port table grows beyond SPP's 32 entries per type
 * when the layout needs larger indices (as if DPDK were built with a larger RTE_MAX_ETHPORTS).
 */
export function hostSpecFromLayout(
  config: HostConfig,
  options: { mirrorCoreMask?: string; dialect?: Dialect } = {},
): HostSpec {
  const processes: ProcessSpec[] = config.vf.map((vf, index) => ({
    type: 'vf',
    clientId: index + 1,
    coreMask: vf.core_mask,
  }));
  if (config.mirror && config.mirror.length > 0) {
    processes.push({
      type: 'mirror',
      clientId: config.vf.length + 1,
      coreMask: options.mirrorCoreMask ?? derivedMirrorMask(config),
    });
  }
  const rings = ringCount(config);
  let widest = Math.max(totalVhosts(config) - 1, rings - 1, config.vf.length - 1);
  const portsInLayout = [
    ...config.vf.flatMap((vf) => vf.components.flatMap((c) => [...c.rx_port, ...c.tx_port])),
    ...(config.mirror ?? []).flatMap((mirror) => mirror.ports),
  ];
  for (const name of portsInLayout) {
    const port = parsePort(name);
    if (port) widest = Math.max(widest, port.index);
  }
  const spec: HostSpec = {
    nics: config.vf.length,
    rings,
    processes,
    dialect: options.dialect ?? '18.08',
    portTableSize: Math.max(DEFAULT_PORT_TABLE_SIZE, widest + 1),
  };
  return spec;
}
