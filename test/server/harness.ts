import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import type { EtcdServer } from '../../src/lab/etcd-server.js';
import type { BindServiceOptions as BinderOptions } from '../../src/server/bind/service.js';
import type { RunningServer } from '../../src/server/index.js';
import { startServer } from '../../src/server/index.js';
import type { ServerOptions } from '../../src/server/options.js';

export const TOKEN = 'test-token';

export interface TestServer extends RunningServer {
  /** Log lines (parsed JSON) written so far. */
  logs: Array<Record<string, unknown>>;
  post(path: string, body: unknown, token?: string | null): Promise<HttpAnswer>;
  get(path: string): Promise<HttpAnswer>;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** A binding service on a free loopback port against `etcd` (one member or several), quiet, token TOKEN. */
export async function startTestServer(
  etcd: Pick<EtcdServer, 'endpoint'> | { endpoints: string[] },
  overrides: Partial<ServerOptions> = {},
  binderOverrides: Partial<BinderOptions> = {},
): Promise<TestServer> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const options: ServerOptions = {
    listenAddress: '127.0.0.1',
    listenPort: 0,
    authToken: TOKEN,
    authDisabled: false,
    bindTimeoutMs: 3000,
    syncGraceMs: 0,
    requireEtcdAgent: 'true',
    shutdownGraceMs: 5000,
    etcd: {
      ...DEFAULT_ETCD_SETTINGS,
      endpoints: 'endpoints' in etcd ? etcd.endpoints : [etcd.endpoint],
    },
    ...overrides,
  };
  const server = await startServer(options, {
    logger: pino({ level: 'info' }, sink),
    binder: binderOverrides,
    defaultMetrics: false,
  });
  const call = async (method: string, path: string, body?: unknown, token?: string | null) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const bearer = token === undefined ? TOKEN : token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: response.status, body: parsed, text };
  };
  return {
    ...server,
    logs,
    post: (path, body, token) => call('POST', path, body, token),
    get: (path) => call('GET', path),
  };
}

let portCounter = 0;

/** A fresh Neutron-like port id and MAC. */
export function newPort(): { id: string; mac: string } {
  portCounter++;
  const hex = portCounter.toString(16).padStart(6, '0');
  return {
    id: `5e1a0000-0000-4000-8000-${hex.padStart(12, '0')}`,
    mac: `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`,
  };
}

export function flatSegment(physnet = 'phys1', id = 'seg-flat') {
  return { id, network_type: 'flat', physical_network: physnet, segmentation_id: null };
}

export function vlanSegment(vlanId: number, physnet = 'phys1', id = 'seg-vlan') {
  return { id, network_type: 'vlan', physical_network: physnet, segmentation_id: vlanId };
}

export function bindBody(
  port: { id: string; mac: string },
  host: string,
  segments: unknown[] = [flatSegment()],
  extra: Record<string, unknown> = {},
) {
  return { port: { id: port.id, mac_address: port.mac }, host, segments, ...extra };
}
