import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import { classifyEtcdFailure } from '../etcd/failure.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { HostSummary } from '../hosts/summary.js';
import { InputError, errorMessage } from '../util/errors.js';
import { formatPath } from '../util/validation.js';
import type { ActivateOutcome, BindOutcome, BindRequest } from './bind/types.js';
import {
  activateBodySchema,
  bindBodySchema,
  hostParamSchema,
  syncBodySchema,
  tapFlowCreateBodySchema,
  tapFlowDeleteBodySchema,
  tapServiceCheckBodySchema,
  tapSyncBodySchema,
  unbindBodySchema,
} from './schemas.js';
import type { TapService } from './taps/service.js';
import type { SyncReport } from './sync/execute.js';
import type { SyncPort } from './sync/plan.js';
import type { UnbindOutcome } from './unbind.js';

export interface HttpOptions {
  /** Bearer token for /v1/ml2/*; undefined disables authentication. */
  authToken?: string;
  /** Largest accepted body (a full sync lists every bound port). */
  bodyLimit?: number;
}

class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest(400, 'invalid_request', 'the request body must be a JSON object');
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    const detail = result.error.issues
      .map((issue) => `${formatPath(issue.path) || 'body'}: ${issue.message}`)
      .join('; ');
    throw new BadRequest(400, 'invalid_request', detail);
  }
  return result.data;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** What the HTTP layer serves; each route is given exactly this, nothing reached through it. */
export interface ServiceApi {
  bind(request: BindRequest): Promise<BindOutcome>;
  unbind(portId: string, host: string): Promise<UnbindOutcome>;
  /** A port's binding on `request.host` became the active one; it was on `previousHost`. */
  activate(request: BindRequest, previousHost: string): Promise<ActivateOutcome>;
  sync(ports: SyncPort[], options: { dryRun: boolean }): Promise<SyncReport>;
  hosts(): Promise<HostSummary[]>;
  host(name: string): Promise<HostSummary | undefined>;
  /** etcd reachable and the watch's state; throws when etcd cannot be reached. */
  health(): Promise<Record<string, string>>;
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** The Placement inventory sync's state, or `{ enabled: false }`. */
  placement?: () => unknown;
  /** Tap-as-a-service: tap flow create, delete, sync (routes under /v1/taas/). */
  taps?: Pick<TapService, 'create' | 'delete' | 'sync' | 'checkServicePort'>;
}

/** How often one client's refused token is logged (per reason), at most. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

function bearerCheck(token: string | undefined, logger: Logger) {
  const expected = token === undefined ? undefined : digest(token);
  const lastLogged = new Map<string, number>();
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match && timingSafeEqual(digest((match[1] as string).trim()), expected)) return;
    const detail = match
      ? 'the bearer token is not the one configured ([spp_server] auth_token)'
      : 'missing "Authorization: Bearer <token>" header';
    const memory = `${request.ip}\u0000${detail}`;
    const now = Date.now();
    if ((lastLogged.get(memory) ?? 0) + REFUSAL_LOG_INTERVAL_MS <= now) {
      lastLogged.set(memory, now);
      logger.warn({ client: request.ip, path: request.url, detail }, 'request refused (401)');
    }
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: 'unauthorized', detail });
  };
}

function handleErrors(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: unknown, _request, reply) => {
    if (error instanceof BadRequest) {
      void reply.code(error.status).send({ error: error.code, detail: error.message });
      return;
    }
    if (error instanceof InputError) {
      void reply.code(400).send({ error: 'invalid_request', detail: error.message });
      return;
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // Fastify's own: unparsable JSON, wrong content type, body too large.
      void reply.code(status).send({ error: 'invalid_request', detail: errorMessage(error) });
      return;
    }
    const etcd = classifyEtcdFailure(error);
    if (etcd.kind === 'unreachable') {
      // etcd did not answer within the call's deadline (all members tried): nothing was
      // decided, the caller may retry (the driver's full sync repairs what it gives up on).
      logger.warn({ err: errorMessage(error) }, 'request failed: etcd unreachable');
      void reply
        .code(503)
        .send({ error: 'etcd_unavailable', detail: `etcd did not answer: ${etcd.reason}` });
      return;
    }
    logger.error({ err: errorMessage(error) }, 'request failed');
    void reply.code(500).send({ error: 'internal_error', detail: errorMessage(error) });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send({ error: 'not_found', detail: `no route ${request.method} ${request.url}` });
  });
}

/** While closing, answers close their connection: an idle keep-alive one would keep close() waiting. */
function closeConnectionsWhenClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
}

function ml2Routes(api: ServiceApi, authorize: ReturnType<typeof bearerCheck>) {
  return async (ml2: FastifyInstance) => {
    ml2.addHook('onRequest', authorize);
    ml2.post('/bind', async (request) => {
      const body = parseBody(bindBodySchema, request.body);
      return api.bind({
        portId: body.port.id,
        macAddress: body.port.mac_address,
        host: body.host,
        segments: body.segments,
        ...(body.agents ? { agents: body.agents } : {}),
        ...(body.active_host !== undefined ? { activeHost: body.active_host } : {}),
      });
    });
    ml2.post('/activate', async (request) => {
      const body = parseBody(activateBodySchema, request.body);
      if (body.previous_host === body.host) {
        throw new BadRequest(400, 'invalid_request', 'previous_host: must differ from host');
      }
      return api.activate(
        {
          portId: body.port.id,
          macAddress: body.port.mac_address,
          host: body.host,
          segments: body.segments,
          ...(body.agents ? { agents: body.agents } : {}),
        },
        body.previous_host,
      );
    });
    ml2.post('/unbind', async (request) => {
      const body = parseBody(unbindBodySchema, request.body);
      return api.unbind(body.port_id, body.host);
    });
    ml2.post('/sync', async (request) => {
      const body = parseBody(syncBodySchema, request.body);
      return api.sync(body.ports, { dryRun: body.dry_run ?? false });
    });
  };
}

function taasRoutes(
  taps: NonNullable<ServiceApi['taps']>,
  authorize: ReturnType<typeof bearerCheck>,
) {
  return async (taas: FastifyInstance) => {
    taas.addHook('onRequest', authorize);
    taas.post('/tap_flows', async (request) => {
      const body = parseBody(tapFlowCreateBodySchema, request.body);
      return taps.create({
        flowId: body.tap_flow.id,
        sourcePort: body.tap_flow.source_port,
        servicePort: body.tap_service.port_id,
        direction: body.tap_flow.direction,
      });
    });
    taas.post('/tap_flows/delete', async (request) => {
      const body = parseBody(tapFlowDeleteBodySchema, request.body);
      return taps.delete(body.tap_flow_id);
    });
    taas.post('/tap_services/check', async (request) => {
      const body = parseBody(tapServiceCheckBodySchema, request.body);
      return taps.checkServicePort(body.port_id);
    });
    taas.post('/sync', async (request) => {
      const body = parseBody(tapSyncBodySchema, request.body);
      return taps.sync(body.tap_flows, body.dry_run ?? false);
    });
  };
}

function viewRoutes(app: FastifyInstance, api: ServiceApi): void {
  app.get('/v1/hosts', async () => ({ hosts: await api.hosts() }));
  app.get('/v1/hosts/:host', async (request, reply) => {
    const parsed = hostParamSchema.safeParse((request.params as { host?: string }).host);
    if (!parsed.success) {
      throw new BadRequest(400, 'invalid_request', `host: ${parsed.error.issues[0]?.message}`);
    }
    const summary = await api.host(parsed.data);
    if (!summary) {
      return reply.code(404).send({
        error: 'not_found',
        detail: `host ${parsed.data} has no SPP configuration in etcd`,
      });
    }
    return summary;
  });
  app.get('/healthz', async (_request, reply) => {
    try {
      return { status: 'ok', ...(await api.health()) };
    } catch (error) {
      return reply
        .code(503)
        .send({ status: 'error', etcd: 'unreachable', detail: errorMessage(error) });
    }
  });
  app.get('/v1/placement', async () => api.placement?.() ?? { enabled: false });
  app.get('/metrics', async (_request, reply) => {
    if (!api.metrics)
      return reply.code(404).send({ error: 'not_found', detail: 'metrics disabled' });
    const { contentType, body } = await api.metrics();
    return reply.header('content-type', contentType).send(body);
  });
}

/**
 * The HTTP API of the binding service (docs/server-api.md): the ML2 calls under /v1/ml2/
 * (bearer token), operator views under /v1/hosts, /healthz and /metrics (no token).
 */
export function buildApp(api: ServiceApi, logger: Logger, options: HttpOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 32 * 1024 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    keepAliveTimeout: 75_000,
    // Host names may be 255 characters (the API's own limit answers longer ones).
    routerOptions: { maxParamLength: 1024 },
  });
  closeConnectionsWhenClosing(app);
  handleErrors(app, logger);
  const authorize = bearerCheck(options.authToken, logger);
  app.register(ml2Routes(api, authorize), { prefix: '/v1/ml2' });
  if (api.taps) app.register(taasRoutes(api.taps, authorize), { prefix: '/v1/taas' });
  viewRoutes(app, api);
  return app;
}
