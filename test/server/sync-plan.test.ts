import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { keys } from '../../src/etcd/keys.js';
import { encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { heldBy, valueOf } from '../../src/snapshot/model.js';
import { hostsFromKvs } from '../../src/snapshot/read.js';
import type { SyncInput, SyncPlan, SyncPort } from '../../src/server/sync/plan.js';
import { planSync } from '../../src/server/sync/plan.js';
import { KvModel } from '../harness/kv-model.js';

const CONFIG = planHostLayout({ mappings: '00:04.0#phys1#3#0x3fe,00:05.0#phys2#2#0xfe000' }).config;
const HOSTS = ['ha', 'hb'];
const SEED = Number(process.env.PLAN_SEED ?? 20261201);
const MAC = (n: number) => `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`;

function etcd(): KvModel {
  const model = new KvModel();
  for (const host of HOSTS) {
    model.put(keys.configuration(host), encodeJson(CONFIG));
    for (const id of [0, 1, 2]) model.put(keys.vhost(host, 'phys1', id), 'None');
    for (const id of [3, 4]) model.put(keys.vhost(host, 'phys2', id), 'None');
  }
  return model;
}

function input(model: KvModel, ports: SyncPort[], extra: Partial<SyncInput> = {}): SyncInput {
  return {
    hosts: hostsFromKvs(model.keyValues()),
    revision: model.revision,
    ports,
    isBinding: () => false,
    ageOf: () => 3_600_000,
    graceMs: 60_000,
    reserved: { has: () => false },
    ...extra,
  };
}

function flatPort(id: string, host: string, n: number): SyncPort {
  return {
    id,
    host,
    mac_address: MAC(n),
    segment: { id: 's1', network_type: 'flat', physical_network: 'phys1' },
  };
}

/** Applies every action in order (each guarded), like the executor; returns the ones that held. */
function apply(model: KvModel, plan: SyncPlan): number {
  return plan.actions.filter((action) => model.txn(action.conditions, action.operations)).length;
}

/** Plays the agents: up for plugs, the end of unplugs. */
function agents(model: KvModel): void {
  for (const host of hostsFromKvs(model.keyValues()).values()) {
    for (const port of host.ports.values()) {
      const action = valueOf(port.action);
      if (action === 'plug' && port.bindPort)
        model.put(keys.portStatus(host.host, port.portId), 'up');
      if (action === 'unplug') {
        for (const slot of host.slotsHeldBy(port.portId)) model.put(slot.key, 'None');
        for (const key of [keys.bindPort, keys.action, keys.portStatus])
          model.delete(key(host.host, port.portId));
      }
    }
  }
}

describe('full sync as a pure plan', () => {
  test('ports Neutron has and etcd lacks get distinct slots: the plan keeps track of its own claims', () => {
    const model = etcd();
    const ports = [flatPort('p1', 'ha', 1), flatPort('p2', 'ha', 2), flatPort('p3', 'ha', 3)];
    const plan = planSync(input(model, ports));
    const claims = plan.actions.map((action) => action.claim);
    assert.equal(claims.length, 3);
    assert.equal(new Set(claims).size, 3, `three different slots: ${claims.join(', ')}`);
    assert.equal(apply(model, plan), 3, 'every guard holds when applied in order');
  });

  test('leaves alone ports binding now or changed within the grace period', () => {
    const model = etcd();
    model.put(keys.vhost('ha', 'phys1', 0), 'stale');
    model.put(keys.bindPort('ha', 'stale'), encodeJson({ mac_address: MAC(9), vhost_id: 0 }));
    model.put(keys.action('ha', 'stale'), 'plug');
    const recent = planSync(input(model, [], { ageOf: () => 5_000 }));
    assert.deepEqual(recent.actions, []);
    assert.equal(recent.findings[0]?.entry.reason, 'recent');
    const binding = planSync(
      input(model, [], { isBinding: (host, port) => host === 'ha' && port === 'stale' }),
    );
    assert.equal(binding.findings[0]?.entry.reason, 'binding');
    const old = planSync(input(model, []));
    assert.equal(old.actions[0]?.category, 'unplug_requested');
  });

  test('reports what it cannot repair: not an SPP host, no segment it serves, no free slot', () => {
    const model = etcd();
    const ports: SyncPort[] = [
      flatPort('x1', 'no-spp', 1),
      { ...flatPort('x2', 'ha', 2), segment: { id: 's', network_type: 'vxlan' } },
      ...[3, 4, 5, 6].map((n) => flatPort(`f${n}`, 'hb', n)),
    ];
    const plan = planSync(input(model, ports));
    const reasons = plan.findings
      .map((finding) => `${finding.entry.port_id}:${finding.entry.reason}`)
      .sort();
    assert.deepEqual(reasons, ['f6:no_free_vhost', 'x1:not_spp_host', 'x2:no_segment']);
  });

  test('a slot holding "" or outside the layout breaks nothing and is never handed out', () => {
    // Issue 17, item 4: a slot holding '' used to fail the whole sync request (400).
    const model = etcd();
    model.put(keys.vhost('ha', 'phys1', 0), '');
    model.put(keys.vhost('ha', 'phys1', 9), 'None');
    const ports = [1, 2, 3].map((n) => flatPort(`e${n}`, 'ha', n));
    ports.push(flatPort('other', 'hb', 9));
    const plan = planSync(input(model, ports));
    const claims = plan.actions.flatMap((action) => (action.claim ? [action.claim] : [])).sort();
    assert.deepEqual(claims, [
      keys.vhost('ha', 'phys1', 1),
      keys.vhost('ha', 'phys1', 2),
      keys.vhost('hb', 'phys1', 0),
    ]);
    const reasons = plan.findings.map((finding) => finding.entry.reason);
    assert.deepEqual(reasons, ['no_free_vhost']);
    assert.equal(apply(model, plan), 3, 'every action holds');
  });

  test('property: applying the plan (and the agents answering) makes etcd match Neutron', () => {
    const portArb = fc.record({
      id: fc.constantFrom('pa', 'pb', 'pc', 'pd', 'pe'),
      host: fc.constantFrom(...HOSTS),
      n: fc.integer({ min: 1, max: 3 }),
      vlan: fc.option(fc.integer({ min: 100, max: 102 }), { nil: undefined }),
    });
    const leftoverArb = fc.record({
      id: fc.constantFrom('pa', 'pb', 'stale1', 'stale2'),
      host: fc.constantFrom(...HOSTS),
      slot: fc.constantFrom(0, 1, 2),
      withBindPort: fc.boolean(),
      action: fc.constantFrom('plug', 'unplug', undefined),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(portArb, { selector: (p) => p.id, maxLength: 5 }),
        fc.array(leftoverArb, { maxLength: 4 }),
        (rawPorts, leftovers) => {
          const model = etcd();
          for (const left of leftovers) {
            if (hostsFromKvs(model.keyValues()).get(left.host)?.slotsHeldBy(left.id).length)
              continue;
            const slotKey = keys.vhost(left.host, 'phys1', left.slot);
            if (model.get(slotKey) !== 'None') continue;
            model.put(slotKey, left.id);
            if (left.withBindPort)
              model.put(
                keys.bindPort(left.host, left.id),
                encodeJson({ mac_address: MAC(7), vhost_id: left.slot }),
              );
            if (left.action) model.put(keys.action(left.host, left.id), left.action);
          }
          const ports: SyncPort[] = rawPorts.map((p) => ({
            id: p.id,
            host: p.host,
            mac_address: MAC(p.n),
            segment: p.vlan
              ? {
                  id: 'v',
                  network_type: 'vlan',
                  physical_network: 'phys2',
                  segmentation_id: p.vlan,
                }
              : { id: 'f', network_type: 'flat', physical_network: 'phys1' },
          }));
          // A few rounds, as periodic syncs would (an unplug first, a re-plug later).
          for (let round = 0; round < 4; round++) {
            apply(model, planSync(input(model, ports)));
            agents(model);
          }
          const hosts = hostsFromKvs(model.keyValues());
          const wanted = new Set(ports.map((p) => `${p.host}/${p.id}`));
          for (const host of hosts.values()) {
            const holders = host
              .sortedSlots()
              .map((s) => heldBy(s.holder))
              .filter((id) => id !== undefined);
            assert.equal(new Set(holders).size, holders.length, 'no port holds two slots');
            for (const id of holders)
              assert.ok(
                wanted.has(`${host.host}/${id}`),
                `slot held by ${id}, which Neutron does not have on ${host.host}`,
              );
          }
          const capacity: Record<string, number> = { phys1: 3, phys2: 2 };
          const groups = new Map<string, SyncPort[]>();
          for (const port of ports) {
            const group = `${port.host}/${port.segment.physical_network}`;
            groups.set(group, [...(groups.get(group) ?? []), port]);
          }
          for (const [group, members] of groups) {
            const physnet = group.split('/')[1] as string;
            const bound = members.filter((port) => {
              const bindPort = valueOf(hosts.get(port.host)?.ports.get(port.id)?.bindPort);
              if (!bindPort) return false;
              assert.equal(bindPort.mac_address, port.mac_address, `${port.id}: MAC`);
              assert.equal(
                bindPort.vlan_id,
                port.segment.segmentation_id ?? undefined,
                `${port.id}: VLAN`,
              );
              return true;
            });
            assert.equal(
              bound.length,
              Math.min(members.length, capacity[physnet] ?? 0),
              `ports bound in ${group}`,
            );
          }
          const settled = planSync(input(model, ports));
          assert.deepEqual(settled.actions, [], 'a matching state plans nothing');
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
