import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keys, parseKey } from '../../src/etcd/keys.js';
import { bindPortSchema, decodeJson } from '../../src/etcd/values.js';
import { InputError } from '../../src/util/errors.js';

describe('etcd key layout (SYSTEM.md §3.4)', () => {
  it('builds every key exactly', () => {
    assert.equal(keys.configuration('c1'), '/spp/openstack/configuration/c1');
    assert.equal(keys.vhost('c1', 'phys1', 3), '/spp/openstack/vhost/c1/phys1/3');
    assert.equal(keys.bindPort('c1', 'p-1'), '/spp/openstack/bind_port/c1/p-1');
    assert.equal(keys.action('c1', 'p-1'), '/spp/openstack/action/c1/p-1');
    assert.equal(keys.portStatus('c1', 'p-1'), '/spp/openstack/port_status/c1/p-1');
    assert.equal(keys.mirror('c1', 0), '/spp/openstack/mirror/c1/0');
    assert.equal(keys.tapInfo('c1', 't1'), '/spp/openstack/tap_info/c1/t1');
    assert.equal(keys.tapAction('c1', 't1'), '/spp/openstack/tap_action/c1/t1');
    assert.equal(keys.tapStatus('c1', 't1'), '/spp/openstack/tap_status/c1/t1');
    assert.equal(keys.agent('c1'), '/spp/openstack/agent/c1');
    assert.equal(keys.hostPrefix('vhost', 'c1'), '/spp/openstack/vhost/c1/');
  });

  it("keeps the build lock outside the original's key families", () => {
    assert.equal(keys.buildLock('c1'), '/spp/openstack/build_lock/c1');
    // Agents, the binding service and the original do not know it, and ignore it.
    assert.equal(parseKey(keys.buildLock('c1')), undefined);
  });

  it('adds the migration keys of issue 15 outside the original families', () => {
    assert.equal(keys.plugRequest('c1', 'p-1'), '/spp/openstack/plug_request/c1/p-1');
    assert.equal(keys.agentKind('c1'), '/spp/openstack/agent_kind/c1');
    assert.deepEqual(parseKey('/spp/openstack/plug_request/c1/p-1'), {
      kind: 'plug_request',
      host: 'c1',
      portId: 'p-1',
    });
    assert.deepEqual(parseKey('/spp/openstack/agent_kind/c1'), { kind: 'agent_kind', host: 'c1' });
    assert.equal(parseKey('/spp/openstack/agent_kind/c1/x'), undefined);
  });

  it('parses keys back and rejects foreign ones', () => {
    assert.deepEqual(parseKey('/spp/openstack/vhost/c1/phys1/3'), {
      kind: 'vhost',
      host: 'c1',
      physnet: 'phys1',
      vhostId: 3,
    });
    assert.deepEqual(parseKey('/spp/openstack/action/c1/p-1'), {
      kind: 'action',
      host: 'c1',
      portId: 'p-1',
    });
    assert.equal(parseKey('/spp/openstack/vhost/c1/phys1/x'), undefined);
    assert.equal(parseKey('/spp/openstack/action/c1/p/extra'), undefined);
    assert.equal(parseKey('/other/action/c1/p'), undefined);
  });

  it('refuses names that would escape their key segment', () => {
    assert.throws(() => keys.configuration('a/b'), InputError);
    assert.throws(() => keys.bindPort('c1', ''), InputError);
  });

  it('validates values on read and names the key', () => {
    const key = keys.bindPort('c1', 'p1');
    assert.deepEqual(
      decodeJson(
        bindPortSchema,
        '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 2, "vlan_id": 100}',
        key,
      ),
      {
        mac_address: 'fa:16:3e:00:00:01',
        vhost_id: 2,
        vlan_id: 100,
      },
    );
    assert.throws(
      () => decodeJson(bindPortSchema, '{"mac_address": "zz", "vhost_id": 2}', key),
      /bind_port\/c1\/p1: mac_address: must be a MAC address/,
    );
    assert.throws(
      () => decodeJson(bindPortSchema, 'not json', key),
      /bind_port\/c1\/p1: value is not JSON/,
    );
    assert.throws(
      () => decodeJson(bindPortSchema, '{"mac_address": "fa:16:3e:00:00:01"}', key),
      /vhost_id/,
    );
  });
});
