import { z } from 'zod';
import { FREE } from '../etcd/values.js';
import { macAddressSchema } from '../model/mac.js';

/** Error text for a field of the wrong type: "is required" when absent, else what it must be. */
const expected =
  (what: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? `is required (${what})` : `must be ${what}`;

/** Ids that become part of etcd keys: non-empty, no "/". */
const keyPart = (what: string) =>
  z
    .string({ error: expected(`a string, the ${what}`) })
    .min(1, `must not be empty (the ${what})`)
    .max(255, 'must be at most 255 characters')
    .regex(/^[^/\s]+$/, 'must not contain "/" or white space');

/** Lower-cased here, at the edge: everything behind the API compares normalised MACs. */
const macAddress = macAddressSchema(expected('a MAC address string'));

/** A slot holding `None` is free (SYSTEM.md §3.4): no port may be called that. */
const portId = keyPart('Neutron port id').refine((id) => id !== FREE, {
  message: `must not be "${FREE}" (the value of a free slot)`,
});

export const segmentSchema = z.object(
  {
    id: z.string({ error: expected('a string, the segment id') }).min(1, 'must not be empty'),
    network_type: z.string({ error: expected('a string: flat, vlan, vxlan, ...') }),
    physical_network: z
      .string({ error: expected('a string or null') })
      .nullable()
      .optional(),
    segmentation_id: z
      .number({ error: expected('an integer or null') })
      .int('must be an integer or null')
      .nullable()
      .optional(),
  },
  { error: expected('a segment object {"id", "network_type", ...}') },
);

export const bindBodySchema = z.object({
  port: z.object(
    {
      id: portId,
      mac_address: macAddress,
    },
    { error: expected('an object {"id", "mac_address"}') },
  ),
  host: keyPart('compute host name'),
  segments: z.array(segmentSchema, { error: expected('a list of segments') }),
  agents: z
    .array(z.looseObject({ alive: z.boolean({ error: expected('true or false') }) }), {
      error: expected('a list of agents ({"alive": bool, ...})'),
    })
    .optional(),
  active_host: keyPart("host of the port's active binding").optional(),
});
export type BindBody = z.infer<typeof bindBodySchema>;

/** Activation of a port's binding on `host` (live migration): the old one was on previous_host. */
export const activateBodySchema = bindBodySchema.omit({ active_host: true }).extend({
  previous_host: keyPart('host of the binding that was active before'),
});
export type ActivateBody = z.infer<typeof activateBodySchema>;

export const unbindBodySchema = z.object({
  port_id: portId,
  host: keyPart('compute host name'),
});
export type UnbindBody = z.infer<typeof unbindBodySchema>;

export const syncBodySchema = z.object({
  ports: z.array(
    z.object(
      {
        id: portId,
        host: keyPart('compute host name'),
        mac_address: macAddress,
        segment: segmentSchema,
      },
      { error: expected('a port object {"id", "host", "mac_address", "segment"}') },
    ),
    { error: expected('the list of bound ports') },
  ),
  dry_run: z.boolean({ error: expected('true or false') }).optional(),
});
export type SyncBody = z.infer<typeof syncBodySchema>;

export const hostParamSchema = keyPart('compute host name');

const tapFlowId = keyPart('tap flow id').refine((id) => id !== FREE, {
  message: `must not be "${FREE}" (the value of a free mirror slot)`,
});

export const tapFlowCreateBodySchema = z.object({
  tap_flow: z.object(
    {
      id: tapFlowId,
      source_port: portId,
      direction: z.enum(['IN', 'OUT', 'BOTH'], { error: expected('IN, OUT or BOTH') }),
    },
    { error: expected('an object {"id", "source_port", "direction"}') },
  ),
  tap_service: z.object(
    { port_id: portId },
    { error: expected('an object {"port_id"}: the tap service\'s port') },
  ),
});

export const tapFlowDeleteBodySchema = z.object({ tap_flow_id: tapFlowId });

export const tapServiceCheckBodySchema = z.object({ port_id: portId });

export const tapSyncBodySchema = z.object({
  tap_flows: z.array(z.object({ id: tapFlowId }, { error: expected('an object {"id"}') }), {
    error: expected("the list of Neutron's tap flows"),
  }),
  dry_run: z.boolean({ error: expected('true or false') }).optional(),
});
