import { setTimeout as sleep } from 'node:timers/promises';
import type { Params } from './bottle.js';
import { BottleApp, HttpError, decodePath } from './bottle.js';
import type { SppHost } from './model/host.js';
import type { CommandReply, ProcessType, RestStatus, StatusInfo } from './model/process.js';
import type { PyValue } from './python.js';
import {
  fastPythonJsonDumps,
  netaddrEuiValid,
  parsePythonJson,
  pyContains,
  pyGet,
  pyGetItem,
  pyInt,
  pyIsInt,
  pyPercentD,
  pyStr,
  pyTruthy,
} from './python.js';

/**
 * spp-ctl's REST API (SPP-SPEC §2, §3) in front of an SppHost: the same routes, validation
 * order, status codes, `text/plain` error texts, the KeyInvalid 500s, Python json.dumps
 * bodies, and the exact command strings sent to the secondaries. Commands to one process
 * are serialised (spp-ctl's per-process semaphore).
 */

export interface RestRequest {
  method: string;
  /** The request path as received (percent-encoded), without the query string. */
  rawPath: string;
  /** The Content-Type header exactly as sent, if any. */
  contentType: string | undefined;
  body: Buffer;
}

export interface RestResponse {
  status: number;
  /** Absent for 204. */
  contentType?: 'application/json' | 'text/plain';
  body: string;
  headers?: Record<string, string>;
}

/** A fault injected by the test hook: answer with `status`/`body`, after `delayMs`. */
export interface Fault {
  status?: number;
  body?: string;
  delayMs?: number;
}

export const INTERNAL_ERROR = 'Internal Server Error';

export function textResponse(
  status: number,
  body: string,
  headers?: Record<string, string>,
): RestResponse {
  return { status, contentType: 'text/plain', body, ...(headers ? { headers } : {}) };
}

export function jsonResponse(value: unknown): RestResponse {
  return { status: 200, contentType: 'application/json', body: fastPythonJsonDumps(value) };
}

const NO_CONTENT: RestResponse = { status: 204, body: '' };

/** Runs functions one at a time per key; synchronously when the key is idle. */
export class SerialQueues {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(key: number, work: () => T | Promise<T>): T | Promise<T> {
    const tail = this.tails.get(key);
    if (tail === undefined) {
      const result = work();
      if (result instanceof Promise) this.track(key, result);
      return result;
    }
    const next = tail.then(work, work);
    this.track(key, next);
    return next;
  }

  private track(key: number, promise: Promise<unknown>): void {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
  }
}

interface Call {
  req: RestRequest;
  params: Params;
  /** The parsed body (POST/PUT only). */
  body: PyValue;
}

interface RouteTarget {
  /** The secondary the request is for (serialised per process). */
  clientId?: number;
  run: () => RestResponse;
}

type Handler = (req: RestRequest, params: Params) => RouteTarget;

/** `%d` of a bottle int parameter. */
function idText(params: Params): string {
  return BigInt(params.sec_id as string).toString();
}

function commandError(reply: CommandReply): void {
  if (reply.result === 'error') throw new HttpError(400, `command error: ${reply.message}`);
}

function convertInfo(info: StatusInfo): RestStatus {
  const ports: string[] = [];
  for (const key of ['phy', 'vhost', 'ring'] as const) {
    for (const index of info[key]) ports.push(`${key}:${index}`);
  }
  const status = { 'client-id': info['client-id'], ports } as RestStatus;
  if (info['master-lcore'] !== undefined) status['master-lcore'] = info['master-lcore'];
  status.components = info.core;
  if (info.classifier_table !== undefined) status.classifier_table = info.classifier_table;
  return status;
}

export class SppCtl {
  private readonly root: BottleApp<Handler>;
  readonly queues = new SerialQueues();
  private readonly v18: boolean;

  constructor(
    readonly host: SppHost,
    private readonly signal?: AbortSignal,
  ) {
    this.v18 = host.dialect === '18.08';
    this.root = new BottleApp<Handler>().mount('/v1', this.v1App());
  }

  /** Handles one /v1 request (or any other path: spp-ctl's root 404). */
  handle(req: RestRequest, fault?: Fault): RestResponse | Promise<RestResponse> {
    if (fault && fault.status !== undefined && !fault.delayMs) return this.faultResponse(fault);
    let target: RouteTarget;
    try {
      const path = decodePath(req.rawPath);
      const { handler, params } = this.root.match(req.method, path);
      target = handler(req, params);
    } catch (error) {
      const response = this.errorResponse(error);
      return fault?.delayMs ? this.delayed(fault, () => response) : response;
    }
    const run = () => this.guard(target.run);
    const work = fault?.delayMs ? () => this.delayed(fault, run) : run;
    if (target.clientId === undefined) return work();
    return this.queues.run(target.clientId, work);
  }

  private async delayed(fault: Fault, then: () => RestResponse): Promise<RestResponse> {
    await sleep(fault.delayMs ?? 0, undefined, this.signal ? { signal: this.signal } : {});
    return fault.status !== undefined ? this.faultResponse(fault) : then();
  }

  private faultResponse(fault: Fault): RestResponse {
    const status = fault.status ?? 500;
    return textResponse(status, fault.body ?? (status === 500 ? INTERNAL_ERROR : 'injected fault'));
  }

  private guard(run: () => RestResponse): RestResponse {
    try {
      return run();
    } catch (error) {
      return this.errorResponse(error);
    }
  }

  private errorResponse(error: unknown): RestResponse {
    if (error instanceof HttpError) return textResponse(error.status, error.message, error.headers);
    return textResponse(500, INTERNAL_ERROR);
  }

  // ---- request plumbing -------------------------------------------------------------

  /** spp-ctl's get_body: JSON whatever the content type (§2.4). */
  private parseBody(req: RestRequest): PyValue {
    const exactJson = req.contentType === 'application/json';
    if (exactJson && req.body.length === 0) return null;
    try {
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(req.body);
      return parsePythonJson(text);
    } catch {
      if (this.v18) throw new HttpError(500, INTERNAL_ERROR);
      throw new HttpError(400, 'Not in json format.');
    }
  }

  private command(clientId: number, text: string): CommandReply {
    if (!this.host.process(clientId)) throw new HttpError(500, INTERNAL_ERROR);
    return this.host.command(clientId, text);
  }

  /** check_sec_id, then get_body, then the callback (bottle plugin order). */
  private secondaryRoute(
    type: ProcessType,
    callback: (call: Call, id: number) => unknown,
  ): Handler {
    return (req, params) => {
      const id = Number(params.sec_id);
      const process = Number.isSafeInteger(id) ? this.host.process(id) : undefined;
      if (!process || process.type !== type) {
        throw new HttpError(404, `sec_id ${idText(params)} not found.`);
      }
      return {
        clientId: id,
        run: () => {
          const method = req.method.toUpperCase();
          const body = method === 'POST' || method === 'PUT' ? this.parseBody(req) : null;
          const result = callback({ req, params, body }, id);
          return result === undefined ? NO_CONTENT : jsonResponse(result);
        },
      };
    };
  }

  /** Routes of process types the emulator never runs (nfv, pcap): always `sec_id N not found.` */
  private absentRoute(): Handler {
    return (_req, params) => {
      throw new HttpError(404, `sec_id ${idText(params)} not found.`);
    };
  }

  private plainRoute(callback: (req: RestRequest) => unknown): Handler {
    return (req) => ({
      run: () => {
        const result = callback(req);
        return result === undefined ? NO_CONTENT : jsonResponse(result);
      },
    });
  }

  // ---- apps -------------------------------------------------------------------------

  private v1App(): BottleApp<Handler> {
    const v1 = new BottleApp<Handler>();
    v1.route(
      'GET',
      '/processes',
      this.plainRoute(() => this.host.processTable()),
    );
    v1.mount('/vfs', this.secondaryApp('vf'));
    v1.mount('/mirrors', this.secondaryApp('mirror'));
    v1.mount('/nfvs', this.nfvApp());
    v1.mount('/primary', this.primaryApp());
    if (!this.v18) v1.mount('/pcaps', this.pcapApp());
    return v1;
  }

  private primaryApp(): BottleApp<Handler> {
    const primary = () => {
      if (!this.host.primaryConnected()) throw new HttpError(404, 'primary not found.');
    };
    return new BottleApp<Handler>()
      .route(
        'GET',
        '/status',
        this.plainRoute(() => {
          primary();
          return this.host.primaryStatus();
        }),
      )
      .route(
        'DELETE',
        '/status',
        this.plainRoute(() => {
          primary();
          this.host.counters.clear();
        }),
      )
      .route(
        'DELETE',
        '/',
        this.plainRoute(() => {
          primary();
          this.host.disconnect(0);
        }),
      );
  }

  private nfvApp(): BottleApp<Handler> {
    const absent = this.absentRoute();
    return new BottleApp<Handler>()
      .route('GET', '/<sec_id:int>', absent)
      .route('DELETE', '/<sec_id:int>', absent)
      .route('PUT', '/<sec_id:int>/forward', absent)
      .route('PUT', '/<sec_id:int>/ports', absent)
      .route('PUT', '/<sec_id:int>/patches', absent)
      .route('DELETE', '/<sec_id:int>/patches', absent);
  }

  private pcapApp(): BottleApp<Handler> {
    const absent = this.absentRoute();
    return new BottleApp<Handler>()
      .route('GET', '/<sec_id:int>', absent)
      .route('DELETE', '/<sec_id:int>', absent)
      .route('PUT', '/<sec_id:int>/capture', absent);
  }

  private secondaryApp(type: ProcessType): BottleApp<Handler> {
    const app = new BottleApp<Handler>();
    const route = (callback: (call: Call, id: number) => unknown) =>
      this.secondaryRoute(type, callback);
    app.route(
      'GET',
      '/<sec_id:int>',
      route((_call, id) => {
        const reply = this.command(id, 'status');
        commandError(reply);
        if (reply.result !== 'success' || !reply.info) throw new HttpError(500, INTERNAL_ERROR);
        return convertInfo(reply.info);
      }),
    );
    if (!this.v18) {
      app.route(
        'DELETE',
        '/<sec_id:int>',
        route((_call, id) => {
          // spp-ctl drops the entry, then sends `exit`; 19.11 replies before terminating.
          commandError(this.command(id, 'exit'));
        }),
      );
    }
    app.route(
      'POST',
      '/<sec_id:int>/components',
      route((call, id) => this.componentStart(call, id, type)),
    );
    app.route(
      'DELETE',
      '/<sec_id:int>/components/<name>',
      route((call, id) => {
        commandError(this.command(id, `component stop ${call.params.name as string}`));
      }),
    );
    app.route(
      'PUT',
      '/<sec_id:int>/components/<name>/ports',
      route((call, id) => this.componentPort(call, id, type)),
    );
    if (type === 'vf') {
      app.route(
        'PUT',
        '/<sec_id:int>/classifier_table',
        route((call, id) => this.classifierTable(call, id)),
      );
    }
    return app;
  }

  // ---- validation and commands (§3.3, §3.4) -------------------------------------------

  private requireKeys(body: PyValue, keys: string[]): void {
    for (const key of keys) {
      if (!pyContains(body, key)) throw new HttpError(400, `key(${key}) required.`);
    }
  }

  /** What spp-ctl's KeyInvalid turns into (its constructor is broken, §2.3). */
  private invalid(): never {
    throw new HttpError(500, INTERNAL_ERROR);
  }

  private validatePort(port: PyValue): void {
    if (typeof port !== 'string') this.invalid();
    const parts = port.split(':');
    if (parts.length !== 2) this.invalid();
    const [ifType, ifNum] = parts as [string, string];
    const types = this.v18
      ? ['phy', 'vhost', 'ring', 'pcap', 'nullpmd']
      : ['phy', 'vhost', 'ring', 'pcap', 'nullpmd', 'tap', 'memif', 'pipe'];
    if (!types.includes(ifType)) this.invalid();
    try {
      if (!this.v18 && ifType === 'phy' && ifNum.includes('nq')) {
        const pieces = ifNum.split('nq');
        if (pieces.length !== 2) this.invalid();
        pyInt(pieces[0] as string);
        pyInt(pieces[1] as string);
      } else pyInt(ifNum);
    } catch {
      this.invalid();
    }
  }

  private componentStart(call: Call, id: number, type: ProcessType): void {
    const { body } = call;
    this.requireKeys(body, ['name', 'core', 'type']);
    const name = pyGetItem(body, 'name');
    const core = pyGetItem(body, 'core');
    const kind = pyGetItem(body, 'type');
    const types =
      type === 'mirror'
        ? ['mirror']
        : ['forward', 'merge', this.v18 ? 'classifier_mac' : 'classifier'];
    if (typeof name !== 'string') this.invalid();
    if (!pyIsInt(core)) this.invalid();
    if (typeof kind !== 'string' || !types.includes(kind)) this.invalid();
    commandError(this.command(id, `component start ${name} ${pyStr(core)} ${kind}`));
  }

  private componentPort(call: Call, id: number, type: ProcessType): void {
    const { body, params } = call;
    const name = params.name as string;
    this.requireKeys(body, ['action', 'port', 'dir']);
    const action = pyGetItem(body, 'action');
    const dir = pyGetItem(body, 'dir');
    const port = pyGetItem(body, 'port');
    if (action !== 'attach' && action !== 'detach') this.invalid();
    if (dir !== 'rx' && dir !== 'tx') this.invalid();
    this.validatePort(port);
    const portText = port as string;
    if (action === 'detach') {
      commandError(this.command(id, `port del ${portText} ${dir} ${name}`));
      return;
    }
    let suffix = '';
    if (type === 'vf') {
      const vlan = pyGet(body, 'vlan');
      if (pyTruthy(vlan)) {
        let operation: PyValue;
        try {
          operation = pyGetItem(vlan, 'operation');
          if (operation !== 'none' && operation !== 'add' && operation !== 'del') this.invalid();
          if (operation === 'add') {
            pyInt(pyGetItem(vlan, 'id'));
            pyInt(pyGetItem(vlan, 'pcp'));
          }
        } catch {
          this.invalid();
        }
        if (operation === 'add') {
          suffix = ` add_vlantag ${pyPercentD(pyGetItem(vlan, 'id'))} ${pyPercentD(pyGetItem(vlan, 'pcp'))}`;
        } else if (operation === 'del') suffix = ' del_vlantag';
      }
    }
    commandError(this.command(id, `port add ${portText} ${dir} ${name}${suffix}`));
  }

  private classifierTable(call: Call, id: number): void {
    const { body } = call;
    this.requireKeys(body, ['action', 'type', 'port', 'mac_address']);
    const action = pyGetItem(body, 'action');
    const type = pyGetItem(body, 'type');
    if (action !== 'add' && action !== 'del') this.invalid();
    if (type !== 'mac' && type !== 'vlan') this.invalid();
    const port = pyGetItem(body, 'port');
    this.validatePort(port);
    const mac = pyGetItem(body, 'mac_address');
    if (this.v18 || mac !== 'default') {
      if (!netaddrEuiValid(mac)) this.invalid();
    }
    let vlan: PyValue = null;
    if (type === 'vlan') {
      try {
        vlan = pyGetItem(body, 'vlan');
        pyInt(vlan);
      } catch {
        this.invalid();
      }
    }
    const target = type === 'vlan' ? `vlan ${pyStr(vlan)}` : 'mac';
    commandError(
      this.command(
        id,
        `classifier_table ${action} ${target} ${pyStr(mac)} ${pyStr(port as string)}`,
      ),
    );
  }
}

/** Whether a path is spp-ctl's (the emulator's own endpoints live under /_emulator). */
export function isEmulatorPath(rawPath: string): boolean {
  return rawPath === '/_emulator' || rawPath.startsWith('/_emulator/');
}
