import { Agent, request } from 'node:http';
import type { z } from 'zod';
import { errorMessage } from '../util/errors.js';
import { describeIssues } from '../util/validation.js';
import type { PortVlan, ProcessList, ProcessStatus } from './status.js';
import { processListSchema, processStatusSchema } from './status.js';

export type ProcessKind = 'vfs' | 'mirrors';

/** spp-ctl answered with an error status, or could not be reached in time. */
export class SppCtlError extends Error {
  override readonly name = 'SppCtlError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: string,
  ) {
    super(message);
  }
}

export interface SppCtlOptions {
  baseUrl: string;
  /** Deadline of every request, in milliseconds. */
  timeoutMs: number;
}

export interface ClassifierChange {
  action: 'add' | 'del';
  mac: string;
  port: string;
  vlanId?: number;
}

/** Client of spp-ctl's REST API (SPP-SPEC §3), the calls the agent makes (§9.1). */
export class SppCtlClient {
  // node:http rather than undici: the agent's start-up time is a target, and undici's
  // module graph alone costs a third of it; keep-alive and exact deadlines are all we need.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4, keepAliveMsecs: 30_000 });

  private readonly target: { hostname: string; port: number };

  constructor(readonly options: SppCtlOptions) {
    const url = new URL(options.baseUrl);
    this.target = {
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    };
  }

  async processes(): Promise<ProcessList> {
    return this.getJson('/v1/processes', processListSchema);
  }

  async status(kind: ProcessKind, id: number): Promise<ProcessStatus> {
    return this.getJson(`/v1/${kind}/${id}`, processStatusSchema);
  }

  async startComponent(
    kind: ProcessKind,
    id: number,
    component: { name: string; core: number; type: string },
  ): Promise<void> {
    await this.send('POST', `/v1/${kind}/${id}/components`, component);
  }

  async attach(
    kind: ProcessKind,
    id: number,
    component: string,
    port: string,
    dir: 'rx' | 'tx',
    vlan: PortVlan = { operation: 'none' },
  ): Promise<void> {
    const body: Record<string, unknown> = { action: 'attach', port, dir };
    if (vlan.operation === 'add') body.vlan = { operation: 'add', id: vlan.id, pcp: 0 };
    if (vlan.operation === 'del') body.vlan = { operation: 'del' };
    await this.send(
      'PUT',
      `/v1/${kind}/${id}/components/${encodeURIComponent(component)}/ports`,
      body,
    );
  }

  async detach(
    kind: ProcessKind,
    id: number,
    component: string,
    port: string,
    dir: 'rx' | 'tx',
  ): Promise<void> {
    await this.send('PUT', `/v1/${kind}/${id}/components/${encodeURIComponent(component)}/ports`, {
      action: 'detach',
      port,
      dir,
    });
  }

  async classifierTable(id: number, change: ClassifierChange): Promise<void> {
    const body: Record<string, unknown> = {
      action: change.action,
      type: change.vlanId === undefined ? 'mac' : 'vlan',
      mac_address: change.mac,
      port: change.port,
    };
    if (change.vlanId !== undefined) body.vlan = change.vlanId;
    await this.send('PUT', `/v1/vfs/${id}/classifier_table`, body);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private async getJson<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
    const text = await this.send('GET', path);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw new SppCtlError(`GET ${path}: spp-ctl answered with invalid JSON`, 200, text);
    }
    const result = schema.safeParse(document);
    if (!result.success) {
      throw new SppCtlError(
        `GET ${path}: unexpected answer: ${describeIssues('', result.error)}`,
        200,
        text,
      );
    }
    return result.data;
  }

  private async send(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<string> {
    let response: { statusCode: number; text: string };
    try {
      response = await this.exchange(method, path, body);
    } catch (error) {
      throw new SppCtlError(`${method} ${path}: ${errorMessage(error)}`, undefined, '');
    }
    const { text } = response;
    if (response.statusCode >= 400) {
      throw new SppCtlError(
        `${method} ${path}: ${response.statusCode} ${text}`,
        response.statusCode,
        text,
      );
    }
    return text;
  }

  /**
   * One HTTP exchange with a deadline covering connect, answer and body. A plain timer (not
   * an AbortSignal.timeout, whose timer outlives the request) and the target parsed once.
   */
  private exchange(
    method: string,
    path: string,
    body: unknown,
  ): Promise<{ statusCode: number; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({
        ...this.target,
        path,
        method,
        agent: this.agent,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms (timed out)`)),
        this.options.timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            statusCode: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end(payload);
    });
  }
}
