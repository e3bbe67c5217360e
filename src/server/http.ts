import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { describeHost, describeHosts } from '../hosts/summary.js';
import { InputError, errorMessage } from '../util/errors.js';
import { formatPath } from '../util/validation.js';
import type { Binder } from './binder.js';
import type { ServerMetrics } from './metrics.js';
import { bindBodySchema, hostParamSchema, syncBodySchema, unbindBodySchema } from './schemas.js';
import { fullSync } from './sync.js';

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

/**
 * The HTTP API of the binding service (docs/server-api.md): the ML2 calls under /v1/ml2/
 * (bearer token), operator views under /v1/hosts, /healthz and /metrics.
 */
export function buildApp(
  binder: Binder,
  metrics: ServerMetrics | undefined,
  options: HttpOptions,
): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 32 * 1024 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    keepAliveTimeout: 75_000,
  });
  const expected = options.authToken === undefined ? undefined : digest(options.authToken);

  // While closing, answers to requests in flight close their connection: otherwise an idle
  // keep-alive connection left after the last answer keeps close() waiting.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });

  const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest((match[1] as string).trim()), expected)) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: 'unauthorized',
          detail: match
            ? 'the bearer token is not the one configured ([spp_server] auth_token)'
            : 'missing "Authorization: Bearer <token>" header',
        });
    }
  };

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
    binder.logger.error({ err: errorMessage(error) }, 'request failed');
    void reply.code(500).send({ error: 'internal_error', detail: errorMessage(error) });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send({ error: 'not_found', detail: `no route ${request.method} ${request.url}` });
  });

  app.register(
    async (ml2) => {
      ml2.addHook('onRequest', authorize);
      ml2.post('/bind', async (request) => {
        const body = parseBody(bindBodySchema, request.body);
        return binder.bind({
          portId: body.port.id,
          macAddress: body.port.mac_address,
          host: body.host,
          segments: body.segments,
          ...(body.agents ? { agents: body.agents } : {}),
        });
      });
      ml2.post('/unbind', async (request) => {
        const body = parseBody(unbindBodySchema, request.body);
        return binder.unbind(body.port_id, body.host);
      });
      ml2.post('/sync', async (request) => {
        const body = parseBody(syncBodySchema, request.body);
        return fullSync(binder, body.ports, { dryRun: body.dry_run ?? false });
      });
    },
    { prefix: '/v1/ml2' },
  );

  app.get('/v1/hosts', async () => ({ hosts: await describeHosts(binder.store) }));
  app.get('/v1/hosts/:host', async (request, reply) => {
    const parsed = hostParamSchema.safeParse((request.params as { host?: string }).host);
    if (!parsed.success) {
      throw new BadRequest(400, 'invalid_request', `host: ${parsed.error.issues[0]?.message}`);
    }
    const summary = await describeHost(binder.store, parsed.data);
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
      await binder.store.ping();
      return {
        status: 'ok',
        etcd: 'reachable',
        watch: binder.hub.connected ? 'connected' : 'down',
      };
    } catch (error) {
      return reply
        .code(503)
        .send({ status: 'error', etcd: 'unreachable', detail: errorMessage(error) });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    if (!metrics) return reply.code(404).send({ error: 'not_found', detail: 'metrics disabled' });
    const { contentType, body } = await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });

  return app;
}
