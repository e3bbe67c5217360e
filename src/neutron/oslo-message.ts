import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * oslo.messaging's RabbitMQ wire format (message envelope version 2.0), as far as an agent
 * needs it to make RPC calls and casts to neutron-server. Pure: no I/O.
 */

export const OSLO_ENVELOPE_VERSION = '2.0';
/** Neutron's control exchange (`[DEFAULT] control_exchange`). */
export const NEUTRON_EXCHANGE = 'neutron';
/** Topic of neutron-server's state-report consumer (`topics.REPORTS`). */
export const REPORTS_TOPIC = 'q-reports-plugin';
/** Topic of ML2's agent RPC (`topics.PLUGIN`): update_device_up/down and friends. */
export const PLUGIN_TOPIC = 'q-plugin';

/** Properties oslo's rabbit driver puts on every message; calls add `expiration`. */
export interface PublishProperties {
  contentType: 'application/json';
  contentEncoding: 'utf-8';
  deliveryMode: 2;
  priority: 0;
  expiration?: string;
}

export interface OutgoingMessage {
  body: Buffer;
  properties: PublishProperties;
  /** Set on calls: the reply carries it back. */
  msgId?: string;
}

export interface RpcRequest {
  method: string;
  /** RPC API version the server must support, e.g. `1.2` for report_state. */
  version: string;
  args: Record<string, unknown>;
  /** Set for a call: the reply queue and how long the caller waits (ms). */
  call?: { replyQueue: string; timeoutMs: number };
}

/** 32 lower-case hex digits, as oslo's `uuid.uuid4().hex`. */
export function uniqueId(): string {
  return randomUUID().replace(/-/g, '');
}

/** Python's `datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%S.%f')`: UTC, 6 fraction digits, no zone. */
export function osloTime(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000`;
}

/** Envelope of one RPC request; `_unique_id` is fresh each time (oslo drops duplicates). */
export function buildRpcMessage(request: RpcRequest): OutgoingMessage {
  const inner: Record<string, unknown> = {
    method: request.method,
    version: request.version,
    args: request.args,
    _unique_id: uniqueId(),
  };
  const properties: PublishProperties = {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryMode: 2,
    priority: 0,
  };
  let msgId: string | undefined;
  if (request.call) {
    msgId = uniqueId();
    inner._msg_id = msgId;
    inner._reply_q = request.call.replyQueue;
    inner._timeout = null;
    properties.expiration = String(Math.max(1, Math.round(request.call.timeoutMs)));
  }
  const body = Buffer.from(
    JSON.stringify({
      'oslo.version': OSLO_ENVELOPE_VERSION,
      'oslo.message': JSON.stringify(inner),
    }),
    'utf8',
  );
  return { body, properties, ...(msgId ? { msgId } : {}) };
}

/** A reply queue name in oslo's style. */
export function replyQueueName(): string {
  return `reply_${uniqueId()}`;
}

const envelopeSchema = z.object({
  'oslo.version': z.string(),
  'oslo.message': z.string(),
});
const replySchema = z.object({
  _msg_id: z.string(),
  result: z.unknown().optional(),
  failure: z.string().nullable().optional(),
  ending: z.boolean().optional(),
});

export interface RpcReply {
  msgId: string;
  result: unknown;
  /** oslo's serialized remote exception (JSON text) when the call failed on the server. */
  failure: string | null;
  /** oslo may send the result and the end marker separately; the call completes on `ending`. */
  ending: boolean;
}

/** Decodes a reply from neutron-server; undefined for anything that is not one. */
export function parseReply(content: Buffer): RpcReply | undefined {
  try {
    const outer = envelopeSchema.safeParse(JSON.parse(content.toString('utf8')));
    if (!outer.success) return undefined;
    const inner = replySchema.safeParse(JSON.parse(outer.data['oslo.message']));
    if (!inner.success) return undefined;
    return {
      msgId: inner.data._msg_id,
      result: inner.data.result ?? null,
      failure: inner.data.failure ?? null,
      ending: inner.data.ending ?? false,
    };
  } catch {
    return undefined;
  }
}

/** The class and message of an oslo failure, e.g. `RemoteError: ...`, for logs. */
export function describeFailure(failure: string): string {
  try {
    const parsed = z
      .object({ class: z.string().optional(), message: z.string().optional() })
      .safeParse(JSON.parse(failure));
    if (parsed.success) return `${parsed.data.class ?? 'error'}: ${parsed.data.message ?? ''}`;
  } catch {
    // not JSON: fall through
  }
  return failure.slice(0, 500);
}
