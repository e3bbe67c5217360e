import { z } from 'zod';
import {
  FREE,
  actionSchema,
  agentKindSchema,
  agentRecordSchema,
  bindPortSchema,
  tapInfoSchema,
} from '../etcd/values.js';
import { hostConfigSchema } from '../layout/schema.js';
import type { HostConfig } from '../layout/schema.js';
import { describeIssues } from '../util/validation.js';
import type { Decoded, Holder, Stored } from './model.js';

/** Ids that may hold a slot: what a Neutron port or tap flow id can be in a key. */
const HOLDER_ID = /^[^/\s]+$/;

const upSchema = z.literal('up');

function truncate(raw: string): string {
  return raw.length > 80 ? `${JSON.stringify(raw.slice(0, 80))}...` : JSON.stringify(raw);
}

/** Decodes a JSON value with `schema`; problems name the key and the field. */
export function decodeJsonValue<S extends z.ZodType>(
  schema: S,
  stored: Stored,
): Decoded<z.infer<S>> {
  let document: unknown;
  try {
    document = JSON.parse(stored.raw);
  } catch {
    return {
      ...stored,
      ok: false,
      problem: `${stored.key}: value is not JSON: ${truncate(stored.raw)}`,
    };
  }
  const result = schema.safeParse(document);
  if (result.success) return { ...stored, ok: true, value: result.data as z.infer<S> };
  return { ...stored, ok: false, problem: describeIssues(stored.key, result.error) };
}

/** Decodes a plain-text value with `schema` (an enum or literal). */
export function decodeTextValue<S extends z.ZodType>(
  schema: S,
  stored: Stored,
): Decoded<z.infer<S>> {
  const result = schema.safeParse(stored.raw);
  if (result.success) return { ...stored, ok: true, value: result.data as z.infer<S> };
  return {
    ...stored,
    ok: false,
    problem: `${stored.key}: unexpected value ${truncate(stored.raw)}`,
  };
}

/** A slot's value: `None`, or the id holding it; anything else is never read as free. */
export function decodeHolder(stored: Stored): Holder {
  if (stored.raw === FREE) return { free: true };
  if (HOLDER_ID.test(stored.raw) && stored.raw.length <= 255)
    return { free: false, id: stored.raw };
  return {
    free: false,
    problem: `${stored.key}: holds ${truncate(stored.raw)}, which is neither "None" nor a port or tap flow id`,
  };
}

/**
 * Host configurations are large and change rarely while watch events repeat them (a
 * relist, a restarted watch): decode each distinct value once.
 */
const configMemo = new Map<string, Decoded<HostConfig>>();
const CONFIG_MEMO_LIMIT = 256;

export function decodeConfiguration(stored: Stored): Decoded<HostConfig> {
  const memoKey = `${stored.key}\u0000${stored.raw}`;
  const known = configMemo.get(memoKey);
  if (known) return { ...known, modRevision: stored.modRevision };
  const decoded = decodeJsonValue(hostConfigSchema, stored);
  if (configMemo.size >= CONFIG_MEMO_LIMIT) configMemo.clear();
  configMemo.set(memoKey, decoded);
  return decoded;
}

export const decoders = {
  agent: (stored: Stored) => decodeJsonValue(agentRecordSchema, stored),
  agentKind: (stored: Stored) => decodeJsonValue(agentKindSchema, stored),
  bindPort: (stored: Stored) => decodeJsonValue(bindPortSchema, stored),
  action: (stored: Stored) => decodeTextValue(actionSchema, stored),
  status: (stored: Stored) => decodeTextValue(upSchema, stored),
  tapInfo: (stored: Stored) => decodeJsonValue(tapInfoSchema, stored),
};
