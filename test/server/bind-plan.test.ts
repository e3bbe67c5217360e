import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { keys } from '../../src/etcd/keys.js';
import { encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { hostFromKvs } from '../../src/snapshot/read.js';
import { heldBy, valueOf } from '../../src/snapshot/model.js';
import { decideHost, selectSegment } from '../../src/server/bind/decide.js';
import type { Plan, PortView, Wanted } from '../../src/server/bind/plan.js';
import { planBind } from '../../src/server/bind/plan.js';
import { planUnplug } from '../../src/server/unbind.js';
import type { BindRequest } from '../../src/server/bind/types.js';
import { KvModel } from '../harness/kv-model.js';

const HOST = 'h1';
/** phys1: vhosts 0, 1; phys2: vhosts 2, 3. */
const CONFIG = planHostLayout({ mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfe00' }).config;
const SLOTS = ['phys1/0', 'phys1/1', 'phys2/2', 'phys2/3'];
const LAYOUT_SLOTS = new Set(SLOTS);
const NOTHING: { has(key: string): boolean } = { has: () => false };
const SEED = Number(process.env.PLAN_SEED ?? 20261201);

function freshHost(extra: Record<string, string> = {}): KvModel {
  const model = new KvModel({
    [keys.configuration(HOST)]: encodeJson(CONFIG),
    [keys.agent(HOST)]: '{}',
  });
  for (const slot of SLOTS) {
    const [physnet, id] = slot.split('/') as [string, string];
    model.put(keys.vhost(HOST, physnet, Number(id)), 'None');
  }
  for (const [key, value] of Object.entries(extra)) model.put(key, value);
  return model;
}

function view(model: KvModel, portId: string): PortView {
  return { host: hostFromKvs(HOST, model.keyValues()), portId, revision: model.revision };
}

function plan(model: KvModel, portId: string, wanted: Wanted, avoid = NOTHING): Plan {
  return planBind(view(model, portId), wanted, { layoutSlots: LAYOUT_SLOTS, avoid });
}

const flat1 = (mac = 'fa:16:3e:00:00:01'): Wanted => ({ macAddress: mac, physnet: 'phys1' });

/** Writes the plan into the model if its guards hold (as etcd would). */
function apply(model: KvModel, chosen: Plan): boolean {
  if (chosen.kind !== 'write' && chosen.kind !== 'request-unplug') return false;
  return model.txn(chosen.conditions, chosen.operations);
}

/** Plays the agent: `up` for every plug, the end of every unplug. */
function agentAnswers(model: KvModel): void {
  const host = hostFromKvs(HOST, model.keyValues());
  for (const port of host.ports.values()) {
    const action = valueOf(port.action);
    if (action === 'plug' && port.bindPort) model.put(keys.portStatus(HOST, port.portId), 'up');
    if (action === 'unplug') {
      for (const slot of host.slotsHeldBy(port.portId)) model.put(slot.key, 'None');
      for (const key of [keys.bindPort, keys.action, keys.portStatus])
        model.delete(key(HOST, port.portId));
    }
  }
}

describe('bind planning (pure): planBind', () => {
  test('picks the first free slot of the physnet that no bind of this process is claiming', () => {
    const model = freshHost();
    const chosen = plan(model, 'p1', flat1(), new Set([keys.vhost(HOST, 'phys1', 0)]));
    assert.equal(chosen.kind, 'write');
    assert.equal(chosen.kind === 'write' && chosen.claim, keys.vhost(HOST, 'phys1', 1));
    assert.ok(apply(model, chosen));
    assert.equal(model.get(keys.vhost(HOST, 'phys1', 1)), 'p1');
    assert.equal(model.get(keys.action(HOST, 'p1')), 'plug');
    assert.deepEqual(JSON.parse(model.get(keys.bindPort(HOST, 'p1')) ?? ''), {
      mac_address: 'fa:16:3e:00:00:01',
      vhost_id: 1,
    });
  });

  test('waits for a plug it requested, answers at once when it is up', () => {
    const model = freshHost();
    assert.ok(apply(model, plan(model, 'p1', flat1())));
    assert.equal(plan(model, 'p1', flat1()).kind, 'wait');
    model.put(keys.portStatus(HOST, 'p1'), 'up');
    assert.deepEqual(plan(model, 'p1', flat1()), {
      kind: 'bound',
      vhostId: 0,
      slotKey: keys.vhost(HOST, 'phys1', 0),
    });
  });

  test('a bind_port written with an upper-case MAC matches the same port bound in lower case', () => {
    const model = freshHost({
      [keys.vhost(HOST, 'phys1', 0)]: 'p1',
      [keys.bindPort(HOST, 'p1')]: '{"mac_address": "FA:16:3E:00:00:01", "vhost_id": 0}',
      [keys.action(HOST, 'p1')]: 'plug',
      [keys.portStatus(HOST, 'p1')]: 'up',
    });
    assert.equal(plan(model, 'p1', flat1()).kind, 'bound');
  });

  test('a malformed MAC in bind_port is not a binding: it is rewritten, the slot kept', () => {
    const model = freshHost({
      [keys.vhost(HOST, 'phys1', 1)]: 'p1',
      [keys.bindPort(HOST, 'p1')]: '{"mac_address": "fa:16:3e:00:00", "vhost_id": 1}',
      [keys.action(HOST, 'p1')]: 'plug',
      [keys.portStatus(HOST, 'p1')]: 'up',
    });
    const chosen = plan(model, 'p1', flat1());
    assert.equal(chosen.kind, 'write');
    assert.ok(apply(model, chosen));
    assert.equal(
      valueOf(view(model, 'p1').host.ports.get('p1')?.bindPort)?.mac_address,
      'fa:16:3e:00:00:01',
    );
    assert.equal(model.get(keys.portStatus(HOST, 'p1')), undefined, 'the stale up is removed');
    assert.equal(model.get(keys.vhost(HOST, 'phys1', 1)), 'p1');
  });

  test('plugged with another VLAN, MAC or physnet: the agent must unplug it first', () => {
    const model = freshHost();
    assert.ok(apply(model, plan(model, 'p1', flat1())));
    model.put(keys.portStatus(HOST, 'p1'), 'up');
    for (const other of [
      { ...flat1(), vlanId: 7 },
      flat1('fa:16:3e:00:00:09'),
      { macAddress: 'fa:16:3e:00:00:01', physnet: 'phys2' },
    ]) {
      assert.equal(plan(model, 'p1', other).kind, 'request-unplug');
    }
  });

  test('an unplug in progress is waited for; a leftover unplug without bind_port is replaced', () => {
    const model = freshHost({
      [keys.vhost(HOST, 'phys1', 0)]: 'p1',
      [keys.action(HOST, 'p1')]: 'unplug',
    });
    assert.deepEqual(plan(model, 'p1', flat1()), { kind: 'await-unplug', orphan: true });
    const replaced = planBind(view(model, 'p1'), flat1(), {
      layoutSlots: LAYOUT_SLOTS,
      avoid: NOTHING,
      unplugLeftover: true,
    });
    assert.equal(replaced.kind, 'write');
    model.put(keys.bindPort(HOST, 'p1'), '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 0}');
    assert.deepEqual(plan(model, 'p1', flat1()), { kind: 'await-unplug', orphan: false });
  });

  test('never hands out a slot outside the layout, or one holding something unreadable', () => {
    const model = freshHost({
      [keys.vhost(HOST, 'phys1', 0)]: '',
      [keys.vhost(HOST, 'phys1', 1)]: 'None',
      [keys.vhost(HOST, 'phys1', 9)]: 'None',
    });
    const chosen = plan(model, 'p1', flat1());
    assert.equal(chosen.kind === 'write' && chosen.vhostId, 1);
    assert.ok(apply(model, chosen));
    const next = plan(model, 'p2', flat1());
    assert.equal(next.kind, 'no-free-slot', 'vhost 9 is not in the layout, vhost 0 holds ""');
  });

  test('property: every bind leaves exactly one slot per port, never two ports on one slot', () => {
    const step = fc.record({
      port: fc.constantFrom('pa', 'pb', 'pc', 'pd', 'pe'),
      physnet: fc.constantFrom('phys1', 'phys2'),
      vlan: fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined }),
      mac: fc.constantFrom('fa:16:3e:00:00:01', 'fa:16:3e:00:00:02'),
      answer: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const model = freshHost();
        for (const s of steps) {
          const wanted: Wanted = {
            macAddress: s.mac,
            physnet: s.physnet,
            ...(s.vlan ? { vlanId: s.vlan } : {}),
          };
          const chosen = plan(model, s.port, wanted);
          apply(model, chosen);
          if (s.answer) agentAnswers(model);
          const host = hostFromKvs(HOST, model.keyValues());
          const holders = host
            .sortedSlots()
            .map((slot) => heldBy(slot.holder))
            .filter((id) => id !== undefined);
          assert.equal(new Set(holders).size, holders.length, 'a port holds two slots');
          for (const port of host.ports.values()) {
            const bindPort = valueOf(port.bindPort);
            if (!bindPort) continue;
            const held = host.slotsHeldBy(port.portId);
            assert.deepEqual(
              held.map((slot) => slot.vhostId),
              [bindPort.vhost_id],
              `bind_port of ${port.portId} names its slot`,
            );
          }
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('property: applying a write plan yields the wanted binding, and re-planning plans nothing', () => {
    const wantedArb = fc.record({
      macAddress: fc.constantFrom('fa:16:3e:00:00:01', 'fa:16:3e:aa:bb:cc'),
      physnet: fc.constantFrom('phys1', 'phys2'),
      vlanId: fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(wantedArb, fc.subarray(SLOTS), (raw, taken) => {
        const wanted: Wanted = {
          macAddress: raw.macAddress,
          physnet: raw.physnet,
          ...(raw.vlanId ? { vlanId: raw.vlanId } : {}),
        };
        const model = freshHost();
        for (const slot of taken) {
          const [physnet, id] = slot.split('/') as [string, string];
          model.put(keys.vhost(HOST, physnet, Number(id)), `other-${id}`);
        }
        const chosen = plan(model, 'p', wanted);
        const free = SLOTS.filter(
          (slot) => slot.startsWith(`${wanted.physnet}/`) && !taken.includes(slot),
        );
        if (free.length === 0) return assert.equal(chosen.kind, 'no-free-slot');
        assert.equal(chosen.kind, 'write');
        assert.ok(apply(model, chosen), 'its guards hold on the state it was planned from');
        const again = plan(model, 'p', wanted);
        assert.equal(again.kind, 'wait', 'a matching state needs no write');
        const bindPort = valueOf(view(model, 'p').host.ports.get('p')?.bindPort);
        assert.deepEqual(bindPort, {
          mac_address: wanted.macAddress,
          vhost_id: bindPort?.vhost_id,
          ...(wanted.vlanId ? { vlan_id: wanted.vlanId } : {}),
        });
        assert.ok(free.includes(`${wanted.physnet}/${bindPort?.vhost_id}`));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('property: a plan made from a stale view never applies over a newer state', () => {
    fc.assert(
      fc.property(fc.constantFrom('pa', 'pb'), fc.constantFrom(...SLOTS), (other, slot) => {
        const model = freshHost();
        const stale = plan(model, 'p', flat1());
        const [physnet, id] = slot.split('/') as [string, string];
        model.put(keys.vhost(HOST, physnet, Number(id)), other);
        if (stale.kind === 'write' && stale.claim === keys.vhost(HOST, physnet, Number(id))) {
          assert.equal(
            apply(model, stale),
            false,
            'the claim must fail when the slot was taken meanwhile',
          );
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

describe('bind planning (pure): host checks', () => {
  const request = (extra: Partial<BindRequest> = {}): BindRequest => ({
    portId: 'p',
    macAddress: 'fa:16:3e:00:00:01',
    host: HOST,
    segments: [{ id: 's', network_type: 'flat', physical_network: 'phys1' }],
    ...extra,
  });

  test('refuses a host without configuration, a segment SPP does not serve, a dead agent', () => {
    const none = decideHost(request(), hostFromKvs(HOST, []), 'true');
    assert.equal('refusal' in none && none.refusal.reason, 'not_spp_host');
    const model = freshHost();
    const host = hostFromKvs(HOST, model.keyValues());
    const vxlan = decideHost(
      request({ segments: [{ id: 'x', network_type: 'vxlan' }] }),
      host,
      'true',
    );
    assert.equal('refusal' in vxlan && vxlan.refusal.reason, 'no_segment');
    model.delete(keys.agent(HOST));
    const down = decideHost(request(), hostFromKvs(HOST, model.keyValues()), 'true');
    assert.equal('refusal' in down && down.refusal.reason, 'agent_down');
    assert.ok(
      !('refusal' in decideHost(request(), hostFromKvs(HOST, model.keyValues()), 'false')),
      'gate off: Neutron decides',
    );
    const neutronDown = decideHost(request({ agents: [{ alive: false }] }), host, 'true');
    assert.equal('refusal' in neutronDown && neutronDown.refusal.reason, 'agent_down');
  });

  test('auto: a host that ran our agent is judged by etcd, one that never did by Neutron', () => {
    const model = freshHost();
    model.delete(keys.agent(HOST));
    const original = hostFromKvs(HOST, model.keyValues());
    const alive = [{ alive: true }];
    assert.ok(!('refusal' in decideHost(request({ agents: alive }), original, 'auto')));
    const noView = decideHost(request(), original, 'auto');
    assert.equal('refusal' in noView && noView.refusal.reason, 'agent_down');
    model.put(keys.agentKind(HOST), JSON.stringify({ agent: 'networking-spp', version: '1' }));
    const oursDead = decideHost(
      request({ agents: alive }),
      hostFromKvs(HOST, model.keyValues()),
      'auto',
    );
    assert.equal('refusal' in oursDead && oursDead.refusal.reason, 'agent_down');
    assert.match('refusal' in oursDead ? oursDead.refusal.detail : '', /runs our agent/);
  });

  test('refuses at once when the agent reports SPP unreachable, and binds again once it is back', () => {
    const model = freshHost();
    const record = { host: HOST, version: '1', started_at: 'then', pid: 1, physnets: {} };
    const problem = 'spp-ctl at http://127.0.0.1:7777 does not answer: connect ECONNREFUSED';
    const down = { ...record, spp: { state: 'unreachable', problem, since: 'now' } };
    model.put(keys.agent(HOST), JSON.stringify(down));
    const refused = decideHost(request(), hostFromKvs(HOST, model.keyValues()), 'true');
    assert.equal('refusal' in refused && refused.refusal.reason, 'spp_unreachable');
    assert.match('refusal' in refused ? refused.refusal.detail : '', /ECONNREFUSED/);
    model.put(keys.agent(HOST), JSON.stringify({ ...record, spp: { state: 'ok' } }));
    assert.ok(!('refusal' in decideHost(request(), hostFromKvs(HOST, model.keyValues()), 'true')));
  });

  test('an unreadable configuration is an error naming its key', () => {
    const host = hostFromKvs(
      HOST,
      new KvModel({ [keys.configuration(HOST)]: '{"vf": 1}' }).keyValues(),
    );
    const decision = decideHost(request(), host, 'false');
    assert.ok('refusal' in decision);
    assert.equal(decision.refusal.reason, 'error');
    assert.match(decision.refusal.detail, /configuration\/h1: vf/);
  });

  test('selects the first flat or vlan segment on a host physnet', () => {
    const chosen = selectSegment(
      [
        { id: 'a', network_type: 'vxlan', segmentation_id: 4 },
        { id: 'b', network_type: 'vlan', physical_network: 'phys9', segmentation_id: 5 },
        { id: 'c', network_type: 'VLAN', physical_network: 'phys2', segmentation_id: 6 },
        { id: 'd', network_type: 'flat', physical_network: 'phys1' },
      ],
      new Set(['phys1', 'phys2']),
    );
    assert.deepEqual(chosen && [chosen.segment.id, chosen.physnet, chosen.vlanId], [
      'c',
      'phys2',
      6,
    ]);
    assert.equal(
      selectSegment(
        [{ id: 'v', network_type: 'vlan', physical_network: 'phys1', segmentation_id: 0 }],
        new Set(['phys1']),
      ),
      undefined,
    );
  });
});

describe('unplug planning (pure)', () => {
  test('an unplug request removes our plug marker with it (an original agent would leave it)', () => {
    const model = freshHost({
      [keys.vhost(HOST, 'phys1', 0)]: 'p',
      [keys.bindPort(HOST, 'p')]: encodeJson({ mac_address: 'fa:16:3e:00:00:01', vhost_id: 0 }),
      [keys.action(HOST, 'p')]: 'plug',
      [keys.portStatus(HOST, 'p')]: 'up',
      [keys.plugRequest(HOST, 'p')]: 'networking-spp',
    });
    const unplug = planUnplug(view(model, 'p'));
    assert.equal(unplug.kind, 'txn');
    assert.equal(unplug.kind === 'txn' && unplug.result, 'unplug_requested');
    assert.ok(unplug.kind === 'txn' && model.txn(unplug.conditions, unplug.operations));
    assert.equal(model.get(keys.action(HOST, 'p')), 'unplug');
    assert.equal(model.get(keys.plugRequest(HOST, 'p')), undefined);
    assert.equal(model.get(keys.vhost(HOST, 'phys1', 0)), 'p', 'the agent frees the slot');
  });
});
