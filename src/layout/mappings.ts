import { InputError } from '../util/errors.js';
import { parseCoreMask } from './coremask.js';

/** One NIC of a host, as given in the operator's NIC mappings string (SYSTEM.md §3.1). */
export interface NicMapping {
  pciAddress: string;
  physicalNetwork: string;
  numVhost: number;
  /** The mask exactly as the operator wrote it; the original stores it unchanged. */
  coreMask: string;
  /** All cores of the mask, ascending; the first is the DPDK master lcore. */
  cores: number[];
}

export interface MirrorSpec {
  numMirror: number;
  coreMask: string;
  cores: number[];
}

const PCI_ADDRESS = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const PHYSNET = /^[^\s/#,]+$/;
const DECIMAL = /^[0-9]+$/;
const MAPPING_FIELDS = '<pci address>#<physical_network>#<number of vhosts>#<core mask>';

function entryLabel(index: number, text: string): string {
  return `NIC mapping ${index + 1} ("${text}")`;
}

function parseCount(text: string, where: string, field: string, min: number): number {
  if (!DECIMAL.test(text)) {
    throw new InputError(`${where}: ${field} "${text}" is not a decimal number`);
  }
  const value = Number(text);
  if (value < min) throw new InputError(`${where}: ${field} must be at least ${min}, got ${value}`);
  return value;
}

function parseMapping(text: string, index: number): NicMapping {
  const where = entryLabel(index, text);
  const fields = text.split('#').map((field) => field.trim());
  if (fields.length !== 4) {
    throw new InputError(`${where}: has ${fields.length} field(s), expected 4: ${MAPPING_FIELDS}`);
  }
  const [pciAddress, physicalNetwork, vhosts, coreMask] = fields as [
    string,
    string,
    string,
    string,
  ];
  if (!PCI_ADDRESS.test(pciAddress)) {
    throw new InputError(
      `${where}: pci address "${pciAddress}" is not a PCI address (expected [domain:]bus:device.function, e.g. 00:04.0 or 0000:00:04.0)`,
    );
  }
  if (!PHYSNET.test(physicalNetwork)) {
    throw new InputError(
      `${where}: physical_network "${physicalNetwork}" must be non-empty and contain no space, "/", "#" or ","`,
    );
  }
  const numVhost = parseCount(vhosts, where, 'number of vhosts', 1);
  const cores = parseCoreMask(coreMask, `${where}: core mask`);
  return { pciAddress, physicalNetwork, numVhost, coreMask, cores };
}

/**
 * Parses `pci#physnet#vhosts#mask[,...]`. Besides syntax, rejects what cannot work on one
 * host: the same PCI address or physical network twice (one NIC per physnet, as Neutron's
 * own agents require) and worker cores shared by two NICs.
 */
export function parseNicMappings(text: string): NicMapping[] {
  if (text.trim() === '')
    throw new InputError('NIC mappings are empty: expected ' + MAPPING_FIELDS);
  const entries = text.split(',').map((entry) => entry.trim());
  const mappings = entries.map((entry, index) => {
    if (entry === '') throw new InputError(`NIC mapping ${index + 1} is empty (stray comma?)`);
    return parseMapping(entry, index);
  });
  mappings.forEach((mapping, index) => {
    const earlier = mappings.slice(0, index);
    const samePci = earlier.findIndex((other) => other.pciAddress === mapping.pciAddress);
    if (samePci >= 0) {
      throw new InputError(
        `${entryLabel(index, entries[index] ?? '')}: pci address ${mapping.pciAddress} is already used by NIC mapping ${samePci + 1}`,
      );
    }
    const samePhysnet = earlier.findIndex(
      (other) => other.physicalNetwork === mapping.physicalNetwork,
    );
    if (samePhysnet >= 0) {
      throw new InputError(
        `${entryLabel(index, entries[index] ?? '')}: physical_network ${mapping.physicalNetwork} is already mapped by NIC mapping ${samePhysnet + 1} (one NIC per physical network)`,
      );
    }
  });
  return mappings;
}

/** Parses the tap-as-a-service mirror spec `<number of mirrors>#<core mask>`. */
export function parseMirrorSpec(text: string): MirrorSpec {
  const where = `mirror spec ("${text}")`;
  const fields = text.split('#').map((field) => field.trim());
  if (fields.length !== 2) {
    throw new InputError(
      `${where}: has ${fields.length} field(s), expected 2: <number of mirrors>#<core mask>`,
    );
  }
  const [count, coreMask] = fields as [string, string];
  const numMirror = parseCount(count, where, 'number of mirrors', 1);
  const cores = parseCoreMask(coreMask, `${where}: core mask`);
  return { numMirror, coreMask, cores };
}
