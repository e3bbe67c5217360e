import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { pythonJsonDumps } from '../../src/layout/pyjson.js';

const fwd = (core: number, name: string, rx: string, tx: string) => ({
  core,
  type: 'forward',
  name,
  rx_port: [rx],
  tx_port: [tx],
});

describe('default layout (the original devstack spp-config-build)', () => {
  it('generates the SYSTEM.md example exactly, with mirrors', () => {
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02',
      mirror: '2#0x30002',
    });
    // Worked out by hand from SYSTEM.md §3.2: mask 0xfe -> master 1, workers 2..7;
    // 0xfc02 -> master 1, workers 10..15; 0x30002 -> master 1, workers 16, 17.
    assert.deepEqual(config, {
      vf: [
        {
          physical_network: 'phys1',
          pci_address: '00:04.0',
          num_vhost: 2,
          core_mask: '0xfe',
          components: [
            fwd(2, 'forward_0_tx', 'ring:0', 'vhost:0'),
            fwd(3, 'forward_0_rx', 'vhost:0', 'ring:1'),
            fwd(4, 'forward_1_tx', 'ring:2', 'vhost:1'),
            fwd(5, 'forward_1_rx', 'vhost:1', 'ring:3'),
            {
              core: 6,
              type: 'classifier_mac',
              name: 'classifier',
              rx_port: ['phy:0'],
              tx_port: ['ring:0', 'ring:2'],
            },
            {
              core: 7,
              type: 'merge',
              name: 'merger',
              rx_port: ['ring:1', 'ring:3'],
              tx_port: ['phy:0'],
            },
          ],
        },
        {
          physical_network: 'phys2',
          pci_address: '00:05.0',
          num_vhost: 2,
          core_mask: '0xfc02',
          components: [
            fwd(10, 'forward_2_tx', 'ring:4', 'vhost:2'),
            fwd(11, 'forward_2_rx', 'vhost:2', 'ring:5'),
            fwd(12, 'forward_3_tx', 'ring:6', 'vhost:3'),
            fwd(13, 'forward_3_rx', 'vhost:3', 'ring:7'),
            {
              core: 14,
              type: 'classifier_mac',
              name: 'classifier',
              rx_port: ['phy:1'],
              tx_port: ['ring:4', 'ring:6'],
            },
            {
              core: 15,
              type: 'merge',
              name: 'merger',
              rx_port: ['ring:5', 'ring:7'],
              tx_port: ['phy:1'],
            },
          ],
        },
      ],
      mirror: [
        { core: 16, ports: ['ring:8', 'ring:9'] },
        { core: 17, ports: ['ring:10', 'ring:11'] },
      ],
    });
  });

  it('serialises the mirrors of the SYSTEM.md example in the original key order', () => {
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02',
      mirror: '2#0x30002',
    });
    const text = pythonJsonDumps(config);
    assert.ok(
      text.endsWith(
        '"mirror": [{"core": 16, "ports": ["ring:8", "ring:9"]}, {"core": 17, "ports": ["ring:10", "ring:11"]}]}',
      ),
      text.slice(-120),
    );
    assert.ok(text.startsWith('{"vf": [{"physical_network": "phys1", "pci_address": "00:04.0"'));
  });

  it('serialises byte-for-byte like Python json.dumps in the original key order', () => {
    const { config } = planHostLayout({ mappings: '0000:00:04.0#physA#1#1f' });
    assert.equal(
      pythonJsonDumps(config),
      '{"vf": [{"physical_network": "physA", "pci_address": "0000:00:04.0", "num_vhost": 1, "core_mask": "1f", ' +
        '"components": [{"core": 1, "type": "forward", "name": "forward_0_tx", "rx_port": ["ring:0"], "tx_port": ["vhost:0"]}, ' +
        '{"core": 2, "type": "forward", "name": "forward_0_rx", "rx_port": ["vhost:0"], "tx_port": ["ring:1"]}, ' +
        '{"core": 3, "type": "classifier_mac", "name": "classifier", "rx_port": ["phy:0"], "tx_port": ["ring:0"]}, ' +
        '{"core": 4, "type": "merge", "name": "merger", "rx_port": ["ring:1"], "tx_port": ["phy:0"]}]}]}',
    );
  });

  it('omits the mirror key without a mirror spec', () => {
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#1#0x3e' });
    assert.equal('mirror' in config, false);
  });

  it('takes cores from masks with gaps in ascending order', () => {
    // 0x1_0000_0105_0012: bits 1, 4, 16, 18, 24, 48 -> master 1, workers 4,16,18,24,48 (+ need 4)
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#1#0x1000001050012' });
    assert.deepEqual(
      config.vf[0]?.components.map((component) => component.core),
      [4, 16, 18, 24],
    );
  });

  it('uses cores above bit 31 and up to bit 127 of wide masks', () => {
    const mask = '0xf' + '0'.repeat(29) + '03'; // bits 124..127 and 0, 1
    const wide = planHostLayout({ mappings: `00:04.0#phys1#1#${mask}` });
    assert.deepEqual(
      wide.config.vf[0]?.components.map((component) => component.core),
      [1, 124, 125, 126],
    );
  });

  it('numbers vhosts and rings globally across many NICs', () => {
    const mappings = Array.from(
      { length: 8 },
      (_, nic) =>
        `00:${String(nic + 4).padStart(2, '0')}.0#phys${nic}#2#0x${(0x7fn << BigInt(nic * 7 + 1)).toString(16)}`,
    ).join(',');
    const { config } = planHostLayout({ mappings });
    assert.equal(config.vf.length, 8);
    const last = config.vf[7];
    assert.deepEqual(
      last?.components.map((component) => component.name),
      ['forward_14_tx', 'forward_14_rx', 'forward_15_tx', 'forward_15_rx', 'classifier', 'merger'],
    );
    assert.deepEqual(last?.components[4]?.rx_port, ['phy:7']);
    assert.deepEqual(last?.components[4]?.tx_port, ['ring:28', 'ring:30']);
    assert.deepEqual(last?.components[5]?.rx_port, ['ring:29', 'ring:31']);
  });

  it('warns when ports exceed the 32 entries of a default SPP build', () => {
    const { warnings } = planHostLayout({ mappings: '00:04.0#phys1#17#0xffffffffff' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /port index 33 .*RTE_MAX_ETHPORTS/);
  });
});
