import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { AgentLayout } from '../../src/agent/layout-index.js';
import { indexLayout } from '../../src/agent/layout-index.js';
import { planBuild, planMirrors, planVhost, readActualVhost } from '../../src/agent/plan.js';
import type { MirrorTap, PortState, TapCall, TapTopology } from '../../src/agent/taps/plan.js';
import {
  addStatus,
  planTaps,
  readActualMirror,
  tapTopology,
  tappedVhosts,
} from '../../src/agent/taps/plan.js';
import type { HostConfig } from '../../src/layout/schema.js';
import { WIRE_MAC, frame } from './frames.js';
import { defaultLayout, generatedLayout } from './plan-layouts.js';
import { ModelSpp } from './spp-model.js';

/**
 * The tap planner (SYSTEM.md §5.3.1) against the emulator's pure model: the original's
 * exact call sequences, and properties over random layouts and tap sets: what it plans is
 * accepted by SPP, copies frames as each tap's direction says (and nowhere else), plans
 * nothing when planned again, and leaves every spp_vf exactly as before once no tap is left.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = 60;

const macOf = (vhostId: number) => `fa:16:3e:00:01:${vhostId.toString(16).padStart(2, '0')}`;

interface Built {
  spp: ModelSpp;
  layout: AgentLayout;
  topology: TapTopology;
}

/** A host built as the agent builds it, every vhost carrying a flat port. */
function builtHost(config: HostConfig): Built {
  const spp = new ModelSpp(config, '18.08');
  const layout = indexLayout(config);
  for (const vf of layout.vfs) {
    spp.mustApply('vfs', vf.clientId, planBuild(vf, spp.status('vfs', vf.clientId), '18.08'));
    const status = spp.status('vfs', vf.clientId);
    for (const [vhostId, wiring] of vf.wirings) {
      const plan = planVhost(wiring, readActualVhost(status, wiring), {
        kind: 'carry',
        portId: `port-${vhostId}`,
        mac: macOf(vhostId),
      });
      assert.ok('calls' in plan);
      spp.mustApply('vfs', vf.clientId, plan.calls);
    }
  }
  const mirror = layout.mirror;
  assert.ok(mirror);
  spp.mustApply(
    'mirrors',
    mirror.clientId,
    planMirrors(mirror.mirrors, spp.status('mirrors', mirror.clientId)),
  );
  const topology = tapTopology(layout);
  assert.ok(topology);
  return { spp, layout, topology };
}

function portState(built: Built): PortState {
  const state: PortState = new Map();
  const mirror = built.layout.mirror;
  assert.ok(mirror);
  addStatus(state, 'mirrors', built.spp.status('mirrors', mirror.clientId));
  for (const vf of built.layout.vfs) addStatus(state, 'vfs', built.spp.status('vfs', vf.clientId));
  return state;
}

function applyCalls(built: Built, calls: TapCall[]): void {
  for (const { kind, clientId, call } of calls) built.spp.mustApply(kind, clientId, [call]);
}

/** `[process path, component, action, port, dir]` of each call, as §5.3.1 writes them. */
function shown(calls: TapCall[]): string[] {
  return calls.map(
    ({ kind, clientId, call }) =>
      `${kind}/${clientId} ${call.component} ${call.op} ${call.port} ${call.dir}`,
  );
}

/** Every spp_vf's components and classifier table (its `ports` list keeps rings once used). */
function vfStatuses(built: Built): string {
  return JSON.stringify(
    built.layout.vfs.map((vf) => {
      const { components, classifier_table } = built.spp.status('vfs', vf.clientId);
      return { components, classifier_table };
    }),
  );
}

const nicOf = (built: Built, vhostId: number) =>
  (built.layout.vhosts.get(vhostId)?.vf.clientId ?? 0) - 1;

/** Vhosts (VM side) that a frame from the wire to `v`'s MAC reaches. */
function towardsVm(built: Built, v: number): string[] {
  return built.spp.host
    .inject('phy', nicOf(built, v), frame(macOf(v), WIRE_MAC))
    .map((out) => out.port)
    .sort();
}

/** Where a frame sent by `v`'s VM leaves SPP. */
function fromVm(built: Built, v: number): string[] {
  return built.spp.host
    .inject('vhost', v, frame(WIRE_MAC, macOf(v)))
    .map((out) => out.port)
    .sort();
}

describe("tap planner: the original agent's sequences (SYSTEM.md §5.3.1)", () => {
  // NIC 0: vhosts 0, 1 (spp_vf 1); NIC 1: vhost 2 (spp_vf 2); mirrors 0 (ring:6/7), 1 (ring:8/9) on client 3.
  const config = defaultLayout('2#0x70000');

  test('tap-in plug and unplug, same NIC', () => {
    const built = builtHost(config);
    const before = vfStatuses(built);
    const tap: MirrorTap = { direction: 'in', source: 0, service: 1 };
    const plug = planTaps(built.topology, portState(built), [[0, tap]]);
    assert.deepEqual(shown(plug.calls), [
      'vfs/1 forward_1_tx attach ring:6 rx',
      'mirrors/3 mirror_0 attach ring:6 tx',
      'vfs/1 forward_0_tx attach ring:7 rx',
      'mirrors/3 mirror_0 attach ring:7 tx',
      'vfs/1 forward_0_tx detach ring:0 rx',
      'mirrors/3 mirror_0 attach ring:0 rx',
    ]);
    applyCalls(built, plug.calls);
    assert.deepEqual(towardsVm(built, 0), ['vhost:0', 'vhost:1']);
    assert.deepEqual(fromVm(built, 0), ['phy:0']);
    assert.deepEqual(readActualMirror(built.topology, portState(built), 0), {
      kind: 'tap',
      ...tap,
    });
    assert.deepEqual([...tappedVhosts(built.topology, portState(built))].sort(), [0, 1]);
    assert.deepEqual(planTaps(built.topology, portState(built), [[0, tap]]).calls, []);
    const unplug = planTaps(built.topology, portState(built), []);
    assert.deepEqual(shown(unplug.calls), [
      'mirrors/3 mirror_0 detach ring:0 rx',
      'vfs/1 forward_0_tx attach ring:0 rx',
      'mirrors/3 mirror_0 detach ring:7 tx',
      'vfs/1 forward_0_tx detach ring:7 rx',
      'mirrors/3 mirror_0 detach ring:6 tx',
      'vfs/1 forward_1_tx detach ring:6 rx',
    ]);
    applyCalls(built, unplug.calls);
    assert.equal(vfStatuses(built), before);
    assert.deepEqual(towardsVm(built, 0), ['vhost:0']);
  });

  test('tap-out plug and unplug across NICs', () => {
    const built = builtHost(config);
    const before = vfStatuses(built);
    const tap: MirrorTap = { direction: 'out', source: 2, service: 0 };
    const plug = planTaps(built.topology, portState(built), [[1, tap]]);
    assert.deepEqual(shown(plug.calls), [
      'vfs/1 forward_0_tx attach ring:8 rx',
      'mirrors/3 mirror_1 attach ring:8 tx',
      'vfs/2 forward_2_rx detach ring:5 tx',
      'mirrors/3 mirror_1 attach ring:5 tx',
      'mirrors/3 mirror_1 attach ring:9 rx',
      'vfs/2 forward_2_rx attach ring:9 tx',
    ]);
    applyCalls(built, plug.calls);
    assert.deepEqual(fromVm(built, 2), ['phy:1', 'vhost:0']);
    assert.deepEqual(towardsVm(built, 2), ['vhost:2']);
    const unplug = planTaps(built.topology, portState(built), []);
    assert.deepEqual(shown(unplug.calls), [
      'vfs/2 forward_2_rx detach ring:9 tx',
      'mirrors/3 mirror_1 detach ring:9 rx',
      'mirrors/3 mirror_1 detach ring:5 tx',
      'vfs/2 forward_2_rx attach ring:5 tx',
      'mirrors/3 mirror_1 detach ring:8 tx',
      'vfs/1 forward_0_tx detach ring:8 rx',
    ]);
    applyCalls(built, unplug.calls);
    assert.equal(vfStatuses(built), before);
  });

  test('BOTH: tap-in then tap-out, 12 calls each way; a stale tap is removed with the same steps', () => {
    const built = builtHost(config);
    const before = vfStatuses(built);
    const wanted: Array<[number, MirrorTap]> = [
      [0, { direction: 'in', source: 1, service: 2 }],
      [1, { direction: 'out', source: 1, service: 2 }],
    ];
    const plug = planTaps(built.topology, portState(built), wanted);
    assert.equal(plug.calls.length, 12);
    applyCalls(built, plug.calls);
    assert.deepEqual(towardsVm(built, 1), ['vhost:1', 'vhost:2']);
    assert.deepEqual(fromVm(built, 1), ['phy:0', 'vhost:2']);
    const unplug = planTaps(built.topology, portState(built), []);
    assert.equal(unplug.calls.length, 12);
    assert.deepEqual(
      unplug.removed.map((r) => r.mirrorId),
      [0, 1],
    );
    applyCalls(built, unplug.calls);
    assert.equal(vfStatuses(built), before);
  });

  test('after a spp_vf restart and rebuild, the plan re-wires the tap', () => {
    const built = builtHost(config);
    const tap: MirrorTap = { direction: 'in', source: 0, service: 1 };
    applyCalls(built, planTaps(built.topology, portState(built), [[0, tap]]).calls);
    built.spp.host.restart(1);
    const vf = built.layout.vfs[0];
    assert.ok(vf);
    built.spp.mustApply('vfs', 1, planBuild(vf, built.spp.status('vfs', 1), '18.08'));
    const status = built.spp.status('vfs', 1);
    for (const [vhostId, wiring] of vf.wirings) {
      const plan = planVhost(wiring, readActualVhost(status, wiring), {
        kind: 'carry',
        portId: `port-${vhostId}`,
        mac: macOf(vhostId),
      });
      assert.ok('calls' in plan);
      built.spp.mustApply('vfs', 1, plan.calls);
    }
    assert.deepEqual(towardsVm(built, 0), ['vhost:0']);
    const repair = planTaps(built.topology, portState(built), [[0, tap]]);
    assert.deepEqual(shown(repair.calls), [
      'vfs/1 forward_1_tx attach ring:6 rx',
      'vfs/1 forward_0_tx attach ring:7 rx',
      'vfs/1 forward_0_tx detach ring:0 rx',
    ]);
    applyCalls(built, repair.calls);
    assert.deepEqual(towardsVm(built, 0), ['vhost:0', 'vhost:1']);
  });
});

/** A random host with mirrors and a random tap set on it (valid as deriveTaps makes them). */
const scenarioArb = fc
  .tuple(
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
    fc.integer({ min: 1, max: 3 }),
  )
  .chain(([perNic, mirrors]) => {
    const vhosts = perNic.reduce((a, b) => a + b, 0);
    const tapArb = fc.record({
      direction: fc.constantFrom<'in' | 'out'>('in', 'out'),
      source: fc.nat(vhosts - 1),
      service: fc.nat(vhosts - 1),
    });
    const setArb = fc.array(fc.option(tapArb, { nil: undefined }), {
      minLength: mirrors,
      maxLength: mirrors,
    });
    return fc.record({
      config: fc.constant(generatedLayout(perNic, mirrors)),
      first: setArb,
      second: setArb,
    });
  });

/** Keeps the taps deriveTaps would keep: distinct ends, one per (direction, source). */
function valid(set: Array<MirrorTap | undefined>): Array<[number, MirrorTap]> {
  const used = new Set<string>();
  const result: Array<[number, MirrorTap]> = [];
  set.forEach((tap, mirrorId) => {
    if (!tap || tap.source === tap.service) return;
    const key = `${tap.direction}/${tap.source}`;
    if (used.has(key)) return;
    used.add(key);
    result.push([mirrorId, tap]);
  });
  return result;
}

function checkCopies(built: Built, wanted: Array<[number, MirrorTap]>): void {
  for (const v of built.topology.ends.keys()) {
    const expectedIn = [`vhost:${v}`];
    const expectedOut = [`phy:${nicOf(built, v)}`];
    for (const [, tap] of wanted) {
      if (tap.source !== v) continue;
      (tap.direction === 'in' ? expectedIn : expectedOut).push(`vhost:${tap.service}`);
    }
    assert.deepEqual(towardsVm(built, v), expectedIn.sort(), `frames towards vhost ${v}`);
    assert.deepEqual(fromVm(built, v), expectedOut.sort(), `frames from vhost ${v}`);
  }
}

describe('tap planner properties (emulator model)', () => {
  test('from any earlier tap set, the plan is accepted, copies as wanted, and is empty when planned again', () => {
    fc.assert(
      fc.property(scenarioArb, ({ config, first, second }) => {
        const built = builtHost(config);
        const baseline = vfStatuses(built);
        for (const set of [valid(first), valid(second), []]) {
          const plan = planTaps(built.topology, portState(built), set);
          applyCalls(built, plan.calls);
          checkCopies(built, set);
          assert.deepEqual(planTaps(built.topology, portState(built), set).calls, []);
          for (const [mirrorId, tap] of set) {
            assert.deepEqual(readActualMirror(built.topology, portState(built), mirrorId), {
              kind: 'tap',
              ...tap,
            });
          }
        }
        assert.equal(vfStatuses(built), baseline, 'no tap left: every spp_vf as before');
        assert.equal(tappedVhosts(built.topology, portState(built)).size, 0);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
