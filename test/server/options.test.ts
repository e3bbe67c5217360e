import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IniOptions } from '../../src/config/ini.js';
import { RevisionClock } from '../../src/server/watch-hub.js';
import { checkAuth, parseListen, serverOptionsFromIni } from '../../src/server/options.js';
import { planBind, portView, selectSegment } from '../../src/server/plan.js';
import { keys } from '../../src/etcd/keys.js';
import type { KeyValue } from '../../src/etcd/store.js';

describe('[spp_server] options', () => {
  it('has the documented defaults and takes etcd from [spp]', () => {
    const options = serverOptionsFromIni(
      IniOptions.fromText('[spp]\netcd_host = 10.0.0.5\netcd_port = 12379\n', 'ml2_conf.ini'),
    );
    assert.equal(options.listenAddress, '127.0.0.1');
    assert.equal(options.listenPort, 9697);
    assert.equal(options.bindTimeoutMs, 20_000);
    assert.equal(options.syncGraceMs, 60_000);
    assert.equal(options.authToken, undefined);
    assert.equal(options.authDisabled, false);
    assert.equal(options.requireEtcdAgent, true);
    assert.deepEqual(options.etcd.endpoints, ['10.0.0.5:12379']);
    assert.throws(() => checkAuth(options), /auth_token is not set/);
  });

  it('reads every option of [spp_server]', () => {
    const options = serverOptionsFromIni(
      IniOptions.fromText(
        [
          '[spp_server]',
          'listen_address = 0.0.0.0',
          'listen_port = 19697',
          'auth_token = s3cret',
          'bind_timeout = 2.5',
          'sync_grace = 30',
          'require_etcd_agent = false',
          'shutdown_grace = 4',
        ].join('\n'),
        'neutron.conf',
      ),
    );
    assert.equal(options.listenAddress, '0.0.0.0');
    assert.equal(options.listenPort, 19697);
    assert.equal(options.authToken, 's3cret');
    assert.equal(options.bindTimeoutMs, 2500);
    assert.equal(options.syncGraceMs, 30_000);
    assert.equal(options.requireEtcdAgent, false);
    assert.equal(options.shutdownGraceMs, 4000);
    checkAuth(options);
  });

  it('names file, section, option and value on bad input', () => {
    assert.throws(
      () =>
        serverOptionsFromIni(IniOptions.fromText('[spp_server]\nbind_timeout = soon\n', 'a.ini')),
      /a\.ini: \[spp_server\] bind_timeout = "soon": not a number of seconds/,
    );
    assert.throws(
      () =>
        serverOptionsFromIni(IniOptions.fromText('[spp_server]\nlisten_port = 70000\n', 'b.ini')),
      /b\.ini: \[spp_server\] listen_port = "70000": must be between 0 and 65535/,
    );
    assert.throws(() => parseListen('localhost'), /--listen: "localhost" is not an address/);
    assert.deepEqual(parseListen('[::1]:9697'), { address: '::1', port: 9697 });
  });
});

describe('bind planning (pure)', () => {
  const host = 'h1';
  const kv = (key: string, value: string, modRevision = 5): KeyValue => ({
    key,
    value,
    modRevision,
    createRevision: 1,
    lease: '0',
  });
  const slots = (values: string[]) =>
    values.map((value, index) => kv(keys.vhost(host, 'phys1', index), value));
  const wanted = { macAddress: 'fa:16:3e:00:00:01', physnet: 'phys1' };

  it('picks the first free slot not being claimed in this process', () => {
    const view = portView(host, 'p1', 10, slots(['None', 'other', 'None', 'None']));
    const plan = planBind(view, wanted, new Set([keys.vhost(host, 'phys1', 0)]));
    assert.equal(plan.kind, 'write');
    assert.equal(plan.kind === 'write' && plan.vhostId, 2);
    assert.equal(plan.kind === 'write' && plan.claim, keys.vhost(host, 'phys1', 2));
  });

  it('reuses the slot the port holds, and answers at once when it is up', () => {
    const kvs = [
      ...slots(['None', 'p1']),
      kv(keys.bindPort(host, 'p1'), '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 1}'),
      kv(keys.action(host, 'p1'), 'plug'),
      kv(keys.portStatus(host, 'p1'), 'up'),
    ];
    assert.deepEqual(planBind(portView(host, 'p1', 10, kvs), wanted, new Set()), {
      kind: 'bound',
      vhostId: 1,
      slotKey: keys.vhost(host, 'phys1', 1),
    });
    const pending = planBind(portView(host, 'p1', 10, kvs.slice(0, -1)), wanted, new Set());
    assert.equal(pending.kind, 'wait');
    const otherVlan = planBind(portView(host, 'p1', 10, kvs), { ...wanted, vlanId: 7 }, new Set());
    assert.equal(otherVlan.kind, 'request-unplug');
  });

  it('adopts a slot left without bind_port, and waits for a pending unplug', () => {
    const adopt = planBind(portView(host, 'p1', 10, slots(['p1', 'None'])), wanted, new Set());
    assert.equal(adopt.kind, 'write');
    assert.equal(adopt.kind === 'write' && adopt.claim, undefined);
    assert.equal(adopt.kind === 'write' && adopt.vhostId, 0);
    const unplugging = planBind(
      portView(host, 'p1', 10, [
        ...slots(['p1']),
        kv(keys.bindPort(host, 'p1'), '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 0}'),
        kv(keys.action(host, 'p1'), 'unplug'),
      ]),
      wanted,
      new Set(),
    );
    assert.equal(unplugging.kind, 'await-unplug');
  });

  it('selects the first flat or vlan segment on a host physnet', () => {
    const physnets = new Set(['phys1', 'phys2']);
    const chosen = selectSegment(
      [
        { id: 'a', network_type: 'vxlan', segmentation_id: 4 },
        { id: 'b', network_type: 'vlan', physical_network: 'phys9', segmentation_id: 5 },
        { id: 'c', network_type: 'vlan', physical_network: 'phys2', segmentation_id: 6 },
        { id: 'd', network_type: 'flat', physical_network: 'phys1' },
      ],
      physnets,
    );
    assert.deepEqual(chosen && [chosen.segment.id, chosen.physnet, chosen.vlanId], [
      'c',
      'phys2',
      6,
    ]);
  });
});

describe('RevisionClock', () => {
  it('gives a lower bound of the age of a revision from when it was seen', () => {
    let now = 1_000_000;
    const clock = new RevisionClock(() => now);
    clock.observe(10);
    now += 5000;
    clock.observe(20);
    now += 5000;
    assert.equal(clock.ageOf(5), 10_000, 'older than the first sighting: at least that old');
    assert.equal(clock.ageOf(10), 10_000);
    assert.equal(clock.ageOf(15), 5000, 'first seen with the sighting of 20');
    assert.equal(clock.ageOf(21), 0, 'not seen yet: new');
  });
});
