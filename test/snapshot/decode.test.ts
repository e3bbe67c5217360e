import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { KeyValue } from '../../src/etcd/store.js';
import { hostFromKvs, hostsFromKvs } from '../../src/snapshot/read.js';
import { heldBy, isUp, valueOf } from '../../src/snapshot/model.js';

let revision = 10;
function kv(key: string, value: string, lease = '0'): KeyValue {
  revision++;
  return { key, value, modRevision: revision, createRevision: revision, lease };
}

const CONFIG = JSON.stringify({
  vf: [
    {
      pci_address: '00:04.0',
      physical_network: 'phys1',
      num_vhost: 1,
      core_mask: '0xe',
      components: [
        { core: 1, type: 'forward', name: 'f', rx_port: ['ring:0'], tx_port: ['vhost:0'] },
      ],
    },
  ],
});

describe('the host snapshot decodes every key family once, at the edge', () => {
  test('bind_port MACs come out lower-cased; a malformed MAC is a problem naming the key', () => {
    const host = hostFromKvs('h', [
      kv(keys.bindPort('h', 'p1'), '{"mac_address": "FA:16:3E:AB:CD:EF", "vhost_id": 0}'),
      kv(keys.bindPort('h', 'p2'), '{"mac_address": "fa:16:3e:ab:cd", "vhost_id": 1}'),
    ]);
    assert.equal(valueOf(host.ports.get('p1')?.bindPort)?.mac_address, 'fa:16:3e:ab:cd:ef');
    const bad = host.ports.get('p2')?.bindPort;
    assert.equal(bad?.ok, false);
    assert.match(
      bad && !bad.ok ? bad.problem : '',
      /bind_port\/h\/p2: mac_address: must be a MAC address/,
    );
  });

  test('bind_port that is not JSON, or has a negative vhost id, is a problem', () => {
    const host = hostFromKvs('h', [
      kv(keys.bindPort('h', 'a'), 'not json'),
      kv(keys.bindPort('h', 'b'), '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": -1}'),
    ]);
    const a = host.ports.get('a')?.bindPort;
    const b = host.ports.get('b')?.bindPort;
    assert.match(a && !a.ok ? a.problem : '', /value is not JSON/);
    assert.match(b && !b.ok ? b.problem : '', /vhost_id/);
  });

  test('slot values: None is free, a port id holds it, an empty or odd value is never free', () => {
    const host = hostFromKvs('h', [
      kv(keys.vhost('h', 'phys1', 0), 'None'),
      kv(keys.vhost('h', 'phys1', 1), 'port-a'),
      kv(keys.vhost('h', 'phys1', 2), ''),
      kv(keys.vhost('h', 'phys1', 3), 'two words'),
    ]);
    const slots = host.sortedSlots();
    assert.deepEqual(
      slots.map((slot) => slot.vhostId),
      [0, 1, 2, 3],
    );
    assert.deepEqual(slots[0]?.holder, { free: true });
    assert.equal(heldBy(slots[1]!.holder), 'port-a');
    for (const odd of [slots[2]!, slots[3]!]) {
      assert.equal(odd.holder.free, false);
      assert.equal(heldBy(odd.holder), undefined);
      assert.ok('problem' in odd.holder && odd.holder.problem.includes(odd.key));
    }
    assert.deepEqual(
      host.slotsHeldBy('port-a').map((slot) => slot.vhostId),
      [1],
    );
  });

  test('actions and statuses: only plug/unplug and up are values; anything else is a problem', () => {
    const host = hostFromKvs('h', [
      kv(keys.action('h', 'p'), 'plug'),
      kv(keys.portStatus('h', 'p'), 'up'),
      kv(keys.action('h', 'q'), 'replug'),
      kv(keys.portStatus('h', 'q'), 'down'),
    ]);
    assert.equal(valueOf(host.ports.get('p')?.action), 'plug');
    assert.equal(isUp(host.ports.get('p')?.status), true);
    assert.equal(host.ports.get('q')?.action?.ok, false);
    assert.equal(isUp(host.ports.get('q')?.status), false);
  });

  test('configuration, liveness record with its lease, mirrors and taps', () => {
    const host = hostFromKvs('h', [
      kv(keys.configuration('h'), CONFIG),
      kv(
        keys.agent('h'),
        JSON.stringify({ host: 'h', version: '1', started_at: 'now', pid: 1, physnets: {} }),
        '7587',
      ),
      kv(keys.mirror('h', 0), 'flow-1'),
      kv(
        keys.tapInfo('h', 'flow-1'),
        '{"service_port": "s", "source_port": "p", "mirror_in": 0, "mirror_out": null}',
      ),
      kv(keys.tapAction('h', 'flow-1'), 'plug'),
    ]);
    assert.equal(valueOf(host.configuration)?.vf[0]?.physical_network, 'phys1');
    assert.equal(host.agent?.lease, '7587');
    assert.equal(heldBy(host.mirrors.get(0)!.holder), 'flow-1');
    assert.equal(valueOf(host.taps.get('flow-1')?.info)?.mirror_in, 0);
    assert.equal(valueOf(host.taps.get('flow-1')?.action), 'plug');
  });

  test('keys of other hosts and unknown keys are kept apart or ignored', () => {
    const hosts = hostsFromKvs([
      kv(keys.configuration('compute-1'), CONFIG),
      kv(keys.configuration('compute-10'), CONFIG),
      kv('/spp/openstack/unknown/compute-1/x', 'y'),
      kv('/elsewhere/compute-1', 'z'),
    ]);
    assert.deepEqual([...hosts.keys()].sort(), ['compute-1', 'compute-10']);
    assert.equal(
      hostFromKvs('compute-1', [kv(keys.configuration('compute-10'), CONFIG)]).configuration,
      undefined,
    );
  });
});
