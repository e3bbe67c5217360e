import { z } from 'zod';
import { macAddressSchema } from '../model/mac.js';
import { hostConfigSchema } from '../layout/schema.js';
import type { HostConfig } from '../layout/schema.js';
import { pythonJsonDumps } from '../layout/pyjson.js';
import { InputError, errorMessage } from '../util/errors.js';
import { describeIssues } from '../util/validation.js';

/** The literal a free vhost or mirror slot holds. */
export const FREE = 'None';

/** bind_port's value; its MAC comes out lower-cased, the project's one normal form. */
export const bindPortSchema = z.object({
  mac_address: macAddressSchema(),
  vhost_id: z.number().int().min(0),
  vlan_id: z.number().int().min(1).max(4094).optional(),
});
export type BindPort = z.infer<typeof bindPortSchema>;

export const actionSchema = z.enum(['plug', 'unplug']);
export type Action = z.infer<typeof actionSchema>;

export const tapInfoSchema = z.object({
  service_port: z.string().min(1),
  source_port: z.string().min(1),
  mirror_in: z.number().int().min(0).nullable(),
  mirror_out: z.number().int().min(0).nullable(),
});
export type TapInfo = z.infer<typeof tapInfoSchema>;

/** The agent's last word on SPP: reachable, or why binds cannot be carried out now. */
export const sppHealthSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('ok') }),
  z.object({ state: z.literal('unreachable'), problem: z.string(), since: z.string() }),
]);
export type SppHealthRecord = z.infer<typeof sppHealthSchema>;

/** Our agent's liveness record under `agent/<host>` (a new key; the original ignores it). */
export const agentRecordSchema = z.object({
  host: z.string(),
  version: z.string(),
  started_at: z.string(),
  pid: z.number().int(),
  physnets: z.record(z.string(), z.object({ vhosts: z.array(z.number().int()) })),
  dialect: z.string().optional(),
  /** Whether the agent reaches SPP (spp-ctl and every spp_vf); absent in older records. */
  spp: sppHealthSchema.optional(),
});
export type AgentRecord = z.infer<typeof agentRecordSchema>;

/** The value our binding service writes under `plug_request/<host>/<port>` (a marker). */
export const PLUG_REQUEST_MARKER = 'networking-spp';

/** Our agent's durable record under `agent_kind/<host>` (not leased; the original ignores it). */
export const agentKindSchema = z.object({
  agent: z.literal('networking-spp'),
  version: z.string(),
});
export type AgentKindRecord = z.infer<typeof agentKindSchema>;

/** The Placement sync leader's record under `placement_leader` (a new key, on a lease). */
export const placementLeaderSchema = z.object({
  id: z.string().min(1),
  hostname: z.string(),
  pid: z.number().int(),
  since: z.string(),
});
export type PlacementLeader = z.infer<typeof placementLeaderSchema>;

/** Decodes a JSON value read from `key`; a bad value is an InputError naming the key. */
export function decodeJson<S extends z.ZodType>(schema: S, raw: string, key: string): z.infer<S> {
  let document: unknown;
  try {
    document = JSON.parse(raw);
  } catch (error) {
    throw new InputError(`${key}: value is not JSON (${errorMessage(error)}): ${truncate(raw)}`);
  }
  const result = schema.safeParse(document);
  if (!result.success) throw new InputError(describeIssues(key, result.error));
  return result.data;
}

export function decodeEnum<S extends z.ZodType>(schema: S, raw: string, key: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) throw new InputError(`${key}: unexpected value ${truncate(raw)}`);
  return result.data;
}

export function decodeHostConfig(raw: string, key: string): HostConfig {
  return decodeJson(hostConfigSchema, raw, key);
}

/** Encodes like the original (Python json.dumps), so either side can read the other's values. */
export function encodeJson(value: unknown): string {
  return pythonJsonDumps(value);
}

function truncate(raw: string): string {
  return raw.length > 80 ? `${JSON.stringify(raw.slice(0, 80))}...` : JSON.stringify(raw);
}
