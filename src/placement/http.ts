import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { InputError, errorMessage } from '../util/errors.js';
import type { PlacementTls } from './options.js';

/** A Keystone or Placement request that failed: unreachable, timed out, or an error status. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    message: string,
    /** HTTP status; undefined when there was no answer. */
    readonly status?: number,
    /** Placement's machine-readable error code (e.g. `placement.concurrent_update`). */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** How the request is named in errors, e.g. `Placement PUT /traits/X`. */
  what: string;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InputError(`[placement] ${what} ${file}: ${errorMessage(error)}`);
  }
}

/** The connection pool for Keystone and Placement, with the configured TLS trust. */
export function createDispatcher(tls: PlacementTls): Agent {
  return new Agent({
    keepAliveTimeout: 10_000,
    connections: 8,
    connect: {
      rejectUnauthorized: !tls.insecure,
      ...(tls.caFile ? { ca: readPem(tls.caFile, 'cafile') } : {}),
      ...(tls.certFile ? { cert: readPem(tls.certFile, 'certfile') } : {}),
      ...(tls.keyFile ? { key: readPem(tls.keyFile, 'keyfile') } : {}),
    },
  });
}

/** One request with a deadline covering connect, headers and body; never hangs. */
export async function httpCall(dispatcher: Dispatcher, call: HttpCall): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(call.timeoutMs);
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  let body: string | undefined;
  if (call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const answer = await request(call.url, {
      method: call.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher,
      signal,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, headers: answer.headers, text };
  } catch (error) {
    const why = signal.aborted ? `no answer within ${call.timeoutMs} ms` : describeNetError(error);
    throw new ServiceError(`${call.what}: ${why}`);
  }
}

function describeNetError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (error as { code?: string }).code ?? (cause as { code?: string } | undefined)?.code;
  const message = errorMessage(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** Parses a JSON answer body; a body that is not JSON is a ServiceError naming the request. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ServiceError(`${what}: the answer is not JSON: ${oneLine(text)}`);
  }
}

/** Error texts from services span lines and carry HTML; logs want one short line. */
export function oneLine(text: string, max = 300): string {
  const flat = text
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}
