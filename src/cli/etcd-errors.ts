import type { EtcdFailure } from '../etcd/failure.js';
import { classifyEtcdFailure } from '../etcd/failure.js';
import { InputError, UnavailableError } from '../util/errors.js';

const HOW_TO_SET =
  'Set them with --etcd HOST:PORT[,HOST:PORT...] or in [spp] of a --config-file (etcd_endpoints, or etcd_host and etcd_port)';

/** The one-line message for an etcd that cannot be reached, and how to point at another. */
export function unreachableMessage(endpoints: string[], reason: string, source: string): string {
  return `cannot reach etcd at ${endpoints.join(',')} (${reason}; endpoints ${source}). ${HOW_TO_SET}`;
}

/**
 * Turns a failure of an etcd request into the CLI's terms: etcd unreachable is an
 * UnavailableError (exit 69), TLS or credentials refused an InputError (exit 2, the
 * configuration is wrong), anything else an Error naming the etcd (exit 1).
 */
export function etcdCommandError(error: unknown, endpoints: string[], source: string): Error {
  const failure: EtcdFailure = classifyEtcdFailure(error);
  const where = endpoints.join(',');
  switch (failure.kind) {
    case 'unreachable':
      return new UnavailableError(unreachableMessage(endpoints, failure.reason, source), {
        cause: error,
      });
    case 'refused':
      return new InputError(
        `etcd at ${where} refused the connection: ${failure.reason} (check [spp] etcd_username and etcd_password, or etcd_ca_cert, etcd_cert and etcd_key, in the --config-file files)`,
        { cause: error },
      );
    case 'other':
      return new Error(`etcd at ${where}: ${failure.reason}`, { cause: error });
  }
}
