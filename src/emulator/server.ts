/**
 * The SPP emulator: one host's spp-ctl REST API (SPP-SPEC §2–§4) over an in-memory model of
 * spp_primary, spp_vf and spp_mirror (§5) that also moves frames (§6), plus a few control
 * endpoints under /_emulator for tests (inject a frame, restart a process, inject faults).
 *
 * Deliberate deviations from real SPP (everything else aims to be byte-exact):
 * - No hangs: starting a component on the master lcore, or a second classifier on an lcore
 *   that already runs one (both hang real V18 spp_vf forever), fail with `error occur` —
 *   in both dialects.
 * - Single view (SPP-SPEC §5.7): what status shows is what forwards. The port-count limits
 *   (forward 1 rx/1 tx, merge 1 tx, classifier 1 rx, mirror 1 rx/2 tx) are checked before
 *   anything changes (LATEST semantics) and fail with `error occur`, so V18's hidden
 *   inconsistent states do not exist. Attaching a ring >= spp_primary's ring count, a phy
 *   >= the NIC count, or any index outside the port table fails with `error occur` and does
 *   not wedge the process.
 * - MACs in classifier_table commands must be six colon-separated hex groups or `default`
 *   (spp_vf's own parser silently accepts garbage); 19.11's `phy:0nq1` and pipe/memif/tap
 *   ports pass spp-ctl and are rejected by the secondary with `Invalid value (port)`.
 * - Port table: 32 entries per port type unless the layout needs more (hostSpecFromLayout
 *   raises HostSpec.portTableSize; a spec without it gets max(32, rings, nics)), as if DPDK
 *   had a larger RTE_MAX_ETHPORTS; a warning is logged once at start when above 32.
 * - Data plane: one frame at a time, no ring buffering. A frame on a port is read by the
 *   first ready component (lowest client id, then lowest component slot) that has the port
 *   as rx — e.g. the first process reading a phy gets all of its frames; frames nobody
 *   ready reads are dropped.
 * - spp-ctl limits not reproduced: V18's 500 on status replies >= 4096 bytes, the 1 s
 *   command latency of V18 secondaries, truncation of long primary status lists, 19.11's
 *   /v1/cpu_* and primary forwarding endpoints (404 here), 19.11 listing rings already
 *   created by other processes in a fresh process's `ports`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DEFAULT_PORT_TABLE_SIZE } from '../layout/validate.js';
import { describeIssues } from '../util/validation.js';
import type { Egress } from './model/dataplane.js';
import { PRIMARY_ID, SppHost } from './model/host.js';
import type { Fault, RestResponse } from './rest.js';
import { SppCtl, isEmulatorPath, textResponse } from './rest.js';
import type { HostSpec } from './spec.js';

export type { SppHost } from './model/host.js';

export interface EmulatorOptions {
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** 0 (default) = any free port. */
  port?: number;
  logger?: Logger;
}

/** A rule of the fault hook: the next `remaining` matching /v1 requests get `fault`. */
export interface FaultRule extends Fault {
  remaining: number;
  /** Request path prefix; default every /v1 request. */
  match?: string;
}

const MAX_BODY = 1024 * 1024;
const INJECT_PORT = /^(phy|vhost):(0|[1-9][0-9]{0,8})$/;
const HEX_FRAME = /^(?:[0-9a-fA-F]{2})*$/;
const ETHERNET_HEADER = 14;

const injectSchema = z.object({
  port: z.string({ error: 'port must be a string: "phy:N" or "vhost:N"' }),
  frame: z.string({ error: 'frame must be a hex string' }),
});
const restartSchema = z.object({
  downMs: z.number().int().min(0).max(3_600_000).optional(),
});
const faultSchema = z.object({
  count: z.number().int().min(1),
  status: z.number().int().min(100).max(599).optional(),
  body: z.string().optional(),
  delayMs: z.number().int().min(0).max(600_000).optional(),
  match: z.string().startsWith('/').optional(),
});

function json(value: unknown, status = 200): RestResponse {
  return { status, contentType: 'application/json', body: JSON.stringify(value) };
}

function badRequest(message: string): RestResponse {
  return textResponse(400, message);
}

export class EmulatorServer {
  readonly model: SppHost;
  readonly url: string;
  private readonly sppCtl: SppCtl;
  private readonly faults: FaultRule[] = [];
  private readonly downTimers = new Map<number, NodeJS.Timeout>();
  private readonly aborter = new AbortController();
  private stopped = false;
  /**
   * When set (tests, benchmarks), every /v1 request is appended: method, path and JSON body.
   * Off by default so that a long-running emulator keeps no history.
   */
  recorded: Array<{ method: string; path: string; body?: unknown }> | undefined;

  private constructor(
    readonly spec: HostSpec,
    private readonly server: Server,
    private readonly log: Logger,
    model: SppHost,
    url: string,
  ) {
    this.model = model;
    this.url = url;
    this.sppCtl = new SppCtl(model, this.aborter.signal);
  }

  /** Builds the host's SPP and listens; resolves once the port is open. */
  static async start(spec: HostSpec, options: EmulatorOptions = {}): Promise<EmulatorServer> {
    const log = options.logger ?? pino({ level: 'silent' });
    const model = new SppHost(spec);
    const ready: { emulator?: EmulatorServer } = {};
    const server = createServer({ noDelay: true, keepAliveTimeout: 5000 }, (req, res) => {
      if (ready.emulator) ready.emulator.receive(req, res);
      else res.writeHead(503).end();
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const emulator = new EmulatorServer(spec, server, log, model, url);
    ready.emulator = emulator;
    const tableSize = model.limits.portTableSize;
    if (tableSize > DEFAULT_PORT_TABLE_SIZE) {
      log.warn(
        { portTableSize: tableSize },
        `port table raised to ${tableSize} entries per port type (real SPP has ${DEFAULT_PORT_TABLE_SIZE} unless DPDK is built with a larger RTE_MAX_ETHPORTS)`,
      );
    }
    log.info(
      {
        url,
        dialect: spec.dialect,
        nics: spec.nics,
        rings: spec.rings,
        processes: spec.processes.map((p) => `${p.type}:${p.clientId}@${p.coreMask}`),
      },
      'SPP emulator listening',
    );
    return emulator;
  }

  /** Closes the listener and every connection; pending delayed requests are abandoned. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.aborter.abort();
    for (const timer of this.downTimers.values()) clearTimeout(timer);
    this.downTimers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- programmatic hooks (the same as the /_emulator endpoints) ----------------------

  /** The next `rule.remaining` matching /v1 requests fail or are delayed. */
  addFault(rule: FaultRule): void {
    const fault: FaultRule = { ...rule };
    if (fault.status === undefined && fault.delayMs === undefined) fault.status = 500;
    this.faults.push(fault);
    this.log.info({ fault }, 'fault armed');
  }

  clearFaults(): void {
    this.faults.length = 0;
    this.log.info('faults cleared');
  }

  /** Restarts a process with empty state; with `downMs` it is absent from spp-ctl meanwhile. */
  restartProcess(clientId: number, downMs = 0): void {
    const pending = this.downTimers.get(clientId);
    if (pending) clearTimeout(pending);
    this.downTimers.delete(clientId);
    if (downMs > 0) {
      this.model.restart(clientId, false);
      const timer = setTimeout(() => {
        this.downTimers.delete(clientId);
        this.model.connect(clientId);
        this.log.info({ clientId }, 'process back after restart');
      }, downMs);
      this.downTimers.set(clientId, timer);
    } else this.model.restart(clientId, true);
    this.log.info({ clientId, downMs }, 'process restarted');
  }

  inject(port: string, frame: Buffer): Egress[] {
    const match = INJECT_PORT.exec(port);
    if (!match) throw new Error(`port ${port} must be phy:N or vhost:N`);
    return this.model.inject(match[1] as 'phy' | 'vhost', Number(match[2]), frame);
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        this.write(res, textResponse(413, 'Request to large'));
        return;
      }
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      this.dispatch(req, res, body);
    });
    req.on('error', () => res.destroy());
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const rawPath = query >= 0 ? url.slice(0, query) : url;
    const method = req.method ?? 'GET';
    let result: RestResponse | Promise<RestResponse>;
    try {
      if (isEmulatorPath(rawPath)) result = this.control(method, rawPath, body);
      else {
        if (this.recorded && rawPath.startsWith('/v1')) this.record(method, rawPath, body);
        const fault = rawPath.startsWith('/v1') ? this.takeFault(rawPath) : undefined;
        const contentType = req.headers['content-type'];
        result = this.sppCtl.handle({ method, rawPath, contentType, body }, fault);
      }
    } catch (error) {
      this.log.error({ err: error }, 'emulator request failed');
      result = textResponse(500, 'Internal Server Error');
    }
    if (result instanceof Promise) {
      result.then(
        (response) => this.write(res, response),
        () => this.write(res, textResponse(500, 'Internal Server Error')),
      );
    } else this.write(res, result);
  }

  private record(method: string, path: string, body: Buffer): void {
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
    } catch {
      parsed = body.toString('utf8');
    }
    this.recorded?.push({ method, path, ...(parsed === undefined ? {} : { body: parsed }) });
  }

  private write(res: ServerResponse, response: RestResponse): void {
    if (res.writableEnded || res.destroyed) return;
    const headers: Record<string, string | number> = { ...response.headers };
    if (response.status === 204) {
      res.writeHead(204, headers);
      res.end();
      return;
    }
    headers['Content-Type'] = response.contentType ?? 'text/plain';
    headers['Content-Length'] = Buffer.byteLength(response.body);
    res.writeHead(response.status, headers);
    res.end(response.body);
  }

  private takeFault(rawPath: string): Fault | undefined {
    const rule = this.faults.find((candidate) => rawPath.startsWith(candidate.match ?? '/v1'));
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.faults.splice(this.faults.indexOf(rule), 1);
    const fault: Fault = {};
    if (rule.status !== undefined) fault.status = rule.status;
    if (rule.body !== undefined) fault.body = rule.body;
    if (rule.delayMs !== undefined) fault.delayMs = rule.delayMs;
    return fault;
  }

  // ---- /_emulator -----------------------------------------------------------------------

  private parseControlBody(body: Buffer, what: string, optional: boolean): unknown {
    const text = body.toString('utf8').trim();
    if (text === '') {
      if (optional) return {};
      throw new ControlError(`${what}: a JSON body is required`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ControlError(`${what}: body is not JSON`);
    }
  }

  private validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const result = schema.safeParse(value);
    if (!result.success) throw new ControlError(describeIssues(what, result.error));
    return result.data;
  }

  private control(method: string, rawPath: string, body: Buffer): RestResponse {
    try {
      return this.controlRoute(method.toUpperCase(), rawPath, body);
    } catch (error) {
      if (error instanceof ControlError) return textResponse(error.status, error.message);
      throw error;
    }
  }

  private controlRoute(method: string, path: string, body: Buffer): RestResponse {
    const onlyMethods = (...allowed: string[]) => {
      if (!allowed.includes(method)) {
        throw new ControlError(
          `${method} ${path}: method not allowed (use ${allowed.join(', ')})`,
          405,
        );
      }
    };
    if (path === '/_emulator/health') {
      onlyMethods('GET', 'HEAD');
      return json({ status: 'ok' });
    }
    if (path === '/_emulator/spec') {
      onlyMethods('GET', 'HEAD');
      return json(this.spec);
    }
    if (path === '/_emulator/inject') {
      onlyMethods('POST');
      return this.injectRequest(body);
    }
    if (path === '/_emulator/faults') {
      onlyMethods('GET', 'POST', 'DELETE');
      if (method === 'GET') return json({ faults: this.faults });
      if (method === 'DELETE') {
        this.clearFaults();
        return { status: 204, body: '' };
      }
      const rule = this.validate(
        faultSchema,
        this.parseControlBody(body, 'faults', false),
        'faults',
      );
      const { count, ...fault } = rule;
      this.addFault({ remaining: count, ...fault });
      return { status: 204, body: '' };
    }
    const restart = /^\/_emulator\/processes\/([0-9]{1,3})\/restart$/.exec(path);
    if (restart) {
      onlyMethods('POST');
      const clientId = Number(restart[1]);
      if (!this.model.hasProcess(clientId)) {
        const ids = [PRIMARY_ID, ...this.model.clientIds()].join(', ');
        throw new ControlError(
          `restart: this host has no process with client id ${clientId} (ids: ${ids})`,
          404,
        );
      }
      const { downMs } = this.validate(
        restartSchema,
        this.parseControlBody(body, 'restart', true),
        'restart',
      );
      this.restartProcess(clientId, downMs ?? 0);
      return { status: 204, body: '' };
    }
    throw new ControlError(
      `${path}: no such emulator endpoint (GET /_emulator/health, POST /_emulator/inject, POST /_emulator/processes/{id}/restart, POST|DELETE /_emulator/faults)`,
      404,
    );
  }

  private injectRequest(body: Buffer): RestResponse {
    const request = this.validate(
      injectSchema,
      this.parseControlBody(body, 'inject', false),
      'inject',
    );
    const match = INJECT_PORT.exec(request.port);
    if (!match) {
      return badRequest(
        `inject: port "${request.port}" must be "phy:N" (from the wire) or "vhost:N" (from a VM)`,
      );
    }
    const kind = match[1] as 'phy' | 'vhost';
    const index = Number(match[2]);
    if (kind === 'phy' && index >= this.model.spec.nics) {
      return badRequest(
        `inject: ${request.port} does not exist, this host has ${this.model.spec.nics} NIC(s)`,
      );
    }
    if (kind === 'vhost' && index >= this.model.limits.portTableSize) {
      return badRequest(
        `inject: ${request.port} is outside the port table (vhost:0..${this.model.limits.portTableSize - 1})`,
      );
    }
    if (!HEX_FRAME.test(request.frame)) {
      return badRequest('inject: frame must be an even number of hex digits (no separators)');
    }
    const frame = Buffer.from(request.frame, 'hex');
    if (frame.length < ETHERNET_HEADER) {
      return badRequest(
        `inject: frame has ${frame.length} byte(s); an Ethernet frame needs at least ${ETHERNET_HEADER}`,
      );
    }
    const egress = this.model.inject(kind, index, frame);
    return json({
      egress: egress.map((out) => ({ port: out.port, frame: out.frame.toString('hex') })),
    });
  }
}

class ControlError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
