import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execute } from '../../src/agent/reconcile-vf.js';
import type { SppCall } from '../../src/agent/plan.js';
import { SppHost } from '../../src/emulator/model/host.js';
import type { RestRequest, RestResponse } from '../../src/emulator/rest.js';
import { SppCtl } from '../../src/emulator/rest.js';
import type { Dialect } from '../../src/emulator/spec.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import type { HostConfig } from '../../src/layout/schema.js';
import type { ProcessKind, SppCtlClient } from '../../src/spp/client.js';
import type { ProcessStatus } from '../../src/spp/status.js';
import { processStatusSchema } from '../../src/spp/status.js';

/**
 * The emulator's pure model (SppHost behind its spp-ctl REST layer, no network) as the
 * actual SPP of planner tests, plus the REST request each SppCall becomes, written from
 * SPP-SPEC §3.3 / §9.1. `sendCalls` + `CapturingSppCtl` check that request shape against
 * what the agent's real SppCtlClient puts on the wire.
 */

export interface SentRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: unknown;
}

/** The spp-ctl request for one SppCall (SPP-SPEC §9.1: body keys, `pcp: 0`, no `none` op sent). */
export function requestFor(kind: ProcessKind, clientId: number, call: SppCall): SentRequest {
  const base = `/v1/${kind}/${clientId}`;
  switch (call.op) {
    case 'start':
      return {
        method: 'POST',
        path: `${base}/components`,
        body: { name: call.name, core: call.core, type: call.type },
      };
    case 'attach': {
      const body: Record<string, unknown> = { action: 'attach', port: call.port, dir: call.dir };
      if (call.vlan.operation === 'add') body.vlan = { operation: 'add', id: call.vlan.id, pcp: 0 };
      if (call.vlan.operation === 'del') body.vlan = { operation: 'del' };
      return { method: 'PUT', path: `${base}/components/${call.component}/ports`, body };
    }
    case 'detach':
      return {
        method: 'PUT',
        path: `${base}/components/${call.component}/ports`,
        body: { action: 'detach', port: call.port, dir: call.dir },
      };
    case 'classify': {
      const { change } = call;
      const body: Record<string, unknown> = {
        action: change.action,
        type: change.vlanId === undefined ? 'mac' : 'vlan',
        mac_address: change.mac,
        port: change.port,
      };
      if (change.vlanId !== undefined) body.vlan = change.vlanId;
      return { method: 'PUT', path: `/v1/vfs/${clientId}/classifier_table`, body };
    }
  }
}

/** Sends calls through the agent's client, one at a time, as the agent's executor does. */
export async function sendCalls(
  client: SppCtlClient,
  kind: ProcessKind,
  clientId: number,
  calls: SppCall[],
): Promise<void> {
  await execute(client, kind, clientId, calls);
}

export type ApplyResult =
  { ok: true } | { ok: false; request: SentRequest; status: number; body: string };

/** One host's SPP as the emulator models it, driven synchronously through spp-ctl's REST layer. */
export class ModelSpp {
  readonly host: SppHost;
  readonly ctl: SppCtl;
  /** Every request handled, in order. */
  readonly log: SentRequest[] = [];

  constructor(config: HostConfig, dialect: Dialect) {
    this.host = new SppHost(hostSpecFromLayout(config, { dialect }));
    this.ctl = new SppCtl(this.host);
  }

  handle(request: SentRequest): RestResponse {
    this.log.push(request);
    const rest: RestRequest = {
      method: request.method,
      rawPath: request.path,
      contentType: request.body === undefined ? undefined : 'application/json',
      body: Buffer.from(request.body === undefined ? '' : JSON.stringify(request.body)),
    };
    const response = this.ctl.handle(rest);
    assert.ok(!(response instanceof Promise), 'the model answers synchronously');
    return response;
  }

  /** Applies calls in order; stops at the first error answer (as the agent's executor does). */
  apply(kind: ProcessKind, clientId: number, calls: SppCall[]): ApplyResult {
    for (const call of calls) {
      const request = requestFor(kind, clientId, call);
      const response = this.handle(request);
      if (response.status >= 400)
        return { ok: false, request, status: response.status, body: response.body };
    }
    return { ok: true };
  }

  /** Applies calls that must all succeed. */
  mustApply(kind: ProcessKind, clientId: number, calls: SppCall[]): void {
    const result = this.apply(kind, clientId, calls);
    if (!result.ok) {
      const { request, status, body } = result;
      assert.fail(
        `${request.method} ${request.path} ${JSON.stringify(request.body)}: ${status} ${body}`,
      );
    }
  }

  status(kind: ProcessKind, clientId: number): ProcessStatus {
    const response = this.handle({ method: 'GET', path: `/v1/${kind}/${clientId}` });
    assert.equal(response.status, 200, `GET /v1/${kind}/${clientId}: ${response.body}`);
    return processStatusSchema.parse(JSON.parse(response.body));
  }
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A loopback spp-ctl in front of a ModelSpp that records what arrives (method, path, JSON
 * body), for checking the agent's client against `requestFor` and SPP-SPEC §9.1.
 */
export class CapturingSppCtl {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly received: SentRequest[],
  ) {}

  static async start(model: ModelSpp): Promise<CapturingSppCtl> {
    const received: SentRequest[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const request: SentRequest = {
          method: req.method as SentRequest['method'],
          path: req.url ?? '',
          ...(text === '' ? {} : { body: jsonOrText(text) }),
        };
        received.push(request);
        const answer = model.handle(request);
        res.writeHead(
          answer.status,
          answer.contentType ? { 'content-type': answer.contentType } : {},
        );
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new CapturingSppCtl(server, `http://127.0.0.1:${port}`, received);
  }

  /** The requests that changed something (GETs left out). */
  changes(): SentRequest[] {
    return this.received.filter((request) => request.method !== 'GET');
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
