import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyVlanOp, classify } from '../../src/emulator/model/dataplane.js';
import { SppHost } from '../../src/emulator/model/host.js';
import type { CommandReply, SecondaryProcess } from '../../src/emulator/model/process.js';
import { formatReply } from '../../src/emulator/model/process.js';
import { PyFloat, PyInt, fastPythonJsonDumps, parsePythonJson } from '../../src/emulator/python.js';
import type { Dialect, HostSpec } from '../../src/emulator/spec.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { pythonJsonDumps } from '../../src/layout/pyjson.js';

/** SPP-SPEC §10 set-up: spp_vf 1 (workers 2..7, one NIC), spp_mirror 3, primary -n 4. */
function vectorHost(dialect: Dialect = '18.08'): SppHost {
  const spec: HostSpec = {
    nics: 1,
    rings: 4,
    dialect,
    processes: [
      { type: 'vf', clientId: 1, coreMask: '0xfe' },
      { type: 'mirror', clientId: 3, coreMask: '0x300' },
    ],
  };
  return new SppHost(spec);
}

function vf(host: SppHost, id = 1): SecondaryProcess {
  const process = host.process(id);
  assert.ok(process, `process ${id} is connected`);
  return process;
}

function ok(host: SppHost, id: number, command: string): void {
  assert.deepEqual(host.command(id, command), { result: 'success' }, command);
}

function fails(host: SppHost, id: number, command: string, message: string): void {
  const reply: CommandReply = host.command(id, command);
  assert.deepEqual(reply, { result: 'error', message }, command);
}

const MAC_X = 'fa:16:3e:00:00:01';

describe('hostSpecFromLayout', () => {
  test('default layout: one spp_vf per NIC, rings 2 x vhosts + 2 x mirrors, mirror N+1', () => {
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#1#0x3f00',
      mirror: '1#0x30000',
    });
    assert.deepEqual(hostSpecFromLayout(config, { mirrorCoreMask: '0x30000' }), {
      nics: 2,
      rings: 8,
      processes: [
        { type: 'vf', clientId: 1, coreMask: '0xfe' },
        { type: 'vf', clientId: 2, coreMask: '0x3f00' },
        { type: 'mirror', clientId: 3, coreMask: '0x30000' },
      ],
      dialect: '18.08',
      portTableSize: 32,
    });
    // Without the operator's mask: the mirror cores plus the first vf's master lcore.
    const derived = hostSpecFromLayout(config, { dialect: '19.11' });
    assert.deepEqual(derived.processes[2], { type: 'mirror', clientId: 3, coreMask: '0x20002' });
    assert.equal(derived.dialect, '19.11');
  });

  test('raises the port table when the layout uses indices above 31', () => {
    const { config } = planHostLayout({ mappings: '00:04.0#phys1#17#0x1fffffffff' });
    const spec = hostSpecFromLayout(config);
    assert.equal(spec.rings, 34);
    assert.equal(spec.portTableSize, 34);
    const host = new SppHost(spec);
    ok(host, 1, 'component start f 2 forward');
    ok(host, 1, 'port add ring:33 rx f');
  });
});

describe('status', () => {
  test('fresh spp_vf: phys only, one unuse entry per worker lcore, empty table (vector 1)', () => {
    const host = vectorHost();
    const unuse = [2, 3, 4, 5, 6, 7].map((core) => `{"core": ${core}, "type": "unuse"}`);
    assert.equal(
      fastPythonJsonDumps(vf(host).restStatus()),
      `{"client-id": 1, "ports": ["phy:0"], "components": [${unuse.join(', ')}], "classifier_table": []}`,
    );
  });

  test('raw status reply uses SPP layout; 19.11 adds master-lcore and string indices', () => {
    const host = vectorHost('18.08');
    ok(host, 3, 'component start m 9 mirror');
    assert.equal(
      formatReply(host.command(3, 'status')),
      '{ "results": [ { "result": "success" } ], "info": { "client-id": 3, "phy": [ 0 ], "vhost": [  ], "ring": [  ], "core": [ { "core": 9, "name": "m", "type": "mirror", "rx_port": [  ], "tx_port": [  ] } ] } }',
    );
    const latest = vectorHost('19.11');
    ok(latest, 1, 'component start f 2 forward');
    ok(latest, 1, 'port add ring:1 rx f');
    const rest = fastPythonJsonDumps(vf(latest).restStatus());
    assert.match(rest, /^\{"client-id": 1, "ports": \["phy:0", "ring:1"\], "master-lcore": 1, /);
    const info = vf(latest).statusInfo();
    assert.deepEqual(info.ring, ['1']);
    assert.equal(
      formatReply({ result: 'error', message: 'error occur' }),
      '{ "results": [ { "result": "error", "error_details": { "message": "error occur" } } ] }',
    );
  });

  test('components on one lcore are listed in start order; stop shifts the rest up', () => {
    const host = vectorHost('19.11');
    ok(host, 1, 'component start a 3 forward');
    ok(host, 1, 'component start b 3 merge');
    ok(host, 1, 'component start c 3 forward');
    ok(host, 1, 'component stop b');
    const names = vf(host)
      .componentsJson()
      .filter((entry) => entry.core === 3)
      .map((entry) => ('name' in entry ? entry.name : entry.type));
    assert.deepEqual(names, ['a', 'c']);
  });
});

describe('command engine', () => {
  const cases: Array<[string, string, string]> = [
    ['bogus', 'bad value(command)', 'Invalid value (command)'],
    ['status now', 'bad message format', 'Wrong message format'],
    ['port add a b c d e f g h', 'bad message format', 'Wrong message format'],
    ['component begin g 2 forward', 'bad value(action)', 'Invalid value (action)'],
    ['component start g 128 forward', 'bad value(core)', 'Invalid value (core)'],
    ['component start g -1 forward', 'bad value(core)', 'Invalid value (core)'],
    ['component start g 2 spray', 'bad value(component type)', 'Invalid value (component type)'],
    [
      `component start ${'n'.repeat(111)} 2 forward`,
      'bad value(component name)',
      'Invalid value (component name)',
    ],
    ['port add pcap:0 rx f', 'bad value(port)', 'Invalid value (port)'],
    ['port add ring:-1 rx f', 'bad value(port)', 'Invalid value (port)'],
    ['port add ring:0 both f', 'bad value(port rxtx)', 'Invalid value (port rxtx)'],
    ['port add ring:0 rx nobody', 'bad value(component name)', 'Invalid value (component name)'],
    [
      'port add ring:0 rx f none',
      'bad value(port vlan operation)',
      'Invalid value (port vlan operation)',
    ],
    ['port add ring:0 rx f add_vlantag 4096 0', 'bad value(port vid)', 'Invalid value (port vid)'],
    ['port add ring:0 rx f add_vlantag 10 8', 'bad value(port pcp)', 'Invalid value (port pcp)'],
    ['classifier_table put mac default ring:0', 'bad value(action)', 'Invalid value (action)'],
    ['classifier_table add vlan default ring:0', 'bad value(type)', 'Invalid value (type)'],
    [
      'classifier_table add vlan 4096 default ring:0',
      'bad value(vlan id)',
      'Invalid value (vlan id)',
    ],
    [
      'classifier_table add mac fa-16-3e-00-00-01 ring:0',
      'bad value(mac address)',
      'Invalid value (mac address)',
    ],
    ['classifier_table add mac default ring:3', 'bad value(port)', 'Invalid value (port)'],
  ];
  for (const dialect of ['18.08', '19.11'] as const) {
    test(`decode errors name the failing parameter (${dialect})`, () => {
      const host = vectorHost(dialect);
      ok(host, 1, 'component start f 2 forward');
      for (const [command, v18, latest] of cases) {
        fails(host, 1, command, dialect === '18.08' ? v18 : latest);
      }
      // None of them changed anything.
      assert.deepEqual(vf(host).restStatus().ports, ['phy:0']);
    });
  }

  test('classifier type name and lcore mixing follow the dialect', () => {
    const v18 = vectorHost('18.08');
    ok(v18, 1, 'component start c 6 classifier_mac');
    fails(v18, 1, 'component start x 5 classifier', 'bad value(component type)');
    ok(v18, 1, 'component start f 2 forward');
    fails(v18, 1, 'component start g 2 merge', 'bad value(component type)');
    const latest = vectorHost('19.11');
    fails(latest, 1, 'component start c 6 classifier_mac', 'Invalid value (component type)');
    ok(latest, 1, 'component start c 6 classifier');
    ok(latest, 1, 'component start f 6 forward');
    fails(latest, 3, 'component start f 9 forward', 'Invalid value (component type)');
  });

  test('no hangs: master lcore, foreign lcore, second classifier on an lcore -> error occur', () => {
    for (const dialect of ['18.08', '19.11'] as const) {
      const host = vectorHost(dialect);
      const classifier = dialect === '18.08' ? 'classifier_mac' : 'classifier';
      fails(host, 1, 'component start f 1 forward', 'error occur');
      fails(host, 1, 'component start f 9 forward', 'error occur');
      ok(host, 1, `component start c1 6 ${classifier}`);
      fails(host, 1, `component start c2 6 ${classifier}`, 'error occur');
      assert.equal(vf(host).components().length, 1);
    }
  });

  test('attach is not idempotent; used in both directions -> bad value(port)', () => {
    const host = vectorHost();
    ok(host, 1, 'component start f 2 forward');
    ok(host, 1, 'component start m 3 merge');
    ok(host, 1, 'port add ring:0 rx f');
    fails(host, 1, 'port add ring:0 rx f', 'bad value(port rxtx)');
    fails(host, 1, 'port add ring:0 rx m', 'bad value(port rxtx)');
    ok(host, 1, 'port add ring:0 tx m');
    fails(host, 1, 'port add ring:0 tx f', 'bad value(port)');
    // Detach of something not attached succeeds; stopping an unknown component too.
    ok(host, 1, 'port del ring:3 tx f');
    ok(host, 1, 'component stop nosuch');
  });

  test('count limits are checked before anything changes', () => {
    const host = vectorHost();
    ok(host, 1, 'component start f 2 forward');
    ok(host, 1, 'port add ring:0 rx f');
    fails(host, 1, 'port add ring:1 rx f', 'error occur');
    // ring:1 was not created and is not "used": attaching it elsewhere works.
    assert.deepEqual(vf(host).restStatus().ports, ['phy:0', 'ring:0']);
    ok(host, 1, 'component start m 3 merge');
    ok(host, 1, 'port add ring:1 rx m');
    ok(host, 1, 'port add ring:2 rx m');
    ok(host, 1, 'port add vhost:0 tx m');
    fails(host, 1, 'port add vhost:1 tx m', 'error occur');
    ok(host, 3, 'component start mir 9 mirror');
    ok(host, 3, 'port add ring:0 tx mir');
    ok(host, 3, 'port add ring:1 tx mir');
    fails(host, 3, 'port add ring:2 tx mir', 'error occur');
  });

  test('ports that do not exist fail with error occur; ring:010 is ring 8', () => {
    const host = new SppHost({
      nics: 1,
      rings: 10,
      dialect: '18.08',
      processes: [{ type: 'vf', clientId: 1, coreMask: '0xfe' }],
    });
    ok(host, 1, 'component start m 2 merge');
    fails(host, 1, 'port add ring:10 rx m', 'error occur');
    fails(host, 1, 'port add phy:1 rx m', 'error occur');
    fails(host, 1, 'port add vhost:32 rx m', 'error occur');
    ok(host, 1, 'port add ring:010 rx m');
    ok(host, 1, 'port add ring:0x1 rx m');
    assert.deepEqual(vf(host).restStatus().ports, ['phy:0', 'ring:1', 'ring:8']);
  });

  test('VLAN ops live on (port, direction): detach clears them, the override form rewrites', () => {
    const host = vectorHost();
    ok(host, 1, 'component start m 7 merge');
    ok(host, 1, 'port add ring:3 rx m add_vlantag 100 3');
    const vlan = () => vf(host).vlanOf(vf(host).port('ring', 3)!, 'rx');
    assert.deepEqual(vlan(), { operation: 'add', id: 100, pcp: 3 });
    // 8 tokens = override: no in-use check, rewrites the first add slot.
    ok(host, 1, 'port add ring:3 rx m add_vlantag 200 0');
    assert.deepEqual(vlan(), { operation: 'add', id: 200, pcp: 0 });
    assert.equal(vf(host).component('m')?.rx.length, 1);
    ok(host, 1, 'port del ring:3 rx m');
    assert.deepEqual(vlan(), { operation: 'none', id: 0, pcp: 0 });
    ok(host, 1, 'port add ring:3 rx m del_vlantag');
    assert.deepEqual(vlan(), { operation: 'del', id: 0, pcp: 0 });
  });

  test('classification ids: one per port, exact delete, kept across detach and stop', () => {
    const host = vectorHost();
    ok(host, 1, 'component start cls 6 classifier_mac');
    ok(host, 1, 'port add ring:0 tx cls');
    ok(host, 1, 'port add ring:2 tx cls');
    ok(host, 1, `classifier_table add mac ${MAC_X} ring:0`);
    fails(host, 1, 'classifier_table add mac fa:16:3e:00:00:02 ring:0', 'bad value(port)');
    ok(host, 1, `classifier_table add vlan 100 FA:16:3E:00:00:09 ring:2`);
    const table = () => vf(host).restStatus().classifier_table;
    assert.deepEqual(table(), [
      { type: 'vlan', value: '100/FA:16:3E:00:00:09', port: 'ring:2' },
      { type: 'mac', value: 'FA:16:3E:00:00:01', port: 'ring:0' },
    ]);
    // Not listed while ring:0 is not a classifier tx port, back after re-attach.
    ok(host, 1, 'port del ring:0 tx cls');
    assert.equal(table()?.length, 1);
    ok(host, 1, 'port add ring:0 tx cls');
    assert.equal(table()?.length, 2);
    fails(host, 1, `classifier_table del vlan 10 ${MAC_X} ring:0`, 'bad value(port)');
    ok(host, 1, 'classifier_table del mac FA:16:3E:00:00:01 ring:0');
    ok(host, 1, 'classifier_table add mac default ring:0');
    ok(host, 1, 'component stop cls');
    assert.deepEqual(table(), []);
    ok(host, 1, 'component start cls 6 classifier_mac');
    ok(host, 1, 'port add ring:0 tx cls');
    assert.deepEqual(table(), [{ type: 'mac', value: 'default', port: 'ring:0' }]);
  });

  test('rings are shared across processes; "in use" is per process', () => {
    const host = vectorHost();
    ok(host, 1, 'component start f 2 merge');
    ok(host, 1, 'port add ring:0 rx f');
    ok(host, 3, 'component start m 9 mirror');
    ok(host, 3, 'port add ring:0 rx m');
    assert.deepEqual(vf(host, 3).restStatus().ports, ['phy:0', 'ring:0']);
  });
});

describe('process table', () => {
  test('restart empties a process; disconnect/connect moves it to the end of the table', () => {
    const host = vectorHost('19.11');
    ok(host, 1, 'component start f 2 forward');
    ok(host, 1, 'port add vhost:0 rx f');
    host.restart(1, false);
    assert.equal(host.process(1), undefined);
    assert.deepEqual(host.processTable(), [
      { type: 'primary' },
      { type: 'mirror', 'client-id': 3 },
    ]);
    host.connect(1);
    assert.deepEqual(
      host.processTable().map((entry) => ('client-id' in entry ? entry['client-id'] : 0)),
      [0, 3, 1],
    );
    assert.deepEqual(vf(host).restStatus().ports, ['phy:0']);
    assert.equal(vf(host).components().length, 0);
    assert.deepEqual(host.command(3, 'exit'), { result: 'success', exit: true });
    assert.equal(host.isConnected(3), false);
  });
});

describe('data plane', () => {
  const frame = (hex: string) => Buffer.from(hex.replaceAll(' ', ''), 'hex');

  test('VLAN add inserts or overwrites a tag; del removes one tag', () => {
    const untagged = frame('ffffffffffff 000000000009 0800 4500');
    const tagged = applyVlanOp(untagged, 'add', 100, 5);
    assert.equal(tagged.toString('hex'), 'ffffffffffff000000000009' + '8100a064' + '08004500');
    assert.equal(applyVlanOp(tagged, 'add', 7, 0).toString('hex').slice(24, 32), '81000007');
    assert.equal(applyVlanOp(tagged, 'del', 0, 0).toString('hex'), untagged.toString('hex'));
    assert.equal(applyVlanOp(untagged, 'del', 0, 0), untagged);
  });

  test('classifier: exact match, flood to the VID holders, defaults, drops', () => {
    const host = vectorHost('19.11');
    ok(host, 1, 'component start cls 6 classifier');
    for (const ring of [0, 1, 2, 3]) ok(host, 1, `port add ring:${ring} tx cls`);
    ok(host, 1, `classifier_table add mac ${MAC_X} ring:0`);
    ok(host, 1, 'classifier_table add vlan 100 fa:16:3e:00:00:02 ring:1');
    ok(host, 1, 'classifier_table add vlan 100 fa:16:3e:00:00:03 ring:2');
    const cls = vf(host).component('cls')!;
    const to = (hex: string) => classify(cls, frame(hex)).map((port) => port.key);
    const vlan100 = '8100 0064 0800';
    assert.deepEqual(to(`fa163e000001 000000000009 0800`), ['ring:0']);
    assert.deepEqual(to(`fa163e000002 000000000009 ${vlan100}`), ['ring:1']);
    assert.deepEqual(to(`ffffffffffff 000000000009 ${vlan100}`), ['ring:1', 'ring:2']);
    assert.deepEqual(to(`fa163e000099 000000000009 ${vlan100}`), []);
    assert.deepEqual(to(`fa163e000001 000000000009 8100 00c8 0800`), []);
    ok(host, 1, 'classifier_table add mac default ring:3');
    assert.deepEqual(to(`fa163e000099 000000000009 ${vlan100}`), ['ring:3']);
    assert.deepEqual(to(`ffffffffffff 000000000009 ${vlan100}`), ['ring:1', 'ring:2', 'ring:3']);
    assert.deepEqual(to(`fa163e000001 000000000009 8100 00c8 0800`), ['ring:3']);
  });

  test('inject follows rings across processes; a mirror sends the original then a copy', () => {
    const host = vectorHost();
    ok(host, 1, 'component start fwd 2 forward');
    ok(host, 1, 'port add phy:0 rx fwd');
    ok(host, 1, 'port add ring:0 tx fwd add_vlantag 10 0');
    ok(host, 3, 'component start m 9 mirror');
    ok(host, 3, 'port add ring:0 rx m');
    ok(host, 3, 'port add ring:1 tx m');
    ok(host, 3, 'port add ring:2 tx m');
    ok(host, 1, 'component start a 3 forward');
    ok(host, 1, 'port add ring:1 rx a');
    ok(host, 1, 'port add vhost:0 tx a del_vlantag');
    ok(host, 1, 'component start b 4 forward');
    ok(host, 1, 'port add ring:2 rx b');
    ok(host, 1, 'port add vhost:1 tx b');
    const egress = host.inject('phy', 0, frame('fa163e000001 000000000009 0800 45'));
    assert.deepEqual(
      egress.map((out) => [out.port, out.frame.toString('hex')]),
      [
        ['vhost:0', 'fa163e000001000000000009080045'],
        ['vhost:1', 'fa163e0000010000000000098100000a080045'],
      ],
    );
    // Not ready (mirror lost a tx): nothing reads ring:0, the frame is dropped.
    ok(host, 3, 'port del ring:2 tx m');
    assert.deepEqual(host.inject('phy', 0, frame('fa163e000001 000000000009 0800')), []);
    assert.equal(host.primaryStatus().phy_ports[0]?.rx, 2);
  });
});

describe('python semantics', () => {
  test('json.loads keeps ints and floats apart and accepts NaN', () => {
    const parsed = parsePythonJson('{"a": 2, "b": 2.0, "c": NaN, "d": [true, null]}');
    assert.ok(!(parsed instanceof Array) && parsed !== null && typeof parsed === 'object');
    const map = (parsed as { map: Map<string, unknown> }).map;
    assert.deepEqual(map.get('a'), new PyInt(2n));
    assert.deepEqual(map.get('b'), new PyFloat(2));
    assert.ok(Number.isNaN((map.get('c') as PyFloat).value));
    assert.throws(() => parsePythonJson('{"a": 1} x'));
    assert.throws(() => parsePythonJson('"tab\there"'));
  });

  test('the fast serialiser matches pythonJsonDumps', () => {
    const value = { 'client-id': 1, é: ['\u2028', 'a"b\\', 1.5, null, true], skip: undefined };
    assert.equal(fastPythonJsonDumps(value), pythonJsonDumps(value));
  });
});
