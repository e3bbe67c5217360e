import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { EtcdStore } from '../etcd/store.js';
import { errorMessage } from '../util/errors.js';
import type { BinderOptions } from './binder.js';
import { Binder } from './binder.js';
import { buildApp } from './http.js';
import { ServerMetrics } from './metrics.js';
import type { ServerOptions } from './options.js';
import { checkAuth } from './options.js';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:9697 */
  url: string;
  port: number;
  binder: Binder;
  app: FastifyInstance;
  /** Stops accepting, lets in-flight binds finish (bounded by shutdownGraceMs), closes etcd. */
  close(): Promise<void>;
}

export interface StartDeps {
  logger?: Logger;
  /** Use this store instead of connecting one (it is not closed by close()). */
  store?: EtcdStore;
  /** Extra binder options (test hooks). */
  binder?: Partial<BinderOptions>;
  /** Register process metrics (off in tests that start several servers). */
  defaultMetrics?: boolean;
}

/** Starts the binding service: etcd watch first, then the HTTP listener. */
export async function startServer(
  options: ServerOptions,
  deps: StartDeps = {},
): Promise<RunningServer> {
  checkAuth(options);
  const logger = deps.logger ?? pino({ base: { service: 'networking-spp-server' } });
  const store = deps.store ?? EtcdStore.connect(options.etcd);
  const ownStore = deps.store === undefined;
  const metrics = new ServerMetrics(store, { defaultMetrics: deps.defaultMetrics ?? true });
  const binder = new Binder(
    store,
    logger,
    {
      bindTimeoutMs: options.bindTimeoutMs,
      syncGraceMs: options.syncGraceMs,
      requireEtcdAgent: options.requireEtcdAgent,
      ...deps.binder,
    },
    metrics,
  );
  try {
    await binder.start();
  } catch (error) {
    if (ownStore) store.close();
    // grpc's messages carry a long tail ("Last error: ... Resolution note: ..."); keep the gist.
    const gist = errorMessage(error).replace(/\s*Resolution note:.*$/s, '');
    throw new Error(`cannot reach etcd at ${options.etcd.endpoints.join(',')}: ${gist}`);
  }
  const app = buildApp(binder, metrics, {
    ...(options.authDisabled ? {} : { authToken: options.authToken }),
  });
  try {
    await app.listen({ host: options.listenAddress, port: options.listenPort });
  } catch (error) {
    await binder.stop();
    if (ownStore) store.close();
    throw new Error(
      `cannot listen on ${options.listenAddress}:${options.listenPort}: ${errorMessage(error)}`,
    );
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info(
    {
      listen: `${host}:${address.port}`,
      etcd: options.etcd.endpoints,
      auth: options.authDisabled ? 'disabled' : 'bearer token',
      bind_timeout_s: options.bindTimeoutMs / 1000,
    },
    'binding service started',
  );
  if (options.syncGraceMs < options.bindTimeoutMs) {
    logger.warn(
      { sync_grace_s: options.syncGraceMs / 1000, bind_timeout_s: options.bindTimeoutMs / 1000 },
      'sync_grace is shorter than bind_timeout: a full sync may unplug a port that is still binding',
    );
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info({}, 'binding service stopping');
      const timer = setTimeout(
        () => binder.abortWaits('the binding service is stopping'),
        options.shutdownGraceMs,
      );
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
        await binder.stop();
        if (ownStore) store.close();
        logger.info({}, 'binding service stopped');
      }
    })());
  return { url: `http://${host}:${address.port}`, port: address.port, binder, app, close };
}

/** Runs the service until `signal` aborts, then shuts down gracefully. */
export async function runServer(
  options: ServerOptions,
  signal: AbortSignal,
  deps: StartDeps = {},
): Promise<void> {
  const server = await startServer(options, deps);
  if (!signal.aborted) {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
  }
  await server.close();
}
