import { readFileSync } from 'node:fs';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  noop,
  retry,
} from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import type { IOptions } from 'etcd3';
import { InputError, errorMessage } from '../util/errors.js';
import { guardEtcdWatchResponses } from './watch-guard.js';

export interface EtcdTls {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdSettings {
  /** `host:port` or `http(s)://host:port` entries. */
  endpoints: string[];
  /** Deadline of every etcd request, in milliseconds. */
  requestTimeoutMs: number;
  /** Deadline for establishing a connection, in milliseconds. */
  dialTimeoutMs: number;
  tls?: EtcdTls;
  auth?: { username: string; password: string };
}

/** gRPC keep-alive ping interval on a connection with open calls (ms), above etcd's 5 s minimum. */
export const KEEPALIVE_TIME_MS = 10_000;

export const DEFAULT_ETCD_SETTINGS: EtcdSettings = {
  endpoints: ['127.0.0.1:2379'],
  requestTimeoutMs: 5000,
  dialTimeoutMs: 3000,
};

/**
 * The deadline of one attempt of a call on one member: with other members to try, the
 * call's deadline over twice their number (at least 500 ms), so that members that hold the
 * connection but never answer (black-holed) leave time for two rounds over all members
 * (a call tries each once per round); the whole deadline with one member.
 */
export function attemptTimeoutMs(settings: EtcdSettings): number {
  const members = Math.min(3, settings.endpoints.length);
  if (members <= 1) return settings.requestTimeoutMs;
  return Math.ceil(
    Math.max(Math.min(settings.requestTimeoutMs, 500), settings.requestTimeoutMs / (2 * members)),
  );
}

const ENDPOINT = /^(https?:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/;

/** Parses `HOST:PORT[,HOST:PORT...]` (optionally with http:// or https://). */
export function parseEndpoints(text: string, source = '--etcd'): string[] {
  const endpoints = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (endpoints.length === 0) throw new InputError(`${source}: no etcd endpoint given`);
  for (const endpoint of endpoints) {
    const match = ENDPOINT.exec(endpoint);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) {
      throw new InputError(
        `${source}: "${endpoint}" is not an etcd endpoint (expected HOST:PORT, e.g. 127.0.0.1:2379)`,
      );
    }
  }
  return endpoints;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InputError(`etcd ${what} ${file}: ${errorMessage(error)}`);
  }
}

/** Translates our settings into an etcd3 client (TLS, auth, deadlines, fault handling). */
export function createEtcdClient(settings: EtcdSettings): Etcd3 {
  const secure = settings.tls !== undefined;
  const hosts = settings.endpoints.map((endpoint) =>
    /^https?:\/\//.test(endpoint) ? endpoint : `${secure ? 'https' : 'http'}://${endpoint}`,
  );
  const options: IOptions = {
    hosts,
    dialTimeout: settings.dialTimeoutMs,
    grpcOptions: {
      // Reconnect quickly after an etcd restart, and notice a silently dead peer.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Pings only while a call is open (the agent's and the service's watches keep one
      // open), never more often than etcd's --grpc-keepalive-min-time (5 s by default):
      // etcd answers pings on an idle connection, or too frequent ones, with GOAWAY "too
      // many pings", and grpc-js then writes "excess pings" to stderr, into the JSON logs,
      // and doubles the interval, so that a dead peer is noticed later and later.
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 0,
      // Each service client connects on its own: dropping a client (EtcdStore's
      // resetConnections, or etcd3 after a failed call) then really drops its connection.
      // With the shared pool a new client took over the old one's connection attempt, which
      // waits forever for a black-holed member's HTTP/2 settings (grpc-js has no timeout).
      'grpc.use_local_subchannel_pool': 1,
    },
    // Calls made through EtcdStore pass their own per-attempt deadline; this one covers the
    // rest. Streams (watches) must live on; the store bounds their creation itself.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + settings.requestTimeoutMs },
    faultHandling: {
      // With several members, EtcdStore gives this client only its watches (its calls go
      // to a client per member, src/etcd/members.ts): the breaker lets a watch re-created
      // after a failure skip the member that failed, for two seconds. With one member
      // there is nothing to skip to.
      host: () =>
        hosts.length > 1
          ? circuitBreaker(handleWhen(isRecoverableError), {
              halfOpenAfter: 2000,
              breaker: new ConsecutiveBreaker(1),
            })
          : noop,
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 0 }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
    },
  };
  if (settings.tls) {
    options.credentials = {
      rootCertificate: readPem(settings.tls.caFile, 'CA file'),
      ...(settings.tls.certFile
        ? { certChain: readPem(settings.tls.certFile, 'certificate file') }
        : {}),
      ...(settings.tls.keyFile ? { privateKey: readPem(settings.tls.keyFile, 'key file') } : {}),
    };
  }
  if (settings.auth) options.auth = { ...settings.auth };
  guardEtcdWatchResponses();
  return new Etcd3(options);
}
