import { BrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
  GRPCDeadlineExceededError,
  GRPCGenericError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';
import { isRecoverableError } from 'etcd3';
import { DeadlineExceeded } from '../util/deadline.js';
import { errorMessage } from '../util/errors.js';

/**
 * What went wrong talking to etcd, in an operator's terms: etcd could not be reached
 * (`unreachable`), it refused our TLS or credentials (`refused`: a configuration
 * problem), or something else (`other`, e.g. a failed request).
 */
export interface EtcdFailure {
  kind: 'unreachable' | 'refused' | 'other';
  /** A short reason without gRPC's status prefix and tail, e.g. "connection refused". */
  reason: string;
}

const TLS = /certificate|ssl|tls|handshake|self.signed|alert/i;
const CREDENTIALS =
  /user name is empty|permission denied|authentication failed|invalid auth token/i;

/** OpenSSL's "…:sslv3 alert bad certificate:…" says it in its alert; keep that. */
function tlsReason(text: string): string {
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(text)?.[1];
  return `TLS handshake failed: ${alert ?? text}`;
}

/** gRPC's message without "14 UNAVAILABLE: " and its "Resolution note" tail. */
function gist(error: unknown): string {
  return errorMessage(error)
    .replace(/^\d+ [A-Z_]+: /, '')
    .replace(/\s*Resolution note:.*$/s, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

function unreachableReason(text: string): string {
  if (/ECONNREFUSED/.test(text)) return 'connection refused';
  if (/Name resolution failed|ENOTFOUND|EAI_AGAIN/.test(text)) return 'host name not found';
  if (/ETIMEDOUT|Deadline exceeded|DEADLINE_EXCEEDED/i.test(text)) return 'no answer in time';
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return 'no route to the host';
  if (/ECONNRESET|socket hang up/.test(text)) return 'connection reset';
  return text;
}

export function classifyEtcdFailure(error: unknown): EtcdFailure {
  const text = gist(error);
  if (
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdUserNotFoundError ||
    error instanceof GRPCUnauthenticatedError ||
    CREDENTIALS.test(text)
  ) {
    return { kind: 'refused', reason: text };
  }
  if (error instanceof GRPCUnavailableError && TLS.test(text)) {
    return { kind: 'refused', reason: tlsReason(text) };
  }
  if (
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof BrokenCircuitError
  ) {
    return { kind: 'unreachable', reason: unreachableReason(text) };
  }
  return { kind: 'other', reason: text };
}

/** Whether an error comes from the etcd client (rather than from our own code). */
export function isEtcdClientError(error: unknown): boolean {
  return (
    error instanceof GRPCGenericError ||
    error instanceof EtcdError ||
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdUserNotFoundError ||
    error instanceof BrokenCircuitError
  );
}

/** The store's calls were aborted (shutdown): not an etcd failure, nothing to retry. */
export class EtcdCallAborted extends Error {
  override readonly name = 'EtcdCallAborted';
}

/**
 * Whether another attempt, possibly on another member, may succeed: the member was
 * unreachable or slow (unavailable, deadline, broken circuit), or it answered that it is
 * not the leader or that the leader changed (gRPC UNAVAILABLE as well). Refused TLS or
 * credentials are configuration problems: no attempt will fix them.
 */
export function retryable(error: unknown): boolean {
  if (error instanceof EtcdCallAborted) return false;
  const transient =
    error instanceof DeadlineExceeded ||
    // A member's client replaced (closed) while an attempt was about to use it.
    error instanceof ClientClosedError ||
    error instanceof BrokenCircuitError ||
    (error instanceof Error && isRecoverableError(error));
  return transient && classifyEtcdFailure(error).kind !== 'refused';
}
