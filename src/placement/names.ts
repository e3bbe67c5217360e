import { createHash } from 'node:crypto';

/**
 * Names of what networking-spp puts into Placement, following the conventions of Neutron's
 * own device resource providers (neutron-lib's `placement.utils`):
 * - the resource class of one SPP vhost-user slot (a custom class, like SR-IOV's VF count);
 * - the trait of a physical network, exactly neutron-lib's `physnet_trait()`;
 * - provider names `<compute node>:<agent type>:<device>`, the device being the physnet;
 * - provider UUIDs as in `device_resource_provider_uuid()`: uuid5 of `<compute node>:<device>`
 *   in a namespace of our own, so that every binding-service instance computes the same one.
 */
export const VHOST_RESOURCE_CLASS = 'CUSTOM_SPP_VHOST';

/** The agent type Neutron lists for the SPP agent (SYSTEM.md §7), the middle part of names. */
export const AGENT_TYPE = 'SPP neutron agent';

const NAME_SEPARATOR = `:${AGENT_TYPE}:`;

/** uuid5 namespace of networking-spp's resource providers (fixed; changing it orphans them). */
export const PROVIDER_UUID_NAMESPACE = 'b145ad21-2979-492e-b871-ff231750efe1';

const PHYSNET_TRAIT_PREFIX = 'PHYSNET_';

/** os_traits.normalize_name(): non-alphanumerics runs → `_`, upper-cased, `CUSTOM_` prefix. */
export function normalizeCustomName(name: string): string {
  return `CUSTOM_${name.replace(/[^0-9A-Za-z]+/g, '_').toUpperCase()}`;
}

/** neutron-lib's physnet_trait(): `CUSTOM_PHYSNET_<PHYSNET>`. */
export function physnetTrait(physnet: string): string {
  return normalizeCustomName(`${PHYSNET_TRAIT_PREFIX}${physnet}`);
}

/** True for traits networking-spp manages on its providers (every physnet trait). */
export function isPhysnetTrait(trait: string): boolean {
  return trait.startsWith(`CUSTOM_${PHYSNET_TRAIT_PREFIX}`);
}

export function providerName(computeNode: string, physnet: string): string {
  return `${computeNode}${NAME_SEPARATOR}${physnet}`;
}

/** The compute node and physnet of one of our provider names; undefined for other names. */
export function parseProviderName(
  name: string,
): { computeNode: string; physnet: string } | undefined {
  const at = name.indexOf(NAME_SEPARATOR);
  if (at <= 0) return undefined;
  const physnet = name.slice(at + NAME_SEPARATOR.length);
  if (physnet === '' || physnet.includes(':')) return undefined;
  return { computeNode: name.slice(0, at), physnet };
}

export function providerUuid(computeNode: string, physnet: string): string {
  return uuid5(PROVIDER_UUID_NAMESPACE, `${computeNode}:${physnet}`);
}

/** RFC 4122 name-based UUID, version 5 (SHA-1), as Python's uuid.uuid5. */
export function uuid5(namespace: string, name: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(Buffer.from(name, 'utf8'))
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join('-');
}
