import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCustomLayout } from '../../src/layout/custom.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { InputError } from '../../src/util/errors.js';

function rejects(input: Parameters<typeof planHostLayout>[0], pattern: RegExp): void {
  assert.throws(
    () => planHostLayout(input),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('NIC mapping errors name the entry, the field and the reason', () => {
  it('wrong number of fields', () =>
    rejects(
      { mappings: '00:04.0#phys1#2' },
      /NIC mapping 1 \("00:04\.0#phys1#2"\): has 3 field\(s\), expected 4/,
    ));
  it('empty mappings', () => rejects({ mappings: '  ' }, /NIC mappings are empty/));
  it('stray comma', () => rejects({ mappings: '00:04.0#phys1#1#0x3e,' }, /NIC mapping 2 is empty/));
  it('bad PCI address', () =>
    rejects(
      { mappings: '00:04.0#p1#1#0x3e,0:4#p2#1#0x7c0' },
      /NIC mapping 2 .*pci address "0:4" is not a PCI address/,
    ));
  it('bad physnet', () =>
    rejects({ mappings: '00:04.0#phys/1#1#0x3e' }, /physical_network "phys\/1" must be non-empty/));
  it('vhost count not a number', () =>
    rejects(
      { mappings: '00:04.0#phys1#two#0x3e' },
      /number of vhosts "two" is not a decimal number/,
    ));
  it('zero vhosts', () =>
    rejects({ mappings: '00:04.0#phys1#0#0x3e' }, /number of vhosts must be at least 1, got 0/));
  it('mask that is not hexadecimal', () =>
    rejects({ mappings: '00:04.0#phys1#1#0xfg' }, /core mask "0xfg" is not hexadecimal/));
  it('mask with no core', () => rejects({ mappings: '00:04.0#phys1#1#0x0' }, /selects no core/));
  it('mask beyond 128 lcores', () =>
    rejects({ mappings: `00:04.0#phys1#1#0x1${'0'.repeat(32)}` }, /selects a core above 127/));
  it('too few cores says how many are needed', () =>
    rejects(
      { mappings: '00:04.0#phys1#3#0xfe' },
      /NIC mapping 1 \(00:04\.0#phys1\): core mask has 6 worker core\(s\) \(2-7; core 1 is the DPDK master\) but 3 vhost\(s\) \(2 per vhost \+ classifier \+ merger\) need 8/,
    ));
  it('duplicate physnet', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e,00:05.0#phys1#1#0x7c0' },
      /NIC mapping 2 .*physical_network phys1 is already mapped by NIC mapping 1/,
    ));
  it('duplicate PCI address', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e,00:04.0#phys2#1#0x7c0' },
      /pci address 00:04\.0 is already used by NIC mapping 1/,
    ));
  it('worker cores shared by two NICs: one error per pair, cores as ranges', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e,00:05.0#phys2#1#0x7c' },
      /^generated layout: vf\[1\]\.core_mask: worker cores 3-5 are used by both vf\[0\] and vf\[1\]; each spp_vf needs its own cores$/,
    ));
  it('shared cores with gaps, and a third NIC overlapping both others', () => {
    // vf[0] workers 2-9 (0x3fe); vf[1] master 0, workers 3-7, 9, 20 (0x1002f9);
    // vf[2] master 8, workers 9, 20-22 (0x700300).
    rejects(
      { mappings: '00:04.0#phys1#1#0x3fe,00:05.0#phys2#1#0x1002f9,00:06.0#phys3#1#0x700300' },
      /^generated layout: vf\[1\]\.core_mask: worker cores 3-7,9 are used by both vf\[0\] and vf\[1\]; each spp_vf needs its own cores\ngenerated layout: vf\[2\]\.core_mask: worker core 9 is used by both vf\[0\] and vf\[2\]; each spp_vf needs its own cores\ngenerated layout: vf\[2\]\.core_mask: worker core 20 is used by both vf\[1\] and vf\[2\]; each spp_vf needs its own cores$/,
    );
  });
  it('128-bit masks sharing 63 cores give one line, not 63', () => {
    const all = 'f'.repeat(32); // cores 0..127: master 0, workers 1..127
    const low = 'f'.repeat(16); // cores 0..63: master 0, workers 1..63
    rejects(
      { mappings: `00:04.0#phys1#1#0x${low},00:05.0#phys2#1#0x${all}` },
      /^generated layout: vf\[1\]\.core_mask: worker cores 1-63 are used by both vf\[0\] and vf\[1\]; each spp_vf needs its own cores$/,
    );
  });
  it('mirror spec with too few cores', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e', mirror: '2#0xc0' },
      /mirror spec \("2#0xc0"\): core mask has 1 worker core\(s\) \(7; core 6 is the DPDK master\) but 2 mirror\(s\) need 2/,
    ));
  it('mirror spec without a mask', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e', mirror: '2' },
      /mirror spec \("2"\): has 1 field\(s\), expected 2/,
    ));
  it('mirror cores overlapping a NIC', () =>
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e', mirror: '1#0x6' },
      /^generated layout: mirror\[0\]\.core: core 2 is used by both vf\[0\] and spp_mirror; spp_mirror needs its own cores$/,
    ));
  it('several mirrors on NIC cores are grouped in one error', () =>
    // mirror mask 0xf: master 0, mirrors on cores 1, 2, 3; vf[0] workers 2-5 (0x3e)
    rejects(
      { mappings: '00:04.0#phys1#1#0x3e', mirror: '3#0xf' },
      /^generated layout: mirror\[1,2\]\.core: cores 2-3 are used by both vf\[0\] and spp_mirror; spp_mirror needs its own cores$/,
    ));
});

const FILE = 'layout.yaml';
const MAPPINGS = '00:04.0#phys1#2#0x7e';

function customRejects(yaml: string, pattern: RegExp, mirror?: string): void {
  assert.throws(
    () =>
      planHostLayout({
        mappings: MAPPINGS,
        ...(mirror ? { mirror } : {}),
        custom: { layout: parseCustomLayout(yaml, FILE), file: FILE },
      }),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

/** Forwarder-less layout: vhosts attached directly to the classifier and the merger. */
const DIRECT = `
vf:
  - components:
      - {core: 2, type: classifier_mac, name: classifier, rx_port: [phy:0], tx_port: [vhost:0, vhost:1]}
      - {core: 3, type: merge, name: merger, rx_port: [vhost:0, vhost:1], tx_port: [phy:0]}
`;

describe('custom layouts', () => {
  it('accepts a forwarder-less layout', () => {
    const { config } = planHostLayout({
      mappings: MAPPINGS,
      custom: { layout: parseCustomLayout(DIRECT, FILE), file: FILE },
    });
    assert.deepEqual(
      config.vf[0]?.components.map((component) => component.name),
      ['classifier', 'merger'],
    );
    assert.equal(config.vf[0]?.num_vhost, 2);
  });

  it('rejects invalid YAML naming the file', () =>
    customRejects('vf: [', /^layout\.yaml: not valid YAML/));
  it('rejects a bad port syntax', () =>
    customRejects(
      DIRECT.replace('tx_port: [vhost:0, vhost:1]', 'tx_port: [vhost0, vhost:1]'),
      /layout\.yaml: vf\[0\]\.components\[0\]\.tx_port\[0\]: must be phy:<n>, ring:<n> or vhost:<n>/,
    ));
  it('rejects an unknown component type', () =>
    customRejects(
      DIRECT.replace('type: classifier_mac', 'type: classifier'),
      /layout\.yaml: vf\[0\]\.components\[0\]\.type: unknown component type "classifier"/,
    ));
  it('rejects duplicate names in one process', () =>
    customRejects(
      DIRECT.replace('name: merger', 'name: classifier'),
      /layout\.yaml: vf\[0\]\.components\[1\]\.name: duplicate component name "classifier" \(also components\[0\]\)/,
    ));
  it('rejects a core outside the mask', () =>
    customRejects(
      DIRECT.replace('core: 3', 'core: 9'),
      /layout\.yaml: vf\[0\]\.components\[1\]\.core: core 9 is not a worker core of mask 0x7e/,
    ));
  it('rejects the master core', () =>
    customRejects(
      DIRECT.replace('core: 3', 'core: 1'),
      /components\[1\]\.core: core 1 is not a worker core/,
    ));
  it('rejects a vhost without a merger-side path', () =>
    customRejects(
      DIRECT.replace('rx_port: [vhost:0, vhost:1]', 'rx_port: [vhost:0]'),
      /layout\.yaml: vf\[0\]\.components: vhost:1 is not the rx port of any component \(no merger-side path\)/,
    ));
  it('rejects a vhost without a classifier-side path', () =>
    customRejects(
      DIRECT.replace('tx_port: [vhost:0, vhost:1]', 'tx_port: [vhost:0]'),
      /vhost:1 is not the tx port of any component \(no classifier-side path\)/,
    ));
  it('rejects a vhost outside the NIC', () =>
    customRejects(
      DIRECT.replace('tx_port: [vhost:0, vhost:1]', 'tx_port: [vhost:0, vhost:1, vhost:2]'),
      /tx_port\[2\]: vhost:2 is outside this NIC's vhost ids 0\.\.1/,
    ));
  it('rejects too many or too few vf entries', () =>
    customRejects(
      DIRECT + DIRECT.replace('vf:\n', ''),
      /layout\.yaml: vf: has 2 entries, but the NIC mappings list 1 NIC\(s\)/,
    ));
  it('rejects mirrors given without rings', () =>
    customRejects(
      DIRECT + 'mirror:\n  - {core: 5}\n',
      /layout\.yaml: mirror\[0\]\.ports: a mirror needs "ports": two rings/,
      '1#0x60',
    ));
  it('rejects mirror ports that are not rings', () =>
    customRejects(
      DIRECT + 'mirror:\n  - {core: 6, ports: [phy:0, ring:1]}\n',
      /mirror\[0\]\.ports\[0\]: a mirror port must be a ring, got phy:0/,
      '1#0x60',
    ));
  it('rejects mirrors without a mirror spec', () =>
    customRejects(
      DIRECT + 'mirror:\n  - {core: 6, ports: [ring:4, ring:5]}\n',
      /layout\.yaml: mirror: the layout defines mirrors, but no mirror spec/,
    ));
  it('rejects mirrors on vhosts without forwarders', () =>
    customRejects(
      DIRECT + 'mirror:\n  - {core: 6, ports: [ring:4, ring:5]}\n',
      /vhost:0 has no forwarders, but mirrors \(tap-as-a-service\) need forwarders/,
      '1#0x60',
    ));
  it('rejects two classifiers on one core', () =>
    customRejects(
      `
vf:
  - components:
      - {core: 2, type: classifier_mac, name: c1, rx_port: [phy:0], tx_port: [vhost:0]}
      - {core: 2, type: classifier_mac, name: c2, rx_port: [phy:0], tx_port: [vhost:1]}
      - {core: 3, type: merge, name: merger, rx_port: [vhost:0, vhost:1], tx_port: [phy:0]}
`,
      /components\[1\]\.core: core 2 already runs a classifier_mac/,
    ));
});
