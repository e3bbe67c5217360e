import { z } from 'zod';

/** A MAC address as Neutron and SPP write it: six hex pairs, any case. */
export const MAC_PATTERN = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const MAC_HINT = 'must be a MAC address like fa:16:3e:00:00:01';

/**
 * A MAC address, validated and lower-cased: the one normal form used inside the project.
 * Neutron writes lower case, SPP answers upper case; every edge decodes through this.
 */
export function macAddressSchema(notAString?: (issue: { input?: unknown }) => string) {
  return z
    .string(notAString ? { error: notAString } : undefined)
    .regex(MAC_PATTERN, MAC_HINT)
    .transform((mac) => mac.toLowerCase());
}

/** The normal form of a MAC from a source that was already validated elsewhere. */
export function normalizeMac(mac: string): string | undefined {
  return MAC_PATTERN.test(mac) ? mac.toLowerCase() : undefined;
}
