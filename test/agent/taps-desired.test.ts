import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { deriveDesired } from '../../src/agent/desired.js';
import { indexLayout } from '../../src/agent/layout-index.js';
import { deriveTaps } from '../../src/agent/taps/desired.js';
import { tapTopology } from '../../src/agent/taps/plan.js';
import { keys } from '../../src/etcd/keys.js';
import type { KeyValue } from '../../src/etcd/store.js';
import { FREE, encodeJson } from '../../src/etcd/values.js';
import { hostFromKvs } from '../../src/snapshot/read.js';
import { generatedLayout } from './plan-layouts.js';

/**
 * The safety rule of tap-as-a-service (issue 13), as a property of the pure derivation: over
 * random etcd contents (ports plugged or being unplugged, tap flows with any action, any
 * mirrors and slot holders), every mirror the agent would wire copies the traffic of a port
 * only to a tap flow etcd has for that port: action plug, valid tap_info naming it, the
 * mirror slot held by that flow, both ports carried by the host's vhosts now.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const HOST = 'h';
const config = generatedLayout([2, 2], 3);
const layout = indexLayout(config);
const topology = tapTopology(layout);

const actionArb = fc.constantFrom('plug', 'plug', 'plug', 'plug', 'plug', 'unplug', undefined);
/** Ports 0-3 on vhosts 0-3 (mostly plugged), ports 4-5 anywhere (claims that may collide). */
const portArb = (vhost?: number) =>
  fc.record({
    vhost: vhost === undefined ? fc.nat(3) : fc.constant(vhost),
    action: actionArb,
    slot: fc.boolean(),
  });
const flowArb = fc.record({
  source: fc.oneof(fc.nat(3), fc.nat(5)),
  service: fc.oneof(fc.nat(3), fc.nat(5)),
  mirrorIn: fc.option(fc.nat(2), { nil: null, freq: 4 }),
  mirrorOut: fc.option(fc.nat(3), { nil: null, freq: 2 }),
  action: fc.constantFrom('plug', 'plug', 'plug', 'plug', 'unplug', 'bogus', undefined),
  info: fc.constantFrom(true, true, true, false),
});
const scenarioArb = fc.record({
  ports: fc.tuple(portArb(0), portArb(1), portArb(2), portArb(3), portArb(), portArb()),
  flows: fc.array(flowArb, { maxLength: 4 }),
  /** Per mirror: held by the first flow naming it (as a driver would), by another id, or free. */
  holders: fc.array(fc.constantFrom('claimed', 'claimed', 'other', 'free'), {
    minLength: 3,
    maxLength: 3,
  }),
});

let revision = 1;
const kv = (key: string, value: string): KeyValue => ({
  key,
  value,
  modRevision: ++revision,
  createRevision: revision,
  lease: '0',
});

describe('desired taps (pure)', () => {
  test('a port is only ever copied to a tap etcd has for that port', () => {
    assert.ok(topology);
    let wired = 0;
    fc.assert(
      fc.property(scenarioArb, ({ ports, flows, holders }) => {
        const kvs: KeyValue[] = [kv(keys.configuration(HOST), encodeJson(config))];
        const physnetOf = (vhost: number) => (vhost < 2 ? 'phys1' : 'phys2');
        const slotHolder = new Map<number, string>();
        ports.forEach((port, index) => {
          const id = `p${index}`;
          if (port.slot && !slotHolder.has(port.vhost)) slotHolder.set(port.vhost, id);
          kvs.push(
            kv(
              keys.bindPort(HOST, id),
              encodeJson({ mac_address: `fa:16:3e:00:00:0${index}`, vhost_id: port.vhost }),
            ),
          );
          if (port.action) kvs.push(kv(keys.action(HOST, id), port.action));
        });
        for (let v = 0; v < 4; v++)
          kvs.push(kv(keys.vhost(HOST, physnetOf(v), v), slotHolder.get(v) ?? FREE));
        holders.forEach((holder, mirror) => {
          const claimer = flows.findIndex((f) => f.mirrorIn === mirror || f.mirrorOut === mirror);
          const value =
            holder === 'free' ? FREE : holder === 'other' || claimer < 0 ? 'f9' : `f${claimer}`;
          kvs.push(kv(keys.mirror(HOST, mirror), value));
        });
        flows.forEach((flow, index) => {
          const id = `f${index}`;
          if (flow.info) {
            kvs.push(
              kv(
                keys.tapInfo(HOST, id),
                encodeJson({
                  service_port: `p${flow.service}`,
                  source_port: `p${flow.source}`,
                  mirror_in: flow.mirrorIn,
                  mirror_out: flow.mirrorOut,
                }),
              ),
            );
          }
          if (flow.action) kvs.push(kv(keys.tapAction(HOST, id), flow.action));
        });
        const host = hostFromKvs(HOST, kvs);
        const desired = deriveDesired(host, layout);
        const taps = deriveTaps(host, topology, desired);
        const carried = new Map<number, string>();
        for (const [v, wish] of desired.vhosts)
          if (wish.kind === 'carry') carried.set(v, wish.portId);
        const mirrorsSeen = new Set<number>();
        wired += taps.mirrors.length;
        for (const [mirrorId, tap] of taps.mirrors) {
          assert.ok(!mirrorsSeen.has(mirrorId), 'one flow per mirror');
          mirrorsSeen.add(mirrorId);
          const flowId = tap.flowId as string;
          const keysOf = host.taps.get(flowId);
          assert.equal(keysOf?.action?.raw, 'plug');
          assert.ok(keysOf?.info?.ok);
          const info = keysOf.info.value;
          assert.ok(info.mirror_in === mirrorId || info.mirror_out === mirrorId);
          assert.equal(host.mirrors.get(mirrorId)?.raw, flowId, 'the slot is held by the flow');
          assert.equal(
            carried.get(tap.source),
            info.source_port,
            'the source vhost carries the source port',
          );
          assert.equal(
            carried.get(tap.service),
            info.service_port,
            'the service vhost carries the service port',
          );
          assert.equal(host.ports.get(info.source_port)?.action?.raw, 'plug');
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
    assert.ok(wired > 10, `the runs wired some taps (${wired})`);
    console.log(`# taps wired over the runs: ${wired}`);
  });
});
