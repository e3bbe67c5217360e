import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { errorMessage } from '../util/errors.js';
import type { BindService } from './bind/service.js';
import type { ActivateOutcome, BindOutcome, BindRequest } from './bind/types.js';
import type { Unbinder } from './unbind.js';

/**
 * A port's binding on `request.host` became its active one (Neutron's
 * `PUT /v2.0/ports/{id}/bindings/{host}/activate`, the end of a live migration or Nova's
 * rollback of one). Neutron has already moved the port: the previous host is unplugged
 * whatever happens on the new one, and the new host's plug is confirmed by an ordinary,
 * idempotent bind (answered at once when the port is plugged and up there, which is the
 * normal case since its inactive binding was bound before; plugged again otherwise).
 */
export async function activate(
  binds: BindService,
  unbinder: Unbinder,
  logger: Logger,
  request: BindRequest,
  previousHost: string,
): Promise<ActivateOutcome> {
  const started = performance.now();
  const [bound, previous] = await Promise.all([
    binds.bind(request),
    unbinder
      .unbind(request.portId, previousHost)
      .catch((error: unknown): ActivateOutcome['previous'] => ({
        port_id: request.portId,
        host: previousHost,
        result: 'error',
        detail: `etcd: ${errorMessage(error)}; the next full sync unplugs it`,
      })),
  ]);
  const line = {
    host: request.host,
    port_id: request.portId,
    previous_host: previousHost,
    result: bound.bound ? 'bound' : bound.reason,
    vhost_id: bound.bound ? bound.vhost_id : null,
    previous_result: previous.result,
    duration_ms: Math.round((performance.now() - started) * 100) / 100,
  };
  if (bound.bound && previous.result !== 'error') logger.info(line, 'activate');
  else logger.warn({ ...line, ...detailOf(bound) }, 'activate');
  return { ...bound, previous: { ...previous } };
}

function detailOf(outcome: BindOutcome): { detail?: string } {
  return outcome.bound ? {} : { detail: outcome.detail };
}
