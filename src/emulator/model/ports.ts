/** Port ids, numbers and MAC addresses as spp_vf/spp_mirror parse them (SPP-SPEC §1.4, §5.5). */

export type PortKind = 'phy' | 'vhost' | 'ring';
export type Direction = 'rx' | 'tx';

export interface PortId {
  kind: PortKind;
  /** As parsed; may be outside the port table (the caller decides what that means). */
  index: number;
}

/** VID that means "untagged" in SPP's classification ids and classifier tables. */
export const UNTAGGED_VID = 4095;

/** The internal MAC spp_vf stores for the word `default` (00:00:00:00:00:01). */
export const DEFAULT_MAC = 1;

const C_INTEGER = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;

/**
 * C `strtol(text, &end, 0)` that must consume the whole token: decimal, `0x` hex, leading-0
 * octal, optional sign. Undefined when the token is not entirely a number.
 */
export function parseCInteger(text: string): bigint | undefined {
  const match = C_INTEGER.exec(text);
  if (!match) return undefined;
  const digits = match[2] as string;
  let value: bigint;
  if (/^0[xX]/.test(digits)) value = BigInt(digits.toLowerCase());
  else if (digits.length > 1 && digits.startsWith('0')) value = BigInt(`0o${digits.slice(1)}`);
  else value = BigInt(digits);
  return match[1] === '-' ? -value : value;
}

/** An integer token within [min, max], or undefined. */
export function parseRanged(
  text: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = parseCInteger(text);
  if (value === undefined || value < BigInt(min) || value > BigInt(max)) return undefined;
  return Number(value);
}

const PORT_TOKEN = /^(phy|vhost|ring):(.+)$/;

/**
 * `phy|vhost|ring:<n>` as the secondary parses it (`ring:010` is ring 8). Negative indices
 * are rejected here; indices beyond the port table are returned for the caller to reject.
 */
export function parseSppPort(text: string): PortId | undefined {
  const match = PORT_TOKEN.exec(text);
  if (!match) return undefined;
  const value = parseCInteger(match[2] as string);
  if (value === undefined || value < 0n) return undefined;
  const index = value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  return { kind: match[1] as PortKind, index };
}

export function portKey(kind: PortKind, index: number): string {
  return `${kind}:${index}`;
}

const MAC_GROUP = /^[0-9a-fA-F]{1,2}$/;

/**
 * A MAC as six colon-separated hex groups (case-insensitive) as a 48-bit number. spp_vf's own
 * parser is laxer (it silently stops at the first non-hex group); the emulator accepts only
 * this form and the word `default` (handled by the caller).
 */
export function parseSppMac(text: string): number | undefined {
  const groups = text.split(':');
  if (groups.length !== 6 || !groups.every((group) => MAC_GROUP.test(group))) return undefined;
  return groups.reduce((mac, group) => mac * 256 + parseInt(group, 16), 0);
}

/** DPDK's formatter: upper-case, two digits per byte, colon separated. */
export function formatMac(mac: number): string {
  const bytes: string[] = [];
  let rest = mac;
  for (let index = 0; index < 6; index++) {
    bytes.unshift((rest % 256).toString(16).toUpperCase().padStart(2, '0'));
    rest = Math.floor(rest / 256);
  }
  return bytes.join(':');
}
