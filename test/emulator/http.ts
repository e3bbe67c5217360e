import assert from 'node:assert/strict';
import { Agent, request } from 'undici';

/** What a test sees of one HTTP answer: status, media type (no parameters) and body text. */
export interface Reply {
  status: number;
  /** Content-Type without parameters, or undefined when the header is absent. */
  type: string | undefined;
  text: string;
}

export interface CallOptions {
  /** Sent as `requests` does with `json=`: JSON text with `Content-Type: application/json`. */
  json?: unknown;
  /** A raw body, sent with `contentType` (or no Content-Type at all). */
  raw?: string;
  contentType?: string;
  dispatcher?: Agent;
}

/** One keep-alive connection pool per test file; close it in `after`. */
export function keepAlive(): Agent {
  return new Agent({ keepAliveTimeout: 10_000, connections: 4 });
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  } else if (options.raw !== undefined) {
    body = options.raw;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  }
  const response = await request(`${base}${path}`, {
    method: method as 'GET',
    headers,
    ...(body !== undefined ? { body } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  const text = await response.body.text();
  const header = response.headers['content-type'];
  const raw = Array.isArray(header) ? header[0] : header;
  const type = raw === undefined ? undefined : (raw.split(';')[0] as string).trim();
  return { status: response.statusCode, type, text };
}

/** An spp-ctl error answer: the status and a `text/plain` body that is exactly `text`. */
export function expectError(reply: Reply, status: number, text: string, what = ''): void {
  assert.deepEqual(
    { status: reply.status, type: reply.type, text: reply.text },
    { status, type: 'text/plain', text },
    what,
  );
}

/** A success without body: 204, no Content-Type, empty body. */
export function expectNoContent(reply: Reply, what = ''): void {
  assert.deepEqual(
    { status: reply.status, type: reply.type, text: reply.text },
    { status: 204, type: undefined, text: '' },
    `${what} (body: ${reply.text})`,
  );
}

/** A success with body: 200 `application/json`; returns the parsed body. */
export function expectJson<T>(reply: Reply, what = ''): T {
  assert.equal(reply.status, 200, `${what}: status (body: ${reply.text})`);
  assert.equal(reply.type, 'application/json', `${what}: content type`);
  return JSON.parse(reply.text) as T;
}

/** The REST object of GET /v1/vfs|mirrors/{id} (SPP-SPEC §4.2), as tests read it. */
export interface VlanView {
  operation: string;
  id: number;
  pcp: number;
}
export interface PortView {
  port: string;
  vlan: VlanView;
}
export interface ComponentView {
  core: number;
  type: string;
  name?: string;
  rx_port?: PortView[];
  tx_port?: PortView[];
}
export interface StatusView {
  'client-id': number;
  ports: string[];
  'master-lcore'?: number;
  components: ComponentView[];
  classifier_table?: Array<{ type: string; value: string; port: string }>;
}

export const NO_VLAN: VlanView = { operation: 'none', id: 0, pcp: 0 };

/** `{"port": p, "vlan": {...}}` with the given op (none by default). */
export function portView(port: string, vlan: VlanView = NO_VLAN): PortView {
  return { port, vlan };
}

export function componentNamed(status: StatusView, name: string): ComponentView {
  const found = status.components.find((component) => component.name === name);
  assert.ok(found, `component ${name} in ${JSON.stringify(status.components)}`);
  return found;
}
