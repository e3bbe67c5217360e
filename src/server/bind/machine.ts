import { keys } from '../../etcd/keys.js';
import type { Condition } from '../../etcd/store.js';
import { FREE } from '../../etcd/values.js';
import { isUp, valueOf } from '../../snapshot/model.js';
import { decideHost, judgeHostAgent, refuse } from './decide.js';
import type { Plan, PortView } from './plan.js';
import type { BindContext, BindEvent, BindState, Progress, Step, WaitTarget } from './states.js';
import { MAX_ATTEMPTS, ORPHAN_UNPLUG_WAIT_MS } from './states.js';
import { planBind, portKeyNames, portKeysOf, unchanged } from './plan.js';
import type { BindOutcome } from './types.js';
import { boundOutcome } from './types.js';

export type { BindContext, BindEffect, BindEvent, BindState, Step, WaitTarget } from './states.js';
export { MAX_ATTEMPTS, ORPHAN_UNPLUG_WAIT_MS, initialState } from './states.js';

const done = (outcome: BindOutcome): Step => ({ state: { phase: 'done', outcome }, effects: [] });

function interrupted(context: BindContext): BindOutcome {
  const { host, portId } = context.request;
  return refuse(
    'error',
    `port ${portId} was unbound from host ${host} (or its binding removed) while it was being bound`,
  );
}

/** The bind's next state and effects for one event (pure). */
export function step(state: BindState, event: BindEvent, context: BindContext): Step {
  switch (state.phase) {
    case 'planning':
      return event.type === 'view'
        ? plan(state.progress, event, context)
        : unexpected(state, event);
    case 'writing':
      return event.type === 'txn' ? written(state, event, context) : unexpected(state, event);
    case 'unplugging-first':
      return event.type === 'txn'
        ? unplugRequested(state, event, context)
        : unexpected(state, event);
    case 'awaiting-unplug':
      return awaitUnplug(state, event, context);
    case 'waiting-up':
      return waitUp(state, event, context);
    case 'rechecking':
      return event.type === 'view' ? recheck(state, event, context) : unexpected(state, event);
    case 'rolling-back':
      return event.type === 'txn' ? rolledBack(state, event, context) : unexpected(state, event);
    case 'done':
      return { state, effects: [] };
  }
}

function unexpected(state: BindState, event: BindEvent): Step {
  return done(refuse('error', `internal: event ${event.type} in bind phase ${state.phase}`));
}

function plan(
  progress: Progress,
  event: Extract<BindEvent, { type: 'view' }>,
  context: BindContext,
): Step {
  const next = { ...progress, attempts: progress.attempts + 1 };
  const { host, portId } = context.request;
  if (next.attempts > MAX_ATTEMPTS) {
    return done(refuse('error', `port ${portId} on host ${host} kept changing; gave up`));
  }
  const { view } = event;
  const decision = decideHost(context.request, view.host, context.requireEtcdAgent);
  const chosen =
    'refusal' in decision
      ? undefined
      : planBind(view, decision.wanted, {
          layoutSlots: decision.facts.slots,
          avoid: context.reserved,
          ...(next.conflicts > 0
            ? { pick: (free) => free[Math.floor(context.random() * free.length)] ?? free[0]! }
            : {}),
          unplugLeftover: next.unplugLeftover,
        });
  // Only a write is made from a possibly stale view (its guards catch staleness); any
  // other answer is confirmed on a fresh read first.
  if (!event.fresh && (!chosen || chosen.kind !== 'write')) {
    return {
      state: { phase: 'planning', progress: next },
      effects: [{ type: 'read', what: 'host' }],
    };
  }
  if ('refusal' in decision || !chosen)
    return done('refusal' in decision ? decision.refusal : refuse('error', 'no plan'));
  return act(chosen, next, view, decision.segmentId, event.now, context);
}

function act(
  chosen: Plan,
  progress: Progress,
  view: PortView,
  segmentId: string,
  now: number,
  context: BindContext,
): Step {
  const { deadline } = context;
  switch (chosen.kind) {
    case 'bound':
      return done(boundOutcome(segmentId, chosen.vhostId, context.socketDir));
    case 'no-free-slot':
      return done(refuse('no_free_vhost', chosen.detail));
    case 'wait': {
      const target: WaitTarget = {
        segmentId,
        vhostId: chosen.vhostId,
        slotKey: chosen.slotKey,
        bindPortRevision: chosen.bindPortRevision,
        bindPortValue: chosen.bindPortValue,
        status: portKeysOf(view).status,
      };
      return waitFor({ phase: 'waiting-up', progress, target, floor: view.revision });
    }
    case 'write':
      return {
        state: { phase: 'writing', progress, plan: chosen, segmentId, view },
        effects: [
          ...(chosen.claim ? [{ type: 'reserve', slotKey: chosen.claim } as const] : []),
          {
            type: 'txn',
            purpose: 'write',
            conditions: [...chosen.conditions, ...hostGuards(view, context)],
            success: chosen.operations,
            failureReads: 'host',
          },
        ],
      };
    case 'request-unplug':
      return {
        state: { phase: 'unplugging-first', progress },
        effects: [
          {
            type: 'txn',
            purpose: 'unplug-first',
            conditions: chosen.conditions,
            success: chosen.operations,
            failureReads: 'host',
          },
        ],
      };
    case 'await-unplug': {
      const until = chosen.orphan ? Math.min(deadline, now + ORPHAN_UNPLUG_WAIT_MS) : deadline;
      return waitFor({ phase: 'awaiting-unplug', progress, until, floor: view.revision });
    }
  }
}

/** The conditions that keep the agent judged alive (its liveness key, when judged by etcd). */
function agentGuards(context: BindContext, view: PortView): Condition[] {
  const gate = judgeHostAgent(context.request, view.host, context.requireEtcdAgent);
  return gate.alive ? gate.guards : [];
}

/** The host must still be the one planned for: layout unchanged, agent alive. */
function hostGuards(view: PortView, context: BindContext): Condition[] {
  const host = context.request.host;
  return [
    unchanged(keys.configuration(host), view.host.configuration),
    ...agentGuards(context, view),
  ];
}

function waitFor(state: Extract<BindState, { phase: 'waiting-up' | 'awaiting-unplug' }>): Step {
  const until = state.phase === 'awaiting-unplug' ? state.until : Number.POSITIVE_INFINITY;
  return { state, effects: [{ type: 'wait', until, floor: state.floor }] };
}

function written(
  state: Extract<BindState, { phase: 'writing' }>,
  event: Extract<BindEvent, { type: 'txn' }>,
  context: BindContext,
): Step {
  const { plan: chosen, view } = state;
  if (!event.succeeded) {
    const progress = { ...state.progress, conflicts: state.progress.conflicts + 1 };
    const next = plan(
      progress,
      { type: 'view', view: event.view, fresh: true, now: event.now },
      context,
    );
    return {
      state: next.state,
      effects: [
        ...(chosen.claim ? [{ type: 'release', slotKey: chosen.claim } as const] : []),
        ...next.effects,
      ],
    };
  }
  const existing = portKeysOf(view).bindPort;
  const target: WaitTarget = {
    segmentId: state.segmentId,
    vhostId: chosen.vhostId,
    slotKey: chosen.slotKey,
    bindPortRevision: chosen.writesBindPort
      ? event.revision
      : (existing?.modRevision ?? event.revision),
    bindPortValue: chosen.writesBindPort ?? existing?.raw ?? '',
    status: undefined,
  };
  return waitFor({ phase: 'waiting-up', progress: state.progress, target, floor: event.revision });
}

function unplugRequested(
  state: Extract<BindState, { phase: 'unplugging-first' }>,
  event: Extract<BindEvent, { type: 'txn' }>,
  context: BindContext,
): Step {
  if (!event.succeeded)
    return plan(
      state.progress,
      { type: 'view', view: event.view, fresh: true, now: event.now },
      context,
    );
  const next = waitFor({
    phase: 'awaiting-unplug',
    progress: state.progress,
    until: context.deadline,
    floor: event.revision,
  });
  return {
    state: next.state,
    effects: [
      {
        type: 'log',
        message: 'port is plugged with other details; unplugging it before binding again',
      },
      ...next.effects,
    ],
  };
}

function awaitUnplug(
  state: Extract<BindState, { phase: 'awaiting-unplug' }>,
  event: BindEvent,
  context: BindContext,
): Step {
  const { host, portId } = context.request;
  const reread: Step = {
    state: { phase: 'planning', progress: state.progress },
    effects: [{ type: 'read', what: 'host' }],
  };
  switch (event.type) {
    case 'key':
    case 'resync':
      return reread;
    case 'timeout':
      if (state.until < context.deadline) {
        // Nobody is finishing that unplug: it is a leftover, replaced by this bind.
        return {
          ...reread,
          state: { phase: 'planning', progress: { ...state.progress, unplugLeftover: true } },
        };
      }
      return done(
        refuse(
          'timeout',
          `the SPP agent on host ${host} did not finish unplugging an earlier binding of port ${portId} in time`,
        ),
      );
    case 'aborted':
      return done(refuse('error', event.reason));
    default:
      return unexpected(state, event);
  }
}

function waitUp(
  state: Extract<BindState, { phase: 'waiting-up' }>,
  event: BindEvent,
  context: BindContext,
): Step {
  const k = portKeyNames(context.request.host, context.request.portId);
  switch (event.type) {
    case 'key':
      if (event.key === k.status && event.change === 'put' && event.raw === 'up') {
        return done(boundOutcome(state.target.segmentId, state.target.vhostId, context.socketDir));
      }
      if (
        (event.key === k.action && (event.change === 'delete' || event.raw !== 'plug')) ||
        (event.key === k.bindPort && event.change === 'delete')
      ) {
        return done(interrupted(context));
      }
      return waitFor(state);
    case 'resync':
      // Events may have been lost: look at the keys themselves.
      return {
        state: { phase: 'rechecking', progress: state.progress, target: state.target },
        effects: [{ type: 'read', what: 'port' }],
      };
    case 'timeout':
    case 'aborted':
      return rollback(state, context, event.type === 'aborted' ? event.reason : undefined);
    default:
      return unexpected(state, event);
  }
}

function recheck(
  state: Extract<BindState, { phase: 'rechecking' }>,
  event: Extract<BindEvent, { type: 'view' }>,
  context: BindContext,
): Step {
  const port = portKeysOf(event.view);
  if (!port.bindPort || valueOf(port.action) !== 'plug') return done(interrupted(context));
  if (isUp(port.status))
    return done(boundOutcome(state.target.segmentId, state.target.vhostId, context.socketDir));
  return waitFor({
    phase: 'waiting-up',
    progress: state.progress,
    target: state.target,
    floor: event.view.revision,
  });
}

/**
 * Undoes a bind that got no `up`: frees the slot and removes bind_port and action in one
 * transaction that holds only if no `up` arrived meanwhile. If one did, the bind succeeded.
 */
function rollback(
  state: Extract<BindState, { phase: 'waiting-up' }>,
  context: BindContext,
  aborted?: string,
): Step {
  const { target } = state;
  const k = portKeyNames(context.request.host, context.request.portId);
  return {
    state: {
      phase: 'rolling-back',
      target,
      floor: state.floor,
      ...(aborted !== undefined ? { aborted } : {}),
    },
    effects: [
      {
        type: 'txn',
        purpose: 'rollback',
        conditions: [
          { key: target.slotKey, equals: context.request.portId },
          { key: k.bindPort, modRevision: target.bindPortRevision },
          { key: k.action, equals: 'plug' },
          unchanged(k.status, target.status),
        ],
        success: [
          { put: target.slotKey, value: FREE },
          { delete: k.bindPort },
          { delete: k.action },
          { delete: k.plugRequest },
        ],
        failureReads: 'port',
      },
    ],
  };
}

function rolledBack(
  state: Extract<BindState, { phase: 'rolling-back' }>,
  event: Extract<BindEvent, { type: 'txn' }>,
  context: BindContext,
): Step {
  const { host, portId } = context.request;
  const { target } = state;
  const reason = state.aborted !== undefined ? 'error' : 'timeout';
  const why =
    state.aborted ??
    `the SPP agent on host ${host} did not report port ${portId} up within ${context.bindTimeoutMs / 1000} s`;
  if (event.succeeded) {
    return {
      state: {
        phase: 'done',
        outcome: refuse(reason, `${why}; the slot was freed and the request withdrawn`),
      },
      effects: [
        {
          type: 'rolled-back',
          slotKey: target.slotKey,
          bindPortValue: target.bindPortValue,
          revision: event.revision,
        },
      ],
    };
  }
  const port = portKeysOf(event.view);
  if (
    isUp(port.status) &&
    (port.status?.modRevision ?? 0) > state.floor &&
    port.bindPort?.modRevision === target.bindPortRevision
  ) {
    return done(boundOutcome(target.segmentId, target.vhostId, context.socketDir));
  }
  return done(
    refuse(
      reason,
      `${why}; its keys were changed meanwhile by someone else and are left as they are`,
    ),
  );
}
