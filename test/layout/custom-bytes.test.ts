import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseCustomLayout } from '../../src/layout/custom.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { InputError } from '../../src/util/errors.js';

/*
 * The expected bytes come from Python: test/layout/original_config_build.py reads each
 * YAML with PyYAML and assembles the value with json.dumps as the original's
 * spp-config-build does (python3-yaml, scripts/ensure-system-deps.sh).
 */
const ORACLE = fileURLToPath(
  new URL('../../../test/layout/original_config_build.py', import.meta.url),
);

interface Case {
  yaml: string;
  mappings: string;
  mirror?: string;
}

function originalValues(cases: Case[]): string[] {
  const run = spawnSync('/usr/bin/python3', [ORACLE], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, `the Python oracle failed: ${run.stderr}`);
  const results = JSON.parse(run.stdout) as Array<{ value?: string; error?: string }>;
  return results.map((result, index) => {
    assert.ok(result.value !== undefined, `case ${index}: Python failed: ${result.error}`);
    return result.value;
  });
}

function ourValue(c: Case): string {
  return planHostLayout({
    mappings: c.mappings,
    ...(c.mirror ? { mirror: c.mirror } : {}),
    custom: { layout: parseCustomLayout(c.yaml, 'layout.yaml'), file: 'layout.yaml' },
  }).value;
}

// The original's documentation example 1 (keys as the docs write them: core, name,
// rx_port, tx_port, type), cores shared by two forwarders.
const DOCS_EXAMPLE = `vf:
- components:
  - core: 2
    name: forward_0_tx
    rx_port:
    - ring:0
    tx_port:
    - vhost:0
    type: forward
  - core: 2
    name: forward_0_rx
    rx_port:
    - vhost:0
    tx_port:
    - ring:1
    type: forward
  - core: 4
    name: classifier
    rx_port:
    - phy:0
    tx_port:
    - ring:0
    type: classifier_mac
  - core: 5
    name: merger
    rx_port:
    - ring:1
    tx_port:
    - phy:0
    type: merge
`;

const NAMED_CASES: Array<[string, Case]> = [
  [
    'the documentation example (core, name, rx_port, tx_port, type)',
    {
      yaml: DOCS_EXAMPLE,
      mappings: '00:04.0#phys1#1#0x3e',
    },
  ],
  [
    'flow style, type first, tx_port before rx_port, two NICs without forwarders',
    {
      yaml: `vf:
  - components:
      - {type: classifier_mac, tx_port: [vhost:0, vhost:1], rx_port: [phy:0], name: classifier, core: 6}
      - {name: merger, core: 7, type: merge, tx_port: [phy:0], rx_port: [vhost:0, vhost:1]}
  - components:
      - {tx_port: [vhost:2, vhost:3], core: 14, rx_port: [phy:1], type: classifier_mac, name: classifier}
      - {rx_port: [vhost:2, vhost:3], tx_port: [phy:1], name: merger, type: merge, core: 15}
`,
      mappings: '00:04.0#phys1#2#0xc2,00:05.0#phys2#2#0xc002',
    },
  ],
  [
    'extra keys (kept in components and mirrors, ignored elsewhere), YAML 1.1 scalars',
    {
      yaml: `note: ignored by the original
vf:
  - owner: ops
    components:
      - {core: 0x2, comment: "naïve – ✓", name: 'classifier', weight: 2.5, enabled: yes,
         rx_port: [phy:0], tx_port: [vhost:0], spare: ~, tags: [a, 010, 1:30], 7: seven,
         type: classifier_mac}
      - core: 03
        type: merge
        extra: {b: 1, a: [1.0, 1e5, 1_000]}
        name: merger
        rx_port: [vhost:0]
        tx_port: [phy:0]
`,
      mappings: '00:04.0#phys1#1#0xe',
    },
  ],
  [
    'mirror entries with ports first and extra keys',
    {
      yaml: `${DOCS_EXAMPLE}mirror:
  - {ports: [ring:2, ring:3], core: 7, label: first}
  - core: 8
    ports: [ring:4, ring:5]
    "naïve": ✓
`,
      mappings: '00:04.0#phys1#1#0x3e',
      mirror: '2#0x1c0',
    },
  ],
  [
    'anchors and aliases, quoted keys, block scalars',
    {
      yaml: `vf:
  - components:
      - "core": &shared 2
        name: forward_0_tx
        type: forward
        rx_port: &to_vm [ring:0]
        tx_port: [vhost:0]
      - core: *shared
        name: forward_0_rx
        type: forward
        rx_port: [vhost:0]
        tx_port: [ring:1]
      - core: 4
        name: |-
          classifier
        type: classifier_mac
        rx_port: [phy:0]
        tx_port: *to_vm
      - {core: 5, name: merger, type: merge, rx_port: [ring:1], tx_port: [phy:0]}
`,
      mappings: '00:04.0#phys1#1#0x3e',
    },
  ],
  [
    'an empty mirror list: mirrors generated from the spec, as the original does',
    {
      yaml: `${DOCS_EXAMPLE}mirror: []\n`,
      mappings: '00:04.0#phys1#1#0x3e',
      mirror: '1#0xc0',
    },
  ],
];

describe('custom layouts are written byte-identical to the original spp-config-build', () => {
  it('the named cases', () => {
    const expected = originalValues(NAMED_CASES.map(([, c]) => c));
    NAMED_CASES.forEach(([name, c], index) => {
      assert.equal(ourValue(c), expected[index], name);
    });
  });

  it('keeps the file order, which differs from ours for generated layouts', () => {
    const value = ourValue(NAMED_CASES[0]![1]);
    assert.ok(
      value.includes(
        '{"core": 2, "name": "forward_0_tx", "rx_port": ["ring:0"], "tx_port": ["vhost:0"], "type": "forward"}',
      ),
      value,
    );
  });

  it('random key orders, styles and extra keys (fast-check, one Python run)', () => {
    const cases = fc.sample(layoutCase(), { numRuns: 150, seed: 1515 });
    const expected = originalValues(cases);
    cases.forEach((c, index) => {
      assert.equal(ourValue(c), expected[index], `case ${index}:\n${c.yaml}`);
    });
  });
});

// ---- random layouts: the default layout of one NIC with 2 vhosts, spelled at random ----

const NIC = '00:04.0#phys1#2#0xfe';
const MIRROR = '2#0x700';

const EXTRA_VALUES = [
  'yes',
  'No',
  'on',
  '010',
  '0x1f',
  '0b11',
  '1:30',
  '1_000',
  '-0',
  '+7',
  '12345678901234567890',
  '1.5',
  '3.0',
  '1.',
  '.5',
  '1e5',
  '1.0e+5',
  '6.02e+23',
  '0.0001',
  '1.0e-5',
  '~',
  'null',
  '""',
  '"naïve ✓"',
  "'it''s'",
  'plain words',
  '"\\u00e9\\t"',
  '[1, two, 3.0]',
  '{z: 1, a: 2}',
  '09',
];
const EXTRA_KEYS = ['note', 'comment', 'ä', 'x1', '"10"', '2', 'ON', '3.5'];

function component(fields: Array<[string, string]>): fc.Arbitrary<string> {
  return fc
    .record({
      order: fc.shuffledSubarray(fields, { minLength: fields.length, maxLength: fields.length }),
      extras: fc.uniqueArray(fc.constantFrom(...EXTRA_KEYS), { maxLength: 3 }),
      values: fc.array(fc.constantFrom(...EXTRA_VALUES), { minLength: 3, maxLength: 3 }),
      flow: fc.boolean(),
      at: fc.nat(),
    })
    .map(({ order, extras, values, flow, at }) => {
      const pairs = [...order];
      extras.forEach((key, index) =>
        pairs.splice((at + index) % (pairs.length + 1), 0, [key, values[index]!]),
      );
      if (flow) return `      - {${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
      return pairs
        .map(([k, v], index) => `${index === 0 ? '      - ' : '        '}${k}: ${v}`)
        .join('\n');
    });
}

function fieldsOf(
  core: string,
  type: string,
  name: string,
  rx: string,
  tx: string,
): Array<[string, string]> {
  return [
    ['core', core],
    ['type', type],
    ['name', name],
    ['rx_port', rx],
    ['tx_port', tx],
  ];
}

/** The default layout's six components of a NIC with 2 vhosts (workers 2-7), mirrors on 9, 10. */
function layoutCase(): fc.Arbitrary<Case> {
  const components = [
    fieldsOf('2', 'forward', 'forward_0_tx', '[ring:0]', '[vhost:0]'),
    fieldsOf('0x3', 'forward', 'forward_0_rx', '[vhost:0]', '[ring:1]'),
    fieldsOf('4', 'forward', '"forward_1_tx"', '[ring:2]', '[vhost:1]'),
    fieldsOf('05', 'forward', 'forward_1_rx', '[vhost:1]', '[ring:3]'),
    fieldsOf('6', 'classifier_mac', 'classifier', '[phy:0]', '[ring:0, ring:2]'),
    fieldsOf('7', 'merge', "'merger'", '[ring:1, ring:3]', '[phy:0]'),
  ].map(component);
  const mirror = (core: string, ports: string) =>
    fc
      .tuple(fc.boolean(), fc.option(fc.constantFrom(...EXTRA_VALUES), { nil: undefined }))
      .map(([portsFirst, extra]) => {
        const pairs = portsFirst
          ? [`ports: ${ports}`, `core: ${core}`]
          : [`core: ${core}`, `ports: ${ports}`];
        if (extra !== undefined) pairs.push(`label: ${extra}`);
        return `  - {${pairs.join(', ')}}`;
      });
  return fc
    .record({
      parts: fc.tuple(...components),
      mirrors: fc.option(
        fc.tuple(mirror('9', '[ring:4, ring:5]'), mirror('10', '[ring:6, ring:7]')),
        {
          nil: undefined,
        },
      ),
    })
    .map(({ parts, mirrors }) => ({
      yaml: `vf:\n  - components:\n${parts.join('\n')}\n${mirrors ? `mirror:\n${mirrors.join('\n')}\n` : ''}`,
      mappings: NIC,
      ...(mirrors ? { mirror: MIRROR } : {}),
    }));
}

function rejects(yaml: string, pattern: RegExp): void {
  assert.throws(
    () => parseCustomLayout(yaml, 'layout.yaml'),
    (error: unknown) => error instanceof InputError && pattern.test(error.message),
  );
}

const BASE = (core: string, extra = '') => `vf:
  - components:
      - {core: ${core}, type: classifier_mac, name: classifier, rx_port: [phy:0], tx_port: [vhost:0]${extra}}
      - {core: 3, type: merge, name: merger, rx_port: [vhost:0], tx_port: [phy:0]}
`;

describe('custom layouts: what the original would write but we refuse, with the reason', () => {
  it('a float core id', () =>
    rejects(
      BASE('2.0'),
      /^layout\.yaml: vf\[0\]\.components\[0\]\.core: must be an integer core id, not 2\.0$/,
    ));
  it('a core id out of range', () =>
    rejects(BASE('0x80'), /components\[0\]\.core: a core id is 0 to 127/));
  it('a key given twice', () =>
    rejects(
      BASE('2', ', core: 4'),
      /^layout\.yaml: line 3, column \d+: key core appears twice in one mapping$/,
    ));
  it('a date', () =>
    rejects(
      BASE('2', ', since: 2019-04-10'),
      /line 3, column \d+: "2019-04-10" is a date, which JSON cannot hold/,
    ));
  it('NaN or infinity', () =>
    rejects(
      BASE('2', ', weight: .nan'),
      /^layout\.yaml: vf\[0\]\.components\[0\]\.weight: nan cannot be written as JSON/,
    ));
  it('merge keys', () => rejects(BASE('2', ', <<: {a: 1}'), /merge keys \(<<\) are not supported/));
  it('an alias of itself', () => rejects('vf: &a [*a]\n', /alias \*a refers to itself/));
  it('other tags', () =>
    rejects(BASE('2', ', blob: !!binary aGk='), /the tag !!binary is not supported/));
  it('a document that is not a mapping', () => rejects('- 1\n', /a layout is a mapping with "vf"/));
  it('warns about extra keys, naming them', () => {
    const layout = parseCustomLayout(`top: 1\n${BASE('2', ', note: x')}`, 'layout.yaml');
    assert.deepEqual(layout.source?.warnings, [
      'layout.yaml: vf[0].components[0]: "note" is not a component setting; written to etcd as given, the agents ignore it',
      'layout.yaml: "top" is ignored (only "vf" and "mirror" are read)',
    ]);
  });
});
