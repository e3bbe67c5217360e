import { z } from 'zod';

/** SPP port names the layout may use: `phy:<n>`, `ring:<n>`, `vhost:<n>`. */
export const PORT_PATTERN = /^(phy|ring|vhost):(0|[1-9][0-9]*)$/;

export const COMPONENT_TYPES = ['forward', 'merge', 'classifier_mac'] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

const portNameSchema = z.string().regex(PORT_PATTERN, 'must be phy:<n>, ring:<n> or vhost:<n>');

export const componentSchema = z.object({
  core: z.number().int().min(0).max(127),
  type: z.enum(COMPONENT_TYPES),
  name: z.string().min(1),
  rx_port: z.array(portNameSchema),
  tx_port: z.array(portNameSchema),
});

export const vfSchema = z.object({
  physical_network: z.string().min(1),
  pci_address: z.string().min(1),
  num_vhost: z.number().int().min(0),
  core_mask: z.string().min(1),
  components: z.array(componentSchema),
});

export const mirrorSchema = z.object({
  core: z.number().int().min(0).max(127),
  ports: z.tuple([portNameSchema, portNameSchema]),
});

/** The value of `configuration/<host>` (SYSTEM.md §3.4). */
export const hostConfigSchema = z.object({
  vf: z.array(vfSchema).min(1),
  mirror: z.array(mirrorSchema).optional(),
});

export type ComponentConfig = z.infer<typeof componentSchema>;
export type VfConfig = z.infer<typeof vfSchema>;
export type MirrorConfig = z.infer<typeof mirrorSchema>;
export type HostConfig = z.infer<typeof hostConfigSchema>;

export interface PortRef {
  kind: 'phy' | 'ring' | 'vhost';
  index: number;
}

export function parsePort(name: string): PortRef | undefined {
  const match = PORT_PATTERN.exec(name);
  if (!match) return undefined;
  return { kind: match[1] as PortRef['kind'], index: Number(match[2]) };
}

export function portName(kind: PortRef['kind'], index: number): string {
  return `${kind}:${index}`;
}
