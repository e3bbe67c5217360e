/**
 * The full sync during live migrations (pure plan, in-memory etcd): a port may hold a slot on
 * two hosts at once, and Neutron lists every binding of it (active and inactive) by host.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { keys } from '../../src/etcd/keys.js';
import { encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { isUp, valueOf } from '../../src/snapshot/model.js';
import { hostsFromKvs } from '../../src/snapshot/read.js';
import type { SyncPort } from '../../src/server/sync/plan.js';
import { planSync } from '../../src/server/sync/plan.js';
import { KvModel } from '../harness/kv-model.js';

const CONFIG = planHostLayout({ mappings: '00:04.0#phys1#4#0x3ffe' }).config;
const HOSTS = ['ha', 'hb', 'hc'] as const;
const SEED = Number(process.env.PLAN_SEED ?? 20261202);

function etcd(): KvModel {
  const model = new KvModel();
  for (const host of HOSTS) {
    model.put(keys.configuration(host), encodeJson(CONFIG));
    for (const id of [0, 1, 2, 3]) model.put(keys.vhost(host, 'phys1', id), 'None');
  }
  return model;
}

const listed = (id: string, host: string, n: number): SyncPort => ({
  id,
  host,
  mac_address: `fa:16:3e:00:01:${n.toString(16).padStart(2, '0')}`,
  segment: { id: 's1', network_type: 'flat', physical_network: 'phys1' },
});

/** The agents: up for plugs, the end of unplugs. */
function agents(model: KvModel): void {
  for (const host of hostsFromKvs(model.keyValues()).values()) {
    for (const port of host.ports.values()) {
      const action = valueOf(port.action);
      if (action === 'plug' && port.bindPort && !isUp(port.status))
        model.put(keys.portStatus(host.host, port.portId), 'up');
      if (action === 'unplug') {
        for (const slot of host.slotsHeldBy(port.portId)) model.put(slot.key, 'None');
        for (const key of [keys.bindPort, keys.action, keys.portStatus])
          model.delete(key(host.host, port.portId));
      }
    }
  }
}

/** Sync rounds (each followed by the agents) until nothing changes; returns the unplugged pairs. */
function syncUntilStable(model: KvModel, ports: SyncPort[]): Set<string> {
  const unplugged = new Set<string>();
  for (let round = 0; round < 10; round++) {
    const plan = planSync({
      hosts: hostsFromKvs(model.keyValues()),
      revision: model.revision,
      ports,
      isBinding: () => false,
      ageOf: () => 3_600_000,
      graceMs: 60_000,
      reserved: { has: () => false },
    });
    const held = plan.actions.filter((action) => model.txn(action.conditions, action.operations));
    for (const action of held) {
      if (action.category !== 'plug_requested') unplugged.add(`${action.host}/${action.portId}`);
    }
    agents(model);
    if (held.length === 0) return unplugged;
  }
  throw new Error('the sync did not settle within 10 rounds');
}

/** Where each port is plugged and up, per host: `host/port` -> slot key. */
function plugged(model: KvModel): Map<string, string> {
  const result = new Map<string, string>();
  for (const host of hostsFromKvs(model.keyValues()).values()) {
    for (const port of host.ports.values()) {
      const [slot, ...more] = host.slotsHeldBy(port.portId);
      assert.equal(more.length, 0, `${port.portId} holds one slot on ${host.host}`);
      if (slot && isUp(port.status)) result.set(`${host.host}/${port.portId}`, slot.key);
    }
  }
  return result;
}

type Phase = 'source' | 'in-flight' | 'activated' | 'source-deleted' | 'aborted';

describe('full sync with ports bound on two hosts (live migration)', () => {
  test('in flight: both bindings listed, both kept; aborted: the target freed, the source kept', () => {
    const model = etcd();
    syncUntilStable(model, [listed('p1', 'ha', 1), listed('p1', 'hb', 1)]);
    assert.deepEqual([...plugged(model).keys()].sort(), ['ha/p1', 'hb/p1']);
    assert.deepEqual(
      syncUntilStable(model, [listed('p1', 'ha', 1), listed('p1', 'hb', 1)]).size,
      0,
    );
    // DELETE /v2.0/ports/p1/bindings/hb: Neutron lists only ha.
    const unplugged = syncUntilStable(model, [listed('p1', 'ha', 1)]);
    assert.deepEqual([...unplugged], ['hb/p1']);
    assert.deepEqual([...plugged(model).keys()], ['ha/p1']);
  });

  test('property: listed bindings are never unplugged, unlisted ones always freed, no slot shared', () => {
    const migration = fc.record({
      from: fc.constantFrom(...HOSTS),
      to: fc.constantFrom(...HOSTS),
      phase: fc.constantFrom<Phase>(
        'source',
        'in-flight',
        'activated',
        'source-deleted',
        'aborted',
      ),
    });
    fc.assert(
      fc.property(fc.array(migration, { minLength: 1, maxLength: 4 }), (migrations) => {
        const model = etcd();
        const ports = migrations.map((m, i) => ({ ...m, id: `p${i}`, n: i }));
        // Before: each port bound on its source and, from "in-flight" on, on its target too.
        const before = ports.flatMap((p) => [
          listed(p.id, p.from, p.n),
          ...(p.phase !== 'source' && p.to !== p.from ? [listed(p.id, p.to, p.n)] : []),
        ]);
        syncUntilStable(model, before);
        const plugsBefore = plugged(model);
        // Now: what Neutron lists in each phase (activation clears the source's levels).
        const now = ports.flatMap((p) => {
          const target = p.to !== p.from ? [listed(p.id, p.to, p.n)] : [];
          switch (p.phase) {
            case 'source':
            case 'aborted':
              return [listed(p.id, p.from, p.n)];
            case 'in-flight':
              return [listed(p.id, p.from, p.n), ...target];
            case 'activated':
            case 'source-deleted':
              return p.to !== p.from ? target : [listed(p.id, p.from, p.n)];
          }
        });
        const unplugged = syncUntilStable(model, now);
        const wanted = new Set(now.map((p) => `${p.host}/${p.id}`));
        for (const pair of unplugged) assert.ok(!wanted.has(pair), `${pair} is listed`);
        const plugs = plugged(model);
        assert.deepEqual([...plugs.keys()].sort(), [...wanted].sort());
        for (const pair of wanted) {
          if (plugsBefore.has(pair)) assert.equal(plugs.get(pair), plugsBefore.get(pair), pair);
        }
        // Nothing of an unlisted binding is left, and no slot is held twice.
        for (const host of hostsFromKvs(model.keyValues()).values()) {
          for (const portId of host.ports.keys()) assert.ok(wanted.has(`${host.host}/${portId}`));
          const holders = [...host.slots.values()]
            .map((slot) => slot.holder)
            .filter((holder) => !holder.free);
          assert.equal(
            holders.length,
            [...wanted].filter((w) => w.startsWith(`${host.host}/`)).length,
          );
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});
