import { z } from 'zod';
import { normalizeMac } from '../model/mac.js';

const vlanSchema = z.object({
  operation: z.enum(['none', 'add', 'del']),
  id: z.number().int(),
  pcp: z.number().int(),
});

const portSchema = z.object({ port: z.string(), vlan: vlanSchema.optional() });

export const componentStatusSchema = z.object({
  core: z.number().int(),
  type: z.string(),
  name: z.string().optional(),
  rx_port: z.array(portSchema).optional(),
  tx_port: z.array(portSchema).optional(),
});

export const classifierEntrySchema = z.object({
  type: z.string(),
  value: z.string(),
  port: z.string(),
});

/** GET /v1/vfs/{id} and /v1/mirrors/{id} (SPP-SPEC §4.2). */
export const processStatusSchema = z.object({
  'client-id': z.number().int(),
  ports: z.array(z.string()),
  'master-lcore': z.number().int().optional(),
  components: z.array(componentStatusSchema),
  classifier_table: z.array(classifierEntrySchema).optional(),
});

export const processListSchema = z.array(
  z.object({ type: z.string(), 'client-id': z.number().int().optional() }),
);

export type VlanOp = z.infer<typeof vlanSchema>;
export type ComponentStatus = z.infer<typeof componentStatusSchema>;
export type ClassifierEntry = z.infer<typeof classifierEntrySchema>;
export type ProcessStatus = z.infer<typeof processStatusSchema>;
export type ProcessList = z.infer<typeof processListSchema>;

/** The VLAN operation SPP applies to a (port, direction); what the agent asks for. */
export type PortVlan =
  { operation: 'none' } | { operation: 'del' } | { operation: 'add'; id: number };

export function sameVlan(actual: VlanOp | undefined, wanted: PortVlan): boolean {
  const operation = actual?.operation ?? 'none';
  if (operation !== wanted.operation) return false;
  return wanted.operation !== 'add' || (actual?.id === wanted.id && actual?.pcp === 0);
}

/** A classification the classifier holds for a port: untagged (`mac`) or on a VLAN. */
export interface Classification {
  mac: string;
  vlanId?: number;
}

/** Parses a classifier_table entry's value (`FA:16:3E:..` or `100/FA:16:3E:..`). */
export function parseClassifierEntry(entry: ClassifierEntry): Classification | undefined {
  if (entry.type === 'mac') {
    const mac = normalizeMac(entry.value);
    return mac === undefined ? undefined : { mac };
  }
  if (entry.type === 'vlan') {
    const [vid, raw] = entry.value.split('/');
    const mac = raw === undefined ? undefined : normalizeMac(raw);
    if (vid !== undefined && mac !== undefined && /^[0-9]+$/.test(vid))
      return { mac, vlanId: Number(vid) };
  }
  return undefined;
}
