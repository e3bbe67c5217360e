import { readFileSync } from 'node:fs';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
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

export const DEFAULT_ETCD_SETTINGS: EtcdSettings = {
  endpoints: ['127.0.0.1:2379'],
  requestTimeoutMs: 5000,
  dialTimeoutMs: 3000,
};

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
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 1,
    },
    // Unary calls get a deadline; streams (watch, lease keep-alive) must live on.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + settings.requestTimeoutMs },
    faultHandling: {
      // Our callers retry with their own backoff; a short breaker keeps a dead member
      // from slowing every call without hiding a recovered one for long.
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: 300,
          breaker: new ConsecutiveBreaker(3),
        }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
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
