import assert from 'node:assert/strict';
import { parseClassifierEntry } from '../../src/spp/status.js';
import { after, before, describe, test } from 'node:test';
import { indexLayout } from '../../src/agent/layout-index.js';
import type { VfPlan } from '../../src/agent/layout-index.js';
import type { ActualVhost } from '../../src/agent/plan.js';
import {
  actualAfter,
  planBuild,
  planMirrors,
  planVhost,
  readActualVhost,
} from '../../src/agent/plan.js';
import type { DesiredVhost } from '../../src/agent/desired.js';
import type { VhostWiring } from '../../src/layout/wiring.js';
import { SppCtlClient } from '../../src/spp/client.js';
import type { ComponentStatus, ProcessStatus, VlanOp } from '../../src/spp/status.js';
import {
  attach,
  classify,
  defaultLayout,
  detach,
  noForwarderLayout,
  specExampleLayout,
  start,
} from './plan-layouts.js';
import { CapturingSppCtl, ModelSpp, requestFor, sendCalls } from './spp-model.js';

/**
 * Unit tests of the agent's SPP planners (src/agent/plan.ts) against SPP-SPEC §4.4, §8 and
 * §9.1 and SYSTEM.md §3.2, §3.3, §5.2. Expected calls and states are written from the spec.
 */

const MAC_A = 'fa:16:3e:11:22:33';
const MAC_B = 'fa:16:3e:44:55:66';
const NONE: VlanOp = { operation: 'none', id: 0, pcp: 0 };
const DEL: VlanOp = { operation: 'del', id: 0, pcp: 0 };
const add = (id: number, pcp = 0): VlanOp => ({ operation: 'add', id, pcp });

function vfOf(layout: ReturnType<typeof indexLayout>, index = 0): VfPlan {
  const vf = layout.vfs[index];
  assert.ok(vf, `vf ${index}`);
  return vf;
}

function wiringOf(layout: ReturnType<typeof indexLayout>, vhostId: number): VhostWiring {
  const place = layout.vhosts.get(vhostId);
  assert.ok(place, `vhost ${vhostId} in the layout`);
  return place.wiring;
}

const port = (name: string, vlan: VlanOp = NONE) => ({ port: name, vlan });
const running = (
  core: number,
  name: string,
  type: string,
  rx: string[],
  tx: string[],
): ComponentStatus => ({
  core,
  name,
  type,
  rx_port: rx.map((p) => port(p)),
  tx_port: tx.map((p) => port(p)),
});
const unuse = (core: number): ComponentStatus => ({ core, type: 'unuse' });

function statusWith(components: ComponentStatus[], table: ProcessStatus['classifier_table'] = []) {
  return { 'client-id': 1, ports: ['phy:0'], components, classifier_table: table };
}

/** A fresh spp_vf with workers 2..7: nothing but `unuse` entries (SPP-SPEC §4.4 notes). */
const FRESH = statusWith([2, 3, 4, 5, 6, 7].map(unuse));

/** SPP-SPEC §4.4: the default layout after a flat plug of vhost 0 and a VLAN 100 plug of vhost 1. */
const SPEC_EXAMPLE: ProcessStatus = {
  'client-id': 1,
  ports: ['phy:0', 'vhost:0', 'vhost:1', 'ring:0', 'ring:1', 'ring:2', 'ring:3'],
  components: [
    {
      core: 2,
      name: 'forward_0_tx',
      type: 'merge',
      rx_port: [port('ring:0')],
      tx_port: [port('vhost:0')],
    },
    {
      core: 3,
      name: 'forward_0_rx',
      type: 'forward',
      rx_port: [port('vhost:0')],
      tx_port: [port('ring:1')],
    },
    {
      core: 4,
      name: 'forward_1_tx',
      type: 'merge',
      rx_port: [port('ring:2')],
      tx_port: [port('vhost:1')],
    },
    {
      core: 5,
      name: 'forward_1_rx',
      type: 'forward',
      rx_port: [port('vhost:1')],
      tx_port: [port('ring:3')],
    },
    {
      core: 6,
      name: 'classifier',
      type: 'classifier_mac',
      rx_port: [port('phy:0')],
      tx_port: [port('ring:0'), port('ring:2', DEL)],
    },
    {
      core: 7,
      name: 'merger',
      type: 'merge',
      rx_port: [port('ring:1'), port('ring:3', add(100))],
      tx_port: [port('phy:0')],
    },
  ],
  classifier_table: [
    { type: 'vlan', value: '100/FA:16:3E:44:55:66', port: 'ring:2' },
    { type: 'mac', value: 'FA:16:3E:11:22:33', port: 'ring:0' },
  ],
};

describe('planBuild', () => {
  const layout = indexLayout(defaultLayout());

  test('fresh spp_vf, default layout: each component started, then its tx, then its rx ports (§9.1 step 3)', () => {
    assert.deepEqual(planBuild(vfOf(layout), FRESH, '18.08'), [
      start('forward_0_tx', 2, 'merge'),
      attach('forward_0_tx', 'vhost:0', 'tx'),
      attach('forward_0_tx', 'ring:0', 'rx'),
      start('forward_0_rx', 3, 'forward'),
      attach('forward_0_rx', 'ring:1', 'tx'),
      attach('forward_0_rx', 'vhost:0', 'rx'),
      start('forward_1_tx', 4, 'merge'),
      attach('forward_1_tx', 'vhost:1', 'tx'),
      attach('forward_1_tx', 'ring:2', 'rx'),
      start('forward_1_rx', 5, 'forward'),
      attach('forward_1_rx', 'ring:3', 'tx'),
      attach('forward_1_rx', 'vhost:1', 'rx'),
      start('classifier', 6, 'classifier_mac'),
      attach('classifier', 'ring:0', 'tx'),
      attach('classifier', 'ring:2', 'tx'),
      attach('classifier', 'phy:0', 'rx'),
      start('merger', 7, 'merge'),
      attach('merger', 'phy:0', 'tx'),
      attach('merger', 'ring:1', 'rx'),
      attach('merger', 'ring:3', 'rx'),
    ]);
  });

  test('19.11 names the classifier `classifier` (SPP-SPEC §8); nothing else differs', () => {
    const v18 = planBuild(vfOf(layout, 1), FRESH, '18.08');
    const v19 = planBuild(vfOf(layout, 1), FRESH, '19.11');
    assert.deepEqual(
      v19.filter((call) => call.op === 'start'),
      [
        start('forward_2_tx', 9, 'merge'),
        start('forward_2_rx', 10, 'forward'),
        start('classifier', 11, 'classifier'),
        start('merger', 12, 'merge'),
      ],
    );
    assert.deepEqual(
      v19.filter((call) => call.op !== 'start'),
      v18.filter((call) => call.op !== 'start'),
    );
    assert.ok(v18.some((call) => call.op === 'start' && call.type === 'classifier_mac'));
  });

  test('forwarder-less layout: the classifier sends to and the merger reads the vhosts', () => {
    const plain = indexLayout(noForwarderLayout());
    assert.deepEqual(planBuild(vfOf(plain), statusWith([unuse(2), unuse(3)]), '19.11'), [
      start('classifier', 2, 'classifier'),
      attach('classifier', 'vhost:0', 'tx'),
      attach('classifier', 'vhost:1', 'tx'),
      attach('classifier', 'phy:0', 'rx'),
      start('merger', 3, 'merge'),
      attach('merger', 'phy:0', 'tx'),
      attach('merger', 'vhost:0', 'rx'),
      attach('merger', 'vhost:1', 'rx'),
    ]);
  });

  test('a built host (SPP-SPEC §4.4) needs nothing, whatever its VLAN ops and entries', () => {
    assert.deepEqual(planBuild(vfOf(indexLayout(specExampleLayout())), SPEC_EXAMPLE, '18.08'), []);
  });

  test("existing components only get what is missing, by the original's rules", () => {
    const vf = vfOf(indexLayout(specExampleLayout()));
    const components = [
      // classifier: every missing tx port, rx[0] when it has no rx.
      running(6, 'classifier', 'classifier_mac', [], ['ring:2']),
      // merger (tx to the wire): tx[0] when it has none, every missing rx port.
      running(7, 'merger', 'merge', ['ring:3'], []),
      // forward: tx[0] if no tx, rx[0] if no rx.
      running(3, 'forward_0_rx', 'forward', ['vhost:0'], []),
      // merge towards a VM: rx[0] only when it has no rx (a tap-in ring may be there).
      running(2, 'forward_0_tx', 'merge', ['ring:4'], []),
      running(4, 'forward_1_tx', 'merge', [], ['vhost:1']),
      running(5, 'forward_1_rx', 'forward', ['vhost:1'], ['ring:3']),
    ];
    assert.deepEqual(planBuild(vf, statusWith(components), '18.08'), [
      attach('forward_0_tx', 'vhost:0', 'tx'),
      attach('forward_0_rx', 'ring:1', 'tx'),
      attach('forward_1_tx', 'ring:2', 'rx'),
      attach('classifier', 'ring:0', 'tx'),
      attach('classifier', 'phy:0', 'rx'),
      attach('merger', 'phy:0', 'tx'),
      attach('merger', 'ring:1', 'rx'),
    ]);
  });

  test('a forward with ports is left alone even if they are not the configured ones', () => {
    const vf = vfOf(indexLayout(specExampleLayout()));
    const status = statusWith([running(3, 'forward_0_rx', 'forward', ['ring:5'], ['ring:6'])]);
    const calls = planBuild(vf, status, '18.08');
    assert.ok(!calls.some((call) => 'component' in call && call.component === 'forward_0_rx'));
    assert.ok(!calls.some((call) => call.op === 'start' && call.name === 'forward_0_rx'));
  });

  test('`unuse` entries are no components; a type mismatch is ignored', () => {
    const vf = vfOf(indexLayout(specExampleLayout()));
    const status = statusWith([
      unuse(2),
      // Running as a forward, configured as the classifier: only its missing ports.
      running(6, 'classifier', 'forward', ['phy:0'], ['ring:0']),
    ]);
    const calls = planBuild(vf, status, '18.08');
    assert.ok(!calls.some((call) => call.op === 'start' && call.name === 'classifier'));
    assert.deepEqual(
      calls.filter((call) => 'component' in call && call.component === 'classifier'),
      [attach('classifier', 'ring:2', 'tx')],
    );
    assert.ok(calls.some((call) => call.op === 'start' && call.name === 'forward_0_tx'));
  });
});

describe('planMirrors', () => {
  const mirrors = [
    { core: 9, ports: ['ring:4', 'ring:5'] as [string, string] },
    { core: 10, ports: ['ring:6', 'ring:7'] as [string, string] },
  ];
  const mirrorStatus = (components: ComponentStatus[]): ProcessStatus => ({
    'client-id': 3,
    ports: ['phy:0'],
    components,
  });

  test('mirror components are started without ports (§9.1 step 5)', () => {
    assert.deepEqual(planMirrors(mirrors, mirrorStatus([unuse(9), unuse(10)])), [
      start('mirror_0', 9, 'mirror'),
      start('mirror_1', 10, 'mirror'),
    ]);
  });

  test('a running mirror is left as it is, ports or not', () => {
    const status = mirrorStatus([
      running(9, 'mirror_0', 'mirror', ['ring:0'], ['ring:4', 'ring:5']),
      unuse(10),
    ]);
    assert.deepEqual(planMirrors(mirrors, status), [start('mirror_1', 10, 'mirror')]);
    assert.deepEqual(planMirrors([], status), []);
  });
});

describe('readActualVhost', () => {
  const layout = indexLayout(specExampleLayout());

  test('SPP-SPEC §4.4: a flat vhost and a VLAN vhost, MACs lower-cased', () => {
    assert.deepEqual(readActualVhost(SPEC_EXAMPLE, wiringOf(layout, 0)), {
      mergerRx: NONE,
      classifierTx: NONE,
      classification: { mac: MAC_A },
    });
    assert.deepEqual(readActualVhost(SPEC_EXAMPLE, wiringOf(layout, 1)), {
      mergerRx: add(100),
      classifierTx: DEL,
      classification: { mac: MAC_B, vlanId: 100 },
    });
  });

  test('unattached ports read as undefined; ports without a vlan object as `none`', () => {
    const status = statusWith([
      {
        core: 6,
        name: 'classifier',
        type: 'classifier_mac',
        rx_port: [],
        tx_port: [{ port: 'ring:0' }],
      },
      unuse(7),
    ]);
    assert.deepEqual(readActualVhost(status, wiringOf(layout, 0)), {
      mergerRx: undefined,
      classifierTx: NONE,
      classification: undefined,
    });
    assert.deepEqual(readActualVhost(status, wiringOf(layout, 1)), {
      mergerRx: undefined,
      classifierTx: undefined,
      classification: undefined,
    });
  });

  test('an entry that is not a port MAC is `foreign`; entries of other ports do not count', () => {
    const foreign = (value: string, type = 'mac') =>
      readActualVhost(
        { ...SPEC_EXAMPLE, classifier_table: [{ type, value, port: 'ring:0' }] },
        wiringOf(layout, 0),
      ).classification;
    assert.equal(foreign('default'), 'foreign');
    assert.equal(foreign('100/default', 'vlan'), 'foreign');
    assert.equal(foreign('FA:16:3E:11:22', 'mac'), 'foreign');
    assert.equal(foreign('x/FA:16:3E:11:22:33', 'vlan'), 'foreign');
    assert.equal(foreign('FA:16:3E:11:22:33', 'pcap'), 'foreign');
    assert.deepEqual(foreign('FA:16:3E:11:22:33'), { mac: MAC_A });
    const elsewhere = {
      ...SPEC_EXAMPLE,
      classifier_table: [{ type: 'mac', value: 'default', port: 'ring:2' }],
    };
    assert.equal(readActualVhost(elsewhere, wiringOf(layout, 0)).classification, undefined);
  });

  test('forwarder-less: both sides are the vhost port', () => {
    const plain = indexLayout(noForwarderLayout());
    const status = statusWith(
      [
        {
          core: 2,
          name: 'classifier',
          type: 'classifier',
          rx_port: [port('phy:0')],
          tx_port: [port('vhost:0'), port('vhost:1', DEL)],
        },
        {
          core: 3,
          name: 'merger',
          type: 'merge',
          rx_port: [port('vhost:0'), port('vhost:1', add(300))],
          tx_port: [port('phy:0')],
        },
      ],
      [{ type: 'vlan', value: '300/FA:16:3E:44:55:66', port: 'vhost:1' }],
    );
    assert.deepEqual(readActualVhost(status, wiringOf(plain, 1)), {
      mergerRx: add(300),
      classifierTx: DEL,
      classification: { mac: MAC_B, vlanId: 300 },
    });
    assert.deepEqual(readActualVhost(status, wiringOf(plain, 0)), {
      mergerRx: NONE,
      classifierTx: NONE,
      classification: undefined,
    });
  });
});

describe('planVhost', () => {
  const layout = indexLayout(specExampleLayout());
  const vhost0 = wiringOf(layout, 0);
  const vhost1 = wiringOf(layout, 1);
  const EMPTY: ActualVhost = { mergerRx: NONE, classifierTx: NONE, classification: undefined };
  const FLAT_A: ActualVhost = {
    mergerRx: NONE,
    classifierTx: NONE,
    classification: { mac: MAC_A },
  };
  const VLAN_B: ActualVhost = {
    mergerRx: add(100),
    classifierTx: DEL,
    classification: { mac: MAC_B, vlanId: 100 },
  };
  const carry = (mac: string, vlanId?: number) =>
    ({
      kind: 'carry',
      portId: 'port-1',
      mac,
      ...(vlanId !== undefined ? { vlanId } : {}),
    }) as const;

  test('plug, flat: one classifier table add (§9.1)', () => {
    assert.deepEqual(planVhost(vhost0, EMPTY, carry(MAC_A)), {
      calls: [classify('add', MAC_A, 'ring:0')],
    });
  });

  test('plug, VLAN: merger rx re-attached with add, classifier tx with del, then the entry (§9.1)', () => {
    assert.deepEqual(planVhost(vhost1, EMPTY, carry(MAC_B, 100)), {
      calls: [
        detach('merger', 'ring:3', 'rx'),
        attach('merger', 'ring:3', 'rx', { operation: 'add', id: 100 }),
        detach('classifier', 'ring:2', 'tx'),
        attach('classifier', 'ring:2', 'tx', { operation: 'del' }),
        classify('add', MAC_B, 'ring:2', 100),
      ],
    });
  });

  test('unplug, flat: one classifier table del (§9.1)', () => {
    assert.deepEqual(planVhost(vhost0, FLAT_A, { kind: 'empty' }), {
      calls: [classify('del', MAC_A, 'ring:0')],
    });
  });

  test('unplug, VLAN: both ports re-attached without a VLAN op, then the entry deleted (§9.1)', () => {
    assert.deepEqual(planVhost(vhost1, VLAN_B, { kind: 'empty' }), {
      calls: [
        detach('merger', 'ring:3', 'rx'),
        attach('merger', 'ring:3', 'rx'),
        detach('classifier', 'ring:2', 'tx'),
        attach('classifier', 'ring:2', 'tx'),
        classify('del', MAC_B, 'ring:2', 100),
      ],
    });
  });

  test('a vhost already in the desired state needs no call (plug and unplug are idempotent)', () => {
    assert.deepEqual(planVhost(vhost0, FLAT_A, carry(MAC_A)), { calls: [] });
    assert.deepEqual(planVhost(vhost1, VLAN_B, carry(MAC_B, 100)), { calls: [] });
    assert.deepEqual(planVhost(vhost0, EMPTY, { kind: 'empty' }), { calls: [] });
  });

  test("SPP's upper-case MACs match etcd's: both are normalised where they are read", () => {
    const entry = parseClassifierEntry({ type: 'mac', value: MAC_A.toUpperCase(), port: 'ring:0' });
    assert.deepEqual(entry, { mac: MAC_A });
    const upper: ActualVhost = { ...FLAT_A, classification: entry };
    assert.deepEqual(planVhost(vhost0, upper, carry(MAC_A)), { calls: [] });
  });

  test('another MAC or VLAN: the stale entry is deleted before the wanted one is added', () => {
    assert.deepEqual(planVhost(vhost0, FLAT_A, carry(MAC_B)), {
      calls: [classify('del', MAC_A, 'ring:0'), classify('add', MAC_B, 'ring:0')],
    });
    // VLAN 100 -> 200: the classifier's `del` op is right already; only the merger changes.
    assert.deepEqual(planVhost(vhost1, VLAN_B, carry(MAC_B, 200)), {
      calls: [
        detach('merger', 'ring:3', 'rx'),
        attach('merger', 'ring:3', 'rx', { operation: 'add', id: 200 }),
        classify('del', MAC_B, 'ring:2', 100),
        classify('add', MAC_B, 'ring:2', 200),
      ],
    });
    // Flat -> VLAN with the same MAC.
    assert.deepEqual(planVhost(vhost0, FLAT_A, carry(MAC_A, 7)), {
      calls: [
        detach('merger', 'ring:1', 'rx'),
        attach('merger', 'ring:1', 'rx', { operation: 'add', id: 7 }),
        detach('classifier', 'ring:0', 'tx'),
        attach('classifier', 'ring:0', 'tx', { operation: 'del' }),
        classify('del', MAC_A, 'ring:0'),
        classify('add', MAC_A, 'ring:0', 7),
      ],
    });
  });

  test('an add op with another PCP is not the wanted op', () => {
    const pcp: ActualVhost = { ...VLAN_B, mergerRx: add(100, 3) };
    assert.deepEqual(planVhost(vhost1, pcp, carry(MAC_B, 100)), {
      calls: [
        detach('merger', 'ring:3', 'rx'),
        attach('merger', 'ring:3', 'rx', { operation: 'add', id: 100 }),
      ],
    });
  });

  test('a port that is not attached is attached without a detach first', () => {
    const missing: ActualVhost = {
      mergerRx: undefined,
      classifierTx: undefined,
      classification: undefined,
    };
    assert.deepEqual(planVhost(vhost1, missing, carry(MAC_B, 100)), {
      calls: [
        attach('merger', 'ring:3', 'rx', { operation: 'add', id: 100 }),
        attach('classifier', 'ring:2', 'tx', { operation: 'del' }),
        classify('add', MAC_B, 'ring:2', 100),
      ],
    });
    assert.deepEqual(planVhost(vhost0, missing, { kind: 'empty' }), {
      calls: [attach('merger', 'ring:1', 'rx'), attach('classifier', 'ring:0', 'tx')],
    });
  });

  test('forwarder-less VLAN plug works on the vhost port itself', () => {
    const plain = wiringOf(indexLayout(noForwarderLayout()), 1);
    assert.deepEqual(planVhost(plain, EMPTY, carry(MAC_B, 300)), {
      calls: [
        detach('merger', 'vhost:1', 'rx'),
        attach('merger', 'vhost:1', 'rx', { operation: 'add', id: 300 }),
        detach('classifier', 'vhost:1', 'tx'),
        attach('classifier', 'vhost:1', 'tx', { operation: 'del' }),
        classify('add', MAC_B, 'vhost:1', 300),
      ],
    });
  });

  test('a foreign classifier entry blocks the vhost, naming the port; `keep` keeps hands off', () => {
    const foreign: ActualVhost = { ...EMPTY, classification: 'foreign' };
    for (const desired of [carry(MAC_A), carry(MAC_A, 100), { kind: 'empty' } as const]) {
      const plan = planVhost(vhost0, foreign, desired);
      assert.ok('blocked' in plan, JSON.stringify(plan));
      assert.match(plan.blocked, /ring:0/);
    }
    assert.deepEqual(planVhost(vhost0, foreign, { kind: 'keep' }), { calls: [] });
    assert.deepEqual(planVhost(vhost1, VLAN_B, { kind: 'keep' }), { calls: [] });
  });
});

describe('actualAfter', () => {
  test('the state SPP reports once a plan ran (as readActualVhost reads it)', () => {
    const before: ActualVhost = {
      mergerRx: undefined,
      classifierTx: DEL,
      classification: 'foreign',
    };
    assert.equal(actualAfter({ kind: 'keep' }, before), before);
    assert.deepEqual(actualAfter({ kind: 'empty' }, before), {
      mergerRx: NONE,
      classifierTx: NONE,
      classification: undefined,
    });
    assert.deepEqual(actualAfter({ kind: 'carry', portId: 'p', mac: MAC_A }, before), {
      mergerRx: NONE,
      classifierTx: NONE,
      classification: { mac: MAC_A },
    });
    assert.deepEqual(actualAfter({ kind: 'carry', portId: 'p', mac: MAC_B, vlanId: 100 }, before), {
      mergerRx: add(100),
      classifierTx: DEL,
      classification: { mac: MAC_B, vlanId: 100 },
    });
  });
});

describe('plans applied to the emulator model', () => {
  test('build + the flat and VLAN plugs of §9.1 give exactly SPP-SPEC §4.4', () => {
    const layout = indexLayout(specExampleLayout());
    const spp = new ModelSpp(specExampleLayout(), '18.08');
    spp.mustApply('vfs', 1, planBuild(vfOf(layout), spp.status('vfs', 1), '18.08'));
    for (const [vhostId, desired] of [
      [0, { kind: 'carry', portId: 'a', mac: MAC_A }],
      [1, { kind: 'carry', portId: 'b', mac: MAC_B, vlanId: 100 }],
    ] as const) {
      const wiring = wiringOf(layout, vhostId);
      const plan = planVhost(wiring, readActualVhost(spp.status('vfs', 1), wiring), desired);
      assert.ok('calls' in plan);
      spp.mustApply('vfs', 1, plan.calls);
    }
    assert.deepEqual(spp.status('vfs', 1), SPEC_EXAMPLE);
  });
});

describe('a VLAN unplug cut short after the classifier detach (known limit of a one-shot plan)', () => {
  test('SPP hides the entry of the detached port; it shows again once the next plan re-attaches it', () => {
    const layout = indexLayout(specExampleLayout());
    const spp = new ModelSpp(specExampleLayout(), '18.08');
    spp.mustApply('vfs', 1, planBuild(vfOf(layout), spp.status('vfs', 1), '18.08'));
    const wiring = wiringOf(layout, 1);
    const read = () => readActualVhost(spp.status('vfs', 1), wiring);
    const plug = planVhost(wiring, read(), { kind: 'carry', portId: 'b', mac: MAC_B, vlanId: 100 });
    assert.ok('calls' in plug);
    spp.mustApply('vfs', 1, plug.calls);
    const unplug = planVhost(wiring, read(), { kind: 'empty' });
    assert.ok('calls' in unplug);
    // Merger detach + attach, classifier detach; then the agent stops.
    spp.mustApply('vfs', 1, unplug.calls.slice(0, 3));
    const cut = read();
    assert.deepEqual(cut, { mergerRx: NONE, classifierTx: undefined, classification: undefined });
    const again = planVhost(wiring, cut, { kind: 'empty' });
    assert.deepEqual(again, { calls: [attach('classifier', 'ring:2', 'tx')] });
    spp.mustApply('vfs', 1, again.calls);
    // actualAfter predicts an empty vhost, but the entry is back: only a re-read shows it.
    assert.deepEqual(actualAfter({ kind: 'empty' }, cut).classification, undefined);
    assert.deepEqual(read().classification, { mac: MAC_B, vlanId: 100 });
    assert.deepEqual(planVhost(wiring, read(), { kind: 'empty' }), {
      calls: [classify('del', MAC_B, 'ring:2', 100)],
    });
  });
});

describe("on the wire: the agent's client sends the original's calls in its order (SPP-SPEC §9.1)", () => {
  const layout = indexLayout(specExampleLayout());
  const spp = new ModelSpp(specExampleLayout(), '18.08');
  let capture: CapturingSppCtl;
  let client: SppCtlClient;
  before(async () => {
    capture = await CapturingSppCtl.start(spp);
    client = new SppCtlClient({ baseUrl: capture.url, timeoutMs: 5_000 });
  });
  after(async () => {
    await client.close();
    await capture.stop();
  });

  /** Plans one vhost from spp-ctl's status and sends the calls; returns what went out. */
  async function step(vhostId: number, desired: DesiredVhost) {
    const wiring = wiringOf(layout, vhostId);
    const plan = planVhost(wiring, readActualVhost(await client.status('vfs', 1), wiring), desired);
    assert.ok('calls' in plan, JSON.stringify(plan));
    const from = capture.changes().length;
    await sendCalls(client, 'vfs', 1, plan.calls);
    const sent = capture.changes().slice(from);
    assert.deepEqual(
      sent,
      plan.calls.map((call) => requestFor('vfs', 1, call)),
    );
    return sent;
  }

  const ports = (component: string) => `/v1/vfs/1/components/${component}/ports`;
  const TABLE = '/v1/vfs/1/classifier_table';

  test('build: POST components, then PUT ports, as planned', async () => {
    const calls = planBuild(vfOf(layout), await client.status('vfs', 1), '18.08');
    await sendCalls(client, 'vfs', 1, calls);
    assert.deepEqual(
      capture.changes(),
      calls.map((call) => requestFor('vfs', 1, call)),
    );
    assert.deepEqual(capture.changes()[0], {
      method: 'POST',
      path: '/v1/vfs/1/components',
      body: { name: 'forward_0_tx', core: 2, type: 'merge' },
    });
    assert.deepEqual(capture.changes()[1], {
      method: 'PUT',
      path: ports('forward_0_tx'),
      body: { action: 'attach', port: 'vhost:0', dir: 'tx' },
    });
  });

  test('plug: flat, then VLAN 100', async () => {
    assert.deepEqual(await step(0, { kind: 'carry', portId: 'a', mac: MAC_A }), [
      {
        method: 'PUT',
        path: TABLE,
        body: { action: 'add', type: 'mac', mac_address: MAC_A, port: 'ring:0' },
      },
    ]);
    assert.deepEqual(await step(1, { kind: 'carry', portId: 'b', mac: MAC_B, vlanId: 100 }), [
      {
        method: 'PUT',
        path: ports('merger'),
        body: { action: 'detach', port: 'ring:3', dir: 'rx' },
      },
      {
        method: 'PUT',
        path: ports('merger'),
        body: {
          action: 'attach',
          port: 'ring:3',
          dir: 'rx',
          vlan: { operation: 'add', id: 100, pcp: 0 },
        },
      },
      {
        method: 'PUT',
        path: ports('classifier'),
        body: { action: 'detach', port: 'ring:2', dir: 'tx' },
      },
      {
        method: 'PUT',
        path: ports('classifier'),
        body: { action: 'attach', port: 'ring:2', dir: 'tx', vlan: { operation: 'del' } },
      },
      {
        method: 'PUT',
        path: TABLE,
        body: { action: 'add', type: 'vlan', mac_address: MAC_B, port: 'ring:2', vlan: 100 },
      },
    ]);
    assert.deepEqual(await client.status('vfs', 1), SPEC_EXAMPLE);
  });

  test('the same plugs again send nothing', async () => {
    assert.deepEqual(await step(0, { kind: 'carry', portId: 'a', mac: MAC_A }), []);
    assert.deepEqual(await step(1, { kind: 'carry', portId: 'b', mac: MAC_B, vlanId: 100 }), []);
  });

  test('unplug: flat, then VLAN 100', async () => {
    assert.deepEqual(await step(0, { kind: 'empty' }), [
      {
        method: 'PUT',
        path: TABLE,
        body: { action: 'del', type: 'mac', mac_address: MAC_A, port: 'ring:0' },
      },
    ]);
    assert.deepEqual(await step(1, { kind: 'empty' }), [
      {
        method: 'PUT',
        path: ports('merger'),
        body: { action: 'detach', port: 'ring:3', dir: 'rx' },
      },
      {
        method: 'PUT',
        path: ports('merger'),
        body: { action: 'attach', port: 'ring:3', dir: 'rx' },
      },
      {
        method: 'PUT',
        path: ports('classifier'),
        body: { action: 'detach', port: 'ring:2', dir: 'tx' },
      },
      {
        method: 'PUT',
        path: ports('classifier'),
        body: { action: 'attach', port: 'ring:2', dir: 'tx' },
      },
      {
        method: 'PUT',
        path: TABLE,
        body: { action: 'del', type: 'vlan', mac_address: MAC_B, port: 'ring:2', vlan: 100 },
      },
    ]);
    const status = await client.status('vfs', 1);
    assert.deepEqual(status.classifier_table, []);
    for (const vhostId of [0, 1]) {
      assert.deepEqual(readActualVhost(status, wiringOf(layout, vhostId)), {
        mergerRx: NONE,
        classifierTx: NONE,
        classification: undefined,
      });
    }
  });
});
