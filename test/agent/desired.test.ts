import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { deriveDesired } from '../../src/agent/desired.js';
import { indexLayout } from '../../src/agent/layout-index.js';
import { keys } from '../../src/etcd/keys.js';
import type { KeyValue } from '../../src/etcd/store.js';
import { encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { hostFromKvs } from '../../src/snapshot/read.js';

const HOST = 'c1';
/** phys1: vhosts 0, 1 (vf 1); phys2: vhosts 2, 3 (vf 2). */
const LAYOUT = indexLayout(
  planHostLayout({ mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfe00' }).config,
);
const PHYSNET = (vhostId: number) => (vhostId < 2 ? 'phys1' : 'phys2');
const SEED = Number(process.env.PLAN_SEED ?? 20261201);

let revision = 100;
function kv(key: string, value: string): KeyValue {
  revision++;
  return { key, value, modRevision: revision, createRevision: revision, lease: '0' };
}

function slots(values: Record<number, string> = {}): KeyValue[] {
  return [0, 1, 2, 3].map((id) => kv(keys.vhost(HOST, PHYSNET(id), id), values[id] ?? 'None'));
}

function port(
  portId: string,
  vhostId: number,
  action: string,
  extra: { mac?: string; vlanId?: number; up?: boolean } = {},
) {
  return [
    kv(
      keys.bindPort(HOST, portId),
      encodeJson({
        mac_address: extra.mac ?? 'fa:16:3e:00:00:01',
        vhost_id: vhostId,
        ...(extra.vlanId ? { vlan_id: extra.vlanId } : {}),
      }),
    ),
    kv(keys.action(HOST, portId), action),
    ...(extra.up ? [kv(keys.portStatus(HOST, portId), 'up')] : []),
  ];
}

const derive = (kvs: KeyValue[]) => deriveDesired(hostFromKvs(HOST, kvs), LAYOUT);

describe("the agent's desired state (deriveDesired, pure)", () => {
  test('a plug carries its MAC, normalised to lower case, and its VLAN', () => {
    const desired = derive([
      ...slots({ 1: 'p1' }),
      ...port('p1', 1, 'plug', { mac: 'FA:16:3E:AB:CD:EF', vlanId: 42 }),
    ]);
    assert.deepEqual(desired.vhosts.get(1), {
      kind: 'carry',
      portId: 'p1',
      mac: 'fa:16:3e:ab:cd:ef',
      vlanId: 42,
    });
    assert.deepEqual(
      desired.plugs.map((p) => [p.portId, p.vhostId, p.reportedUp]),
      [['p1', 1, false]],
    );
    assert.deepEqual(desired.vhosts.get(0), { kind: 'empty' });
  });

  test('an unknown action value is skipped, the other ports of the host are unaffected', () => {
    const desired = derive([
      ...slots({ 0: 'good', 2: 'odd' }),
      ...port('good', 0, 'plug'),
      ...port('odd', 2, 'replug'),
    ]);
    assert.deepEqual(
      desired.problems.map((p) => [p.portId, p.reason]),
      [['odd', 'unexpected action value "replug"']],
    );
    assert.equal(desired.vhosts.get(0)?.kind, 'carry');
    assert.equal(desired.vhosts.get(2)?.kind, 'keep', 'its slot is held: hands off');
  });

  test('two ports on one vhost: the one holding the slot wins; if neither holds it, neither is plugged', () => {
    const held = derive([
      ...slots({ 1: 'b' }),
      ...port('a', 1, 'plug'),
      ...port('b', 1, 'plug', { mac: 'fa:16:3e:00:00:02' }),
    ]);
    assert.deepEqual(held.vhosts.get(1), { kind: 'carry', portId: 'b', mac: 'fa:16:3e:00:00:02' });
    assert.deepEqual(
      held.problems.map((p) => [p.portId, p.reason]),
      [['a', 'vhost 1 is already taken by port b']],
    );
    const none = derive([...slots(), ...port('a', 1, 'plug'), ...port('b', 1, 'plug')]);
    assert.deepEqual(none.vhosts.get(1), { kind: 'keep' });
    assert.deepEqual(none.problems.map((p) => p.portId).sort(), ['a', 'b']);
    assert.deepEqual(none.plugs, []);
  });

  test('unplugs name the slot the port holds; a vhost outside the layout is a problem', () => {
    const desired = derive([
      ...slots({ 3: 'u' }),
      ...port('u', 3, 'unplug'),
      ...port('far', 9, 'plug'),
    ]);
    assert.deepEqual(desired.unplugs, [
      {
        portId: 'u',
        vhostId: 3,
        bindPortRevision: desired.unplugs[0]?.bindPortRevision,
        slot: { physnet: 'phys2', vhostId: 3 },
      },
    ]);
    assert.equal(desired.vhosts.get(3)?.kind, 'empty', 'held by a port being unplugged');
    assert.match(
      desired.problems.find((p) => p.portId === 'far')?.reason ?? '',
      /vhost 9 is not in the host's layout/,
    );
  });

  test('a plug whose bind_port is missing is a transient problem; an unreadable one is not', () => {
    const desired = derive([
      ...slots(),
      kv(keys.action(HOST, 'early'), 'plug'),
      kv(keys.action(HOST, 'broken'), 'plug'),
      kv(keys.bindPort(HOST, 'broken'), '{"mac_address": "zz", "vhost_id": 0}'),
    ]);
    const byPort = new Map(desired.problems.map((p) => [p.portId, p]));
    assert.equal(byPort.get('early')?.transient, true);
    assert.equal(byPort.get('broken')?.transient, undefined);
    assert.match(byPort.get('broken')?.reason ?? '', /mac_address/);
  });

  test('property: never two ports on one vhost, only plugs are carried, and key order does not matter', () => {
    const portArb = fc.record({
      id: fc.constantFrom('pa', 'pb', 'pc', 'pd'),
      vhost: fc.integer({ min: 0, max: 4 }),
      action: fc.constantFrom('plug', 'unplug', 'bogus'),
      holds: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(portArb, { selector: (p) => p.id, maxLength: 4 }),
        fc.integer(),
        (ports, shuffleSeed) => {
          const slotValues: Record<number, string> = {};
          for (const p of ports)
            if (p.holds !== undefined && !(p.holds in slotValues)) slotValues[p.holds] = p.id;
          const kvs = [
            ...slots(slotValues),
            ...ports.flatMap((p) => port(p.id, p.vhost, p.action)),
          ];
          const desired = derive(kvs);
          const carried = [...desired.vhosts.values()].flatMap((v) =>
            v.kind === 'carry' ? [v.portId] : [],
          );
          assert.equal(new Set(carried).size, carried.length, 'a port carried on two vhosts');
          for (const id of carried) assert.equal(ports.find((p) => p.id === id)?.action, 'plug');
          for (const [vhostId, wish] of desired.vhosts) {
            if (wish.kind !== 'carry') continue;
            const holder = slotValues[vhostId];
            assert.ok(
              holder === undefined ||
                holder === wish.portId ||
                !ports.some((p) => p.id === holder && p.vhost === vhostId && p.action === 'plug'),
              'the slot holder wins',
            );
          }
          const shuffled = [...kvs].sort(
            (a, b) =>
              ((a.modRevision * 7919 + shuffleSeed) % 101) -
              ((b.modRevision * 7919 + shuffleSeed) % 101),
          );
          assert.deepEqual(derive(shuffled).vhosts, desired.vhosts);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});
