import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { bigHost } from '../layout/big-host.js';
import { runCli } from './run-cli.js';

const MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02';
let etcd: EtcdServer;
let store: EtcdStore;
let dir: string;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  dir = mkdtempSync(join(tmpdir(), 'nspp-cli-'));
});
after(async () => {
  store?.close();
  await etcd?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function hostKeys(host: string): Promise<Record<string, string>> {
  const snapshot = await store.getPrefix('/spp/openstack/');
  return Object.fromEntries(
    snapshot.kvs.filter((kv) => kv.key.split('/')[4] === host).map((kv) => [kv.key, kv.value]),
  );
}

describe('networking-spp host build', () => {
  it('writes the configuration and every slot as None', async () => {
    const result = await runCli([
      'host',
      'build',
      '--host',
      'c1',
      '--mappings',
      MAPPINGS,
      '--mirror',
      '2#0x30002',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /host c1: wrote 7 key\(s\)/);
    const stored = await hostKeys('c1');
    assert.deepEqual(Object.keys(stored).sort(), [
      '/spp/openstack/configuration/c1',
      '/spp/openstack/mirror/c1/0',
      '/spp/openstack/mirror/c1/1',
      '/spp/openstack/vhost/c1/phys1/0',
      '/spp/openstack/vhost/c1/phys1/1',
      '/spp/openstack/vhost/c1/phys2/2',
      '/spp/openstack/vhost/c1/phys2/3',
    ]);
    for (const [key, value] of Object.entries(stored)) {
      if (!key.includes('/configuration/')) assert.equal(value, 'None', key);
    }
    const config = JSON.parse(stored['/spp/openstack/configuration/c1'] ?? '{}');
    assert.equal(config.vf[1].components[4].tx_port.join(','), 'ring:4,ring:6');
    assert.deepEqual(config.mirror[1], { core: 17, ports: ['ring:10', 'ring:11'] });
  });

  it('prints the JSON on --dry-run and writes nothing', async () => {
    const result = await runCli([
      'host',
      'build',
      '--host',
      'dry',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--dry-run',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^\{"vf": \[\{"physical_network": "phys1", "pci_address": "00:04\.0", "num_vhost": 1, "core_mask": "0x3e"/,
    );
    assert.deepEqual(await hostKeys('dry'), {});
  });

  it('reads the etcd location from [spp] of the config files (later files win)', async () => {
    const [host, port] = etcd.endpoint.split(':');
    writeFileSync(join(dir, 'neutron.conf'), '[spp]\netcd_host = 192.0.2.1\netcd_port = 1\n');
    writeFileSync(
      join(dir, 'ml2_conf.ini'),
      `[spp]\netcd_host = ${host}\netcd_port = ${port}\n[unknown]\nfoo = bar\n`,
    );
    const result = await runCli([
      'host',
      'build',
      '--host',
      'cfg',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--config-file',
      join(dir, 'neutron.conf'),
      '--config-file',
      join(dir, 'ml2_conf.ini'),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await store.get(keys.vhost('cfg', 'phys1', 0)))?.value, 'None');
  });

  it('rejects an invalid config option naming file, section, option and value', async () => {
    writeFileSync(join(dir, 'bad.ini'), '[spp]\netcd_port = seventy\n');
    const result = await runCli([
      'host',
      'build',
      '--host',
      'x',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--config-file',
      join(dir, 'bad.ini'),
    ]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      `networking-spp: ${join(dir, 'bad.ini')}: [spp] etcd_port = "seventy": not an integer`,
    );
  });

  it('refuses to overwrite a host with plugged ports and names them; --force resets it', async () => {
    await store.put(keys.vhost('c1', 'phys2', 3), 'port-a');
    await store.put(
      keys.bindPort('c1', 'port-a'),
      '{"mac_address": "fa:16:3e:00:00:01", "vhost_id": 3}',
    );
    await store.put(keys.action('c1', 'port-a'), 'plug');
    const refused = await runCli([
      'host',
      'build',
      '--host',
      'c1',
      '--mappings',
      MAPPINGS,
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /host c1 has ports plugged, refusing to overwrite its layout \(use --force to reset it\): vhost 3 \(phys2\) = port port-a/,
    );
    assert.equal((await store.get(keys.vhost('c1', 'phys2', 3)))?.value, 'port-a');

    const forced = await runCli([
      'host',
      'build',
      '--host',
      'c1',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--etcd',
      etcd.endpoint,
      '--force',
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /- \/spp\/openstack\/vhost\/c1\/phys2\/3/);
    assert.match(forced.stdout, /- port port-a/);
    const stored = await hostKeys('c1');
    assert.deepEqual(Object.keys(stored).sort(), [
      '/spp/openstack/configuration/c1',
      '/spp/openstack/vhost/c1/phys1/0',
    ]);
  });

  it('reports bad mappings in one line with exit code 2 and writes nothing', async () => {
    const result = await runCli([
      'host',
      'build',
      '--host',
      'bad',
      '--mappings',
      '00:04.0#phys1#3#0xfe',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /but 3 vhost\(s\) \(2 per vhost \+ classifier \+ merger\) need 8/);
    assert.deepEqual(await hostKeys('bad'), {});
  });

  it('reports a custom layout error naming the file', async () => {
    const file = join(dir, 'layout.yaml');
    writeFileSync(
      file,
      'vf:\n  - components:\n      - {core: 2, type: bogus, name: c, rx_port: [phy:0], tx_port: [vhost:0]}\n',
    );
    const result = await runCli([
      'host',
      'build',
      '--host',
      'bad',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--layout',
      file,
      '--dry-run',
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(`${file}: vf\\[0\\]\\.components\\[0\\]\\.type: unknown component type "bogus"`),
    );
  });
});

describe('networking-spp host show / list / destroy', () => {
  before(async () => {
    const built = await runCli([
      'host',
      'build',
      '--host',
      'c2',
      '--mappings',
      MAPPINGS,
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(built.code, 0, built.stderr);
    await store.put(keys.vhost('c2', 'phys1', 1), 'port-b');
    await store.put(
      keys.bindPort('c2', 'port-b'),
      '{"mac_address": "fa:16:3e:00:00:02", "vhost_id": 1, "vlan_id": 10}',
    );
    await store.put(keys.action('c2', 'port-b'), 'plug');
    await store.put(keys.portStatus('c2', 'port-b'), 'up');
    await store.put(keys.plugRequest('c2', 'port-b'), 'networking-spp');
    await store.put(keys.agentKind('c2'), '{"agent": "networking-spp", "version": "0.1.0"}');
    // A host whose name extends c2's must never be touched by c2's commands.
    const other = await runCli([
      'host',
      'build',
      '--host',
      'c2x',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(other.code, 0, other.stderr);
    await store.put(keys.agentKind('c2x'), '{"agent": "networking-spp", "version": "0.1.0"}');
  });

  it('shows the layout and the slot usage as a table', async () => {
    const result = await runCli(['host', 'show', '--host', 'c2', '--etcd', etcd.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^host c2 {2}agent: down/);
    assert.match(result.stdout, /phy:0 +00:04\.0 +phys1 +0xfe +2 +1 +1/);
    assert.match(result.stdout, /1 +phys1 +\/tmp\/sock1 +port-b +fa:16:3e:00:00:02 +10 +plug +up/);
    assert.match(result.stdout, /3 +phys2 +\/tmp\/sock3 +- +free/);
  });

  it('shows JSON with --json', async () => {
    const result = await runCli([
      'host',
      'show',
      '--host',
      'c2',
      '--json',
      '--etcd',
      etcd.endpoint,
    ]);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.slots[1].portId, 'port-b');
    assert.equal(summary.slots[1].vlanId, 10);
    assert.deepEqual(
      summary.nics.map((nic: { free: number }) => nic.free),
      [1, 2],
    );
  });

  it('lists hosts with used and free slots per physnet', async () => {
    const result = await runCli(['host', 'list', '--etcd', etcd.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /c2 +phys1 +2 +1 +1 +down/);
    assert.match(result.stdout, /c2 +phys2 +2 +0 +2 +down/);
    assert.match(result.stdout, /c2x +phys1 +1 +0 +1/);
    const json = await runCli(['host', 'list', '--json', '--etcd', etcd.endpoint]);
    const c2 = (
      JSON.parse(json.stdout) as Array<{ host: string; nics: Array<{ used: number }> }>
    ).find((summary) => summary.host === 'c2');
    assert.deepEqual(
      c2?.nics.map((nic) => nic.used),
      [1, 0],
    );
  });

  it('fails clearly for an unknown host', async () => {
    const result = await runCli(['host', 'show', '--host', 'nope', '--etcd', etcd.endpoint]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      'networking-spp: host nope has no SPP configuration in etcd',
    );
  });

  it('refuses to destroy a host with a plugged port, naming it, and changes nothing', async () => {
    const before = await hostKeys('c2');
    const result = await runCli(['host', 'destroy', '--host', 'c2', '--etcd', etcd.endpoint]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /host c2 has ports plugged, refusing to destroy it \(with --force its agent first takes them out of SPP\): vhost 1 \(phys1\) = port port-b/,
    );
    assert.deepEqual(await hostKeys('c2'), before);
  });

  it('with --force destroys every key of the host in one go, leaving other hosts alone', async () => {
    const result = await runCli([
      'host',
      'destroy',
      '--host',
      'c2',
      '--force',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /warning: host c2: no agent is alive on the host; SPP may still forward to these ports until spp_vf restarts: port-b/,
    );
    assert.match(result.stdout, /host c2: removed 10 key\(s\)/);
    assert.match(result.stdout, /- \/spp\/openstack\/plug_request\/c2\/port-b = networking-spp/);
    assert.match(result.stdout, /- \/spp\/openstack\/agent_kind\/c2 = /);
    assert.match(result.stdout, /- \/spp\/openstack\/port_status\/c2\/port-b = up/);
    assert.deepEqual(await hostKeys('c2'), {});
    assert.equal((await store.get(keys.vhost('c2x', 'phys1', 0)))?.value, 'None');
    assert.ok(await store.get(keys.agentKind('c2x')), "c2x's agent_kind stays");
    const again = await runCli(['host', 'destroy', '--host', 'c2', '--etcd', etcd.endpoint]);
    assert.match(again.stdout, /host c2: nothing to remove/);
  });
});

describe('networking-spp host build of a host beyond one etcd transaction', () => {
  const big = bigHost(8, 16);
  const layout = () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, big.yaml);
    return file;
  };

  it('builds, shows and destroys an 8 NIC × 16 vhost host (129 keys)', async () => {
    const built = await runCli([
      'host',
      'build',
      '--host',
      'big',
      '--mappings',
      big.mappings,
      '--layout',
      layout(),
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(
      built.stdout,
      /^host big: wrote 129 key\(s\) in 3 transactions \(more than --max-txn-ops 128 operations: build lock held, slots first, configuration key last\), at revision \d+/,
    );
    assert.match(built.stderr, /warning: this layout uses port index \d+/);
    const stored = await hostKeys('big');
    assert.equal(Object.keys(stored).length, 129);
    assert.equal(stored['/spp/openstack/vhost/big/phys7/127'], 'None');

    const shown = await runCli(['host', 'show', '--host', 'big', '--etcd', etcd.endpoint]);
    assert.equal(shown.code, 0, shown.stderr);
    for (let nic = 0; nic < 8; nic++) {
      assert.match(
        shown.stdout,
        new RegExp(
          `phy:${nic} +00:${(4 + nic).toString(16).padStart(2, '0')}\\.0 +phys${nic} +0x\\w+ +16 +0 +16`,
        ),
      );
    }
    assert.match(shown.stdout, /127 +phys7 +\/tmp\/sock127 +- +free/);
    const json = JSON.parse(
      (await runCli(['host', 'show', '--host', 'big', '--json', '--etcd', etcd.endpoint])).stdout,
    );
    assert.equal(json.slots.length, 128);

    const destroyed = await runCli(['host', 'destroy', '--host', 'big', '--etcd', etcd.endpoint]);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.match(destroyed.stdout, /host big: removed 129 key\(s\)/);
    assert.match(destroyed.stdout, /- \/spp\/openstack\/configuration\/big = \{"vf": /);
    assert.deepEqual(await hostKeys('big'), {});
  });

  it('says to lower --max-txn-ops when etcd refuses a transaction as too big', async () => {
    const result = await runCli([
      'host',
      'build',
      '--host',
      'big2',
      '--mappings',
      big.mappings,
      '--layout',
      layout(),
      '--max-txn-ops',
      '200',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /etcd refused a transaction of 129 operations \(its --max-txn-ops is below the 200 assumed\): pass --max-txn-ops with etcd's value/,
    );
    assert.deepEqual(await hostKeys('big2'), {});
  });

  it('rejects a --max-txn-ops too small for a chunked build', async () => {
    const result = await runCli([
      'host',
      'build',
      '--host',
      'x',
      '--mappings',
      '00:04.0#phys1#1#0x3e',
      '--max-txn-ops',
      '3',
      '--dry-run',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--max-txn-ops: "3" must be an integer of at least 10/);
  });
});
