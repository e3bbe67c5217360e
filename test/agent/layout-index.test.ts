import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { indexLayout, physnetVhosts, sppComponentType } from '../../src/agent/layout-index.js';
import type { ComponentConfig, HostConfig } from '../../src/layout/schema.js';
import { deriveWiring } from '../../src/layout/wiring.js';
import { defaultLayout, mixedLayout, noForwarderLayout } from './plan-layouts.js';

/** indexLayout and deriveWiring (SYSTEM.md §3.2, §3.3, §5.2; SPP-SPEC §9.1 step 2). */

const component = (
  name: string,
  type: ComponentConfig['type'],
  rx: string[],
  tx: string[],
  core = 2,
): ComponentConfig => ({ core, type, name, rx_port: rx, tx_port: tx });

function hostOf(...vfs: ComponentConfig[][]): HostConfig {
  return {
    vf: vfs.map((components, index) => ({
      physical_network: `phys${index + 1}`,
      pci_address: `00:0${4 + index}.0`,
      num_vhost: 1,
      core_mask: '0xfe',
      components,
    })),
  };
}

describe('deriveWiring', () => {
  test('default layout: rings 2v / 2v+1 between classifier, forwarders and merger', () => {
    const [nic0, nic1] = defaultLayout().vf;
    const first = deriveWiring(nic0?.components ?? []);
    assert.deepEqual(first.problems, []);
    assert.deepEqual([...first.wirings.keys()], [0, 1]);
    assert.deepEqual(first.wirings.get(1), {
      vhostId: 1,
      vhostPort: 'vhost:1',
      classifierSidePort: 'ring:2',
      classifierComponent: 'classifier',
      mergerSidePort: 'ring:3',
      mergerComponent: 'merger',
      forwarders: { toVm: 'forward_1_tx', fromVm: 'forward_1_rx' },
    });
    // Vhost ids are global: NIC 1's first vhost is 2, on rings 4 and 5.
    const second = deriveWiring(nic1?.components ?? []);
    assert.deepEqual(second.wirings.get(2), {
      vhostId: 2,
      vhostPort: 'vhost:2',
      classifierSidePort: 'ring:4',
      classifierComponent: 'classifier',
      mergerSidePort: 'ring:5',
      mergerComponent: 'merger',
      forwarders: { toVm: 'forward_2_tx', fromVm: 'forward_2_rx' },
    });
  });

  test('without forwarders the vhost is its own classifier-side and merger-side port', () => {
    const { wirings, problems } = deriveWiring(noForwarderLayout().vf[0]?.components ?? []);
    assert.deepEqual(problems, []);
    assert.deepEqual(wirings.get(0), {
      vhostId: 0,
      vhostPort: 'vhost:0',
      classifierSidePort: 'vhost:0',
      classifierComponent: 'classifier',
      mergerSidePort: 'vhost:0',
      mergerComponent: 'merger',
    });
    assert.equal(wirings.get(1)?.classifierSidePort, 'vhost:1');
  });

  test('a layout mixing both: each vhost wired by its own path', () => {
    const config = mixedLayout([[true, false]]);
    const { wirings } = deriveWiring(config.vf[0]?.components ?? []);
    assert.equal(wirings.get(0)?.classifierSidePort, 'ring:0');
    assert.equal(wirings.get(0)?.mergerSidePort, 'ring:1');
    assert.deepEqual(wirings.get(0)?.forwarders, { toVm: 'fwd_0_in', fromVm: 'fwd_0_out' });
    assert.equal(wirings.get(1)?.classifierSidePort, 'vhost:1');
    assert.equal(wirings.get(1)?.mergerComponent, 'mrg_0');
    assert.equal(wirings.get(1)?.forwarders, undefined);
  });

  test('forwarders are reported only when the vhost has one on each side', () => {
    const { wirings } = deriveWiring([
      component('classifier', 'classifier_mac', ['phy:0'], ['ring:0']),
      component('to_vm', 'forward', ['ring:0'], ['vhost:0']),
      component('merger', 'merge', ['vhost:0'], ['phy:0']),
    ]);
    assert.equal(wirings.get(0)?.classifierSidePort, 'ring:0');
    assert.equal(wirings.get(0)?.mergerSidePort, 'vhost:0');
    assert.equal(wirings.get(0)?.forwarders, undefined);
  });

  test('a port claimed by two components in one direction belongs to the first in config order', () => {
    const { wirings, problems } = deriveWiring([
      component('classifier', 'classifier_mac', ['phy:0'], ['vhost:0']),
      component('stray', 'forward', ['ring:9'], ['vhost:0']),
      component('merger', 'merge', ['vhost:0'], ['phy:0']),
    ]);
    assert.deepEqual(problems, []);
    assert.equal(wirings.get(0)?.classifierComponent, 'classifier');
  });

  test('a vhost with a broken path is left out and named in a problem', () => {
    const cases: Array<{ components: ComponentConfig[]; problem: RegExp }> = [
      {
        // Nobody sends to vhost:0.
        components: [
          component('classifier', 'classifier_mac', ['phy:0'], []),
          component('merger', 'merge', ['vhost:0'], ['phy:0']),
        ],
        problem: /^vhost:0 is not the tx port of any component/,
      },
      {
        // Nobody reads vhost:0.
        components: [
          component('classifier', 'classifier_mac', ['phy:0'], ['vhost:0']),
          component('merger', 'merge', [], ['phy:0']),
        ],
        problem: /^vhost:0 is not the rx port of any component/,
      },
      {
        // The forwarder towards the VM is fed by a forward, not by a classifier.
        components: [
          component('feeder', 'forward', ['phy:0'], ['ring:0']),
          component('to_vm', 'forward', ['ring:0'], ['vhost:0']),
          component('merger', 'merge', ['vhost:0'], ['phy:0']),
        ],
        problem: /^vhost:0: ring:0 \(rx of to_vm\) is not a tx port of a classifier_mac/,
      },
      {
        // The forwarder from the VM sends to a ring nobody merges.
        components: [
          component('classifier', 'classifier_mac', ['phy:0'], ['vhost:0']),
          component('from_vm', 'forward', ['vhost:0'], ['ring:1']),
        ],
        problem: /^vhost:0: ring:1 \(tx of from_vm\) is not an rx port of a merge/,
      },
      {
        // A classifier reads the vhost.
        components: [component('classifier', 'classifier_mac', ['vhost:0'], ['vhost:0'])],
        problem: /^vhost:0: its rx component classifier is a classifier_mac/,
      },
    ];
    for (const { components, problem } of cases) {
      const result = deriveWiring(components);
      assert.equal(result.wirings.size, 0, JSON.stringify(components));
      assert.equal(result.problems.length, 1, JSON.stringify(result.problems));
      assert.match(result.problems[0] ?? '', problem);
    }
  });
});

describe('indexLayout', () => {
  test('default layout: client ids, physnets, global vhost ids, forwarders towards a VM become merges', () => {
    const config = defaultLayout();
    const layout = indexLayout(config);
    assert.deepEqual(
      layout.vfs.map((vf) => [vf.clientId, vf.physnet]),
      [
        [1, 'phys1'],
        [2, 'phys2'],
      ],
    );
    assert.deepEqual([...layout.vhosts.keys()], [0, 1, 2]);
    assert.equal(layout.vhosts.get(2)?.vf, layout.vfs[1]);
    assert.equal(layout.vhosts.get(2)?.physnet, 'phys2');
    assert.equal(layout.vhosts.get(1)?.wiring.classifierSidePort, 'ring:2');
    assert.deepEqual(
      layout.vfs[0]?.components.map((c) => [c.name, c.type]),
      [
        ['forward_0_tx', 'merge'],
        ['forward_0_rx', 'forward'],
        ['forward_1_tx', 'merge'],
        ['forward_1_rx', 'forward'],
        ['classifier', 'classifier_mac'],
        ['merger', 'merge'],
      ],
    );
    // The stored configuration itself is not rewritten.
    assert.equal(config.vf[0]?.components[0]?.type, 'forward');
    assert.deepEqual(layout.problems, []);
    assert.equal(layout.mirror, undefined);
    assert.deepEqual(physnetVhosts(layout), {
      phys1: { vhosts: [0, 1] },
      phys2: { vhosts: [2] },
    });
  });

  test('mirrors go to spp_mirror N+1', () => {
    const layout = indexLayout(defaultLayout('2#0xe000'));
    assert.equal(layout.mirror?.clientId, 3);
    assert.deepEqual(layout.mirror?.mirrors, [
      { core: 14, ports: ['ring:6', 'ring:7'] },
      { core: 15, ports: ['ring:8', 'ring:9'] },
    ]);
  });

  test('without forwarders nothing is retyped', () => {
    const layout = indexLayout(noForwarderLayout());
    assert.deepEqual(
      layout.vfs[0]?.components.map((c) => c.type),
      ['classifier_mac', 'merge'],
    );
    assert.equal(layout.vhosts.get(1)?.wiring.mergerSidePort, 'vhost:1');
  });

  test('a vhost in two spp_vfs belongs to the first; the second is named as a problem', () => {
    const direct = (nic: number) => [
      component('classifier', 'classifier_mac', [`phy:${nic}`], ['vhost:0']),
      component('merger', 'merge', ['vhost:0'], [`phy:${nic}`], 3),
    ];
    const layout = indexLayout(hostOf(direct(0), direct(1)));
    assert.equal(layout.vhosts.get(0)?.vf.clientId, 1);
    assert.equal(layout.problems.length, 1);
    assert.match(
      layout.problems[0] ?? '',
      /vhost:0 appears in more than one spp_vf; ignored in vf 2/,
    );
  });

  test('wiring problems are prefixed with the vf', () => {
    const layout = indexLayout(
      hostOf([component('classifier', 'classifier_mac', ['phy:0'], ['vhost:0'])]),
    );
    assert.equal(layout.vhosts.size, 0);
    assert.match(layout.problems[0] ?? '', /^vf\[0\]: vhost:0 is not the rx port/);
  });

  test('the classifier is called classifier from 19.11 on (SPP-SPEC §8)', () => {
    assert.equal(sppComponentType('classifier_mac', '18.08'), 'classifier_mac');
    assert.equal(sppComponentType('classifier_mac', '19.11'), 'classifier');
    assert.equal(sppComponentType('merge', '19.11'), 'merge');
    assert.equal(sppComponentType('forward', '19.11'), 'forward');
  });
});
