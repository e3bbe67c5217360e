import { InputError } from '../util/errors.js';

/** DPDK's RTE_MAX_LCORE on the builds SPP uses: no lcore id can be 128 or above. */
export const MAX_LCORE = 128;

const HEX_MASK = /^(0[xX])?([0-9a-fA-F]+)$/;

/**
 * Parses a DPDK core mask ("0xfe", "fc02", up to 128 bits) into ascending lcore ids.
 * `describe` names the input in error messages.
 */
export function parseCoreMask(text: string, describe: string): number[] {
  const match = HEX_MASK.exec(text.trim());
  if (!match?.[2]) {
    throw new InputError(
      `${describe}: core mask "${text}" is not hexadecimal (expected e.g. 0xfe or fe)`,
    );
  }
  const mask = BigInt(`0x${match[2]}`);
  if (mask === 0n) throw new InputError(`${describe}: core mask "${text}" selects no core`);
  if (mask >> BigInt(MAX_LCORE) !== 0n) {
    throw new InputError(
      `${describe}: core mask "${text}" selects a core above ${MAX_LCORE - 1} (DPDK supports ${MAX_LCORE} lcores)`,
    );
  }
  const cores: number[] = [];
  for (let bit = 0; bit < MAX_LCORE; bit++) {
    if ((mask >> BigInt(bit)) & 1n) cores.push(bit);
  }
  return cores;
}

/** The lowest core of a mask is the DPDK master lcore; the others run components. */
export function workerCores(text: string, describe: string): number[] {
  return parseCoreMask(text, describe).slice(1);
}

/** Writes ascending core ids compactly, runs as ranges: [3,4,5,6,7,9] -> "3-7,9". */
export function formatCoreList(cores: number[]): string {
  const sorted = [...new Set(cores)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let start = 0; start < sorted.length;) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === (sorted[end] as number) + 1) end++;
    const first = sorted[start] as number;
    const last = sorted[end] as number;
    parts.push(first === last ? String(first) : `${first}-${last}`);
    start = end + 1;
  }
  return parts.join(',');
}
