import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import { encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { hostFromKvs } from '../../src/snapshot/read.js';
import type {
  BindContext,
  BindEffect,
  BindEvent,
  BindState,
  Step,
} from '../../src/server/bind/machine.js';
import { ORPHAN_UNPLUG_WAIT_MS, initialState, step } from '../../src/server/bind/machine.js';
import { KvModel } from '../harness/kv-model.js';

const HOST = 'h1';
const CONFIG = planHostLayout({ mappings: '00:04.0#phys1#2#0xfe' }).config;
const NOW = 1_000_000;

function context(extra: Partial<BindContext> = {}): BindContext {
  return {
    request: {
      portId: 'p',
      macAddress: 'fa:16:3e:00:00:01',
      host: HOST,
      segments: [{ id: 'seg', network_type: 'flat', physical_network: 'phys1' }],
    },
    requireEtcdAgent: 'true',
    deadline: NOW + 20_000,
    bindTimeoutMs: 20_000,
    reserved: { has: () => false },
    random: () => 0.99,
    ...extra,
  };
}

function host(extra: Record<string, string> = {}): KvModel {
  return new KvModel({
    [keys.configuration(HOST)]: encodeJson(CONFIG),
    [keys.agent(HOST)]: '{}',
    [keys.vhost(HOST, 'phys1', 0)]: 'None',
    [keys.vhost(HOST, 'phys1', 1)]: 'None',
    ...extra,
  });
}

const viewEvent = (model: KvModel, fresh: boolean, now = NOW): BindEvent => ({
  type: 'view',
  view: { host: hostFromKvs(HOST, model.keyValues()), portId: 'p', revision: model.revision },
  fresh,
  now,
});

function only<T extends BindEffect['type']>(s: Step, type: T): Extract<BindEffect, { type: T }> {
  const found = s.effects.filter((effect) => effect.type === type);
  assert.equal(found.length, 1, `one ${type} effect in ${JSON.stringify(s.effects)}`);
  return found[0] as Extract<BindEffect, { type: T }>;
}

function doneOutcome(s: Step) {
  assert.equal(s.state.phase, 'done');
  return (s.state as Extract<BindState, { phase: 'done' }>).outcome;
}

/** Carries out a txn effect on the model and answers like the runner. */
function commit(model: KvModel, s: Step, now = NOW): BindEvent {
  const txn = only(s, 'txn');
  const succeeded = model.txn(txn.conditions, txn.success);
  return {
    ...viewEvent(model, true, now),
    type: 'txn',
    succeeded,
    revision: model.revision,
  } as BindEvent;
}

describe('bind state machine (pure step function)', () => {
  test('claim, wait, up: bound with the socket of the claimed vhost', () => {
    const model = host();
    const ctx = context();
    const claimed = step(initialState, viewEvent(model, false), ctx);
    assert.equal(claimed.state.phase, 'writing');
    assert.deepEqual(only(claimed, 'reserve'), {
      type: 'reserve',
      slotKey: keys.vhost(HOST, 'phys1', 0),
    });
    const waiting = step(claimed.state, commit(model, claimed), ctx);
    assert.equal(waiting.state.phase, 'waiting-up');
    const floor = only(waiting, 'wait').floor;
    assert.equal(floor, model.revision, 'events of the claim itself are not news');
    const up = step(
      waiting.state,
      { type: 'key', key: keys.portStatus(HOST, 'p'), change: 'put', raw: 'up', now: NOW },
      ctx,
    );
    assert.deepEqual(doneOutcome(up), {
      bound: true,
      segment_id: 'seg',
      vif_type: 'vhostuser',
      vif_details: { port_filter: false, vhostuser_mode: 'server', vhostuser_socket: '/tmp/sock0' },
      vhost_id: 0,
    });
  });

  test('the socket is in [spp_server] vhost_socket_dir when set', () => {
    const model = host();
    const ctx = context({ socketDir: '/var/lib/spp/vhost' });
    const claimed = step(initialState, viewEvent(model, false), ctx);
    const waiting = step(claimed.state, commit(model, claimed), ctx);
    const up = step(
      waiting.state,
      { type: 'key', key: keys.portStatus(HOST, 'p'), change: 'put', raw: 'up', now: NOW },
      ctx,
    );
    const outcome = doneOutcome(up);
    assert.equal(outcome.bound && outcome.vif_details.vhostuser_socket, '/var/lib/spp/vhost/sock0');
  });

  test('the claim transaction keeps its guards: agent alive, layout unchanged', () => {
    const model = host();
    const claimed = step(initialState, viewEvent(model, false), context());
    const conditions = only(claimed, 'txn').conditions;
    assert.ok(
      conditions.some((c) => 'present' in c && c.key === keys.agent(HOST)),
      'agent-alive guard',
    );
    assert.ok(
      conditions.some((c) => 'modRevision' in c && c.key === keys.configuration(HOST)),
      'layout guard',
    );
    // The agent's key vanished after the view was taken: the claim must not apply.
    model.delete(keys.agent(HOST));
    assert.equal(model.txn(conditions, only(claimed, 'txn').success), false);
    const withoutGate = step(
      initialState,
      viewEvent(host(), false),
      context({ requireEtcdAgent: 'false' }),
    );
    assert.ok(!only(withoutGate, 'txn').conditions.some((c) => 'present' in c));
  });

  test('a refusal planned from the snapshot is confirmed on a fresh read first', () => {
    const model = host();
    model.delete(keys.agent(HOST));
    const first = step(initialState, viewEvent(model, false), context());
    assert.equal(first.state.phase, 'planning');
    assert.deepEqual(first.effects, [{ type: 'read', what: 'host' }]);
    const confirmed = step(first.state, viewEvent(model, true), context());
    assert.equal((doneOutcome(confirmed) as { reason: string }).reason, 'agent_down');
  });

  test('a lost claim releases its reservation and retries on a random free slot', () => {
    const model = host();
    const ctx = context();
    const claimed = step(initialState, viewEvent(model, false), ctx);
    model.put(keys.vhost(HOST, 'phys1', 0), 'someone-else');
    const lost = step(claimed.state, commit(model, claimed), ctx);
    assert.equal(lost.effects[0]?.type, 'release');
    const retry = only(lost, 'txn');
    assert.ok(retry.success.some((op) => 'put' in op && op.put === keys.vhost(HOST, 'phys1', 1)));
  });

  test('waiting binds are told when the watch re-read etcd: they look at the keys again', () => {
    const model = host();
    const ctx = context();
    const claimed = step(initialState, viewEvent(model, false), ctx);
    const waiting = step(claimed.state, commit(model, claimed), ctx);
    const resynced = step(waiting.state, { type: 'resync', now: NOW }, ctx);
    assert.equal(resynced.state.phase, 'rechecking');
    assert.deepEqual(resynced.effects, [{ type: 'read', what: 'port' }]);
    // The `up` came while events were lost.
    model.put(keys.portStatus(HOST, 'p'), 'up');
    assert.equal(doneOutcome(step(resynced.state, viewEvent(model, true), ctx)).bound, true);
    // Or the request was withdrawn meanwhile.
    model.delete(keys.portStatus(HOST, 'p'));
    model.delete(keys.action(HOST, 'p'));
    const gone = doneOutcome(step(resynced.state, viewEvent(model, true), ctx));
    assert.equal(gone.bound, false);
  });

  test('an unbind while waiting ends the bind at once', () => {
    const model = host();
    const ctx = context();
    const claimed = step(initialState, viewEvent(model, false), ctx);
    const waiting = step(claimed.state, commit(model, claimed), ctx);
    const ended = step(
      waiting.state,
      { type: 'key', key: keys.action(HOST, 'p'), change: 'put', raw: 'unplug', now: NOW },
      ctx,
    );
    assert.match((doneOutcome(ended) as { detail: string }).detail, /was unbound/);
  });

  test('timeout: a rollback guarded against a late up; an up that won the race makes it bound', () => {
    const model = host();
    const ctx = context();
    const claimed = step(initialState, viewEvent(model, false), ctx);
    const waiting = step(claimed.state, commit(model, claimed), ctx);
    const rolling = step(waiting.state, { type: 'timeout', now: ctx.deadline }, ctx);
    assert.equal(rolling.state.phase, 'rolling-back');
    const rollback = only(rolling, 'txn');
    assert.ok(
      rollback.conditions.some((c) => 'absent' in c && c.key === keys.portStatus(HOST, 'p')),
    );
    // The agent's up lands just before the rollback: the guard fails, the bind succeeds.
    const raced = host();
    const racedClaim = step(initialState, viewEvent(raced, false), ctx);
    const racedWait = step(racedClaim.state, commit(raced, racedClaim), ctx);
    const racedRollback = step(racedWait.state, { type: 'timeout', now: ctx.deadline }, ctx);
    raced.put(keys.portStatus(HOST, 'p'), 'up');
    assert.equal(
      doneOutcome(step(racedRollback.state, commit(raced, racedRollback), ctx)).bound,
      true,
    );
    // No up: the slot is freed and the rollback remembered (a late up is undone).
    const freed = step(rolling.state, commit(model, rolling), ctx);
    assert.equal((doneOutcome(freed) as { reason: string }).reason, 'timeout');
    assert.equal(only(freed, 'rolled-back').slotKey, keys.vhost(HOST, 'phys1', 0));
    assert.equal(model.get(keys.vhost(HOST, 'phys1', 0)), 'None');
    assert.equal(model.get(keys.bindPort(HOST, 'p')), undefined);
    assert.equal(model.get(keys.plugRequest(HOST, 'p')), undefined, 'the marker goes with it');
  });

  test('an unplug left without bind_port is waited for briefly, then replaced', () => {
    const model = host({ [keys.vhost(HOST, 'phys1', 1)]: 'p', [keys.action(HOST, 'p')]: 'unplug' });
    const ctx = context();
    const first = step(initialState, viewEvent(model, true), ctx);
    assert.equal(first.state.phase, 'awaiting-unplug');
    assert.equal(only(first, 'wait').until, NOW + ORPHAN_UNPLUG_WAIT_MS);
    const timedOut = step(first.state, { type: 'timeout', now: NOW + ORPHAN_UNPLUG_WAIT_MS }, ctx);
    assert.deepEqual(timedOut.effects, [{ type: 'read', what: 'host' }]);
    const replaced = step(timedOut.state, viewEvent(model, true), ctx);
    assert.equal(replaced.state.phase, 'writing');
    const waiting = step(replaced.state, commit(model, replaced), ctx);
    assert.equal(waiting.state.phase, 'waiting-up');
    assert.equal(model.get(keys.action(HOST, 'p')), 'plug');
    assert.equal(model.get(keys.vhost(HOST, 'phys1', 1)), 'p', 'the slot it held is reused');
  });

  test('plugged differently: unplug requested first, then bound again once the agent is done', () => {
    const model = host({
      [keys.vhost(HOST, 'phys1', 0)]: 'p',
      [keys.bindPort(HOST, 'p')]:
        '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 0, "vlan_id": 5}',
      [keys.action(HOST, 'p')]: 'plug',
      [keys.portStatus(HOST, 'p')]: 'up',
    });
    const ctx = context();
    const first = step(initialState, viewEvent(model, true), ctx);
    assert.equal(first.state.phase, 'unplugging-first');
    const requested = step(first.state, commit(model, first), ctx);
    assert.equal(model.get(keys.action(HOST, 'p')), 'unplug');
    assert.equal(requested.effects[0]?.type, 'log');
    assert.equal(only(requested, 'wait').until, ctx.deadline);
  });

  test('gives up after too many concurrent changes', () => {
    const ctx = context();
    const lost = (): BindEvent =>
      ({ ...viewEvent(host(), true), type: 'txn', succeeded: false, revision: 1 }) as BindEvent;
    // Every claim loses against a concurrent writer.
    let current = step(initialState, viewEvent(host(), true), ctx);
    for (let attempt = 0; attempt < 100 && current.state.phase === 'writing'; attempt++) {
      current = step(current.state, lost(), ctx);
    }
    assert.match((doneOutcome(current) as { detail: string }).detail, /kept changing/);
  });
});
