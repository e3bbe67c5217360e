import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Agent } from 'undici';
import { IniOptions } from '../../src/config/ini.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { buildHost } from '../../src/hosts/admin.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { KeystoneServer } from '../../src/lab/keystone-server.js';
import type { KeystoneAdmin } from '../../src/lab/keystone-server.js';
import { PlacementServer } from '../../src/lab/placement-server.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { PlacementClient } from '../../src/placement/client.js';
import { createDispatcher } from '../../src/placement/http.js';
import { KeystonePassword } from '../../src/placement/keystone.js';
import { placementOptionsFromIni } from '../../src/placement/options.js';
import { waitFor } from '../harness/wait.js';
import type { RunningSync } from './harness.js';
import { novaComputeNode, runSync, sppProviders } from './harness.js';

let etcd: EtcdServer;
let keystone: KeystoneServer;
let placement: PlacementServer;
let admin: KeystoneAdmin;
let store: EtcdStore;
let dispatcher: Agent;
let nova: PlacementClient;
const syncs: RunningSync[] = [];

/** The [placement] section of a neutron.conf for this lab, with `extra` lines appended. */
function neutronConf(extra = ''): string {
  return [
    '[spp_placement]',
    'enabled = true',
    'sync_interval = 1',
    'leader_ttl = 4',
    'retry_max_interval = 1',
    '[placement]',
    'auth_type = password',
    `auth_url = ${keystone.url}/v3`,
    'username = neutron',
    'password = neutron-secret',
    'project_name = service',
    'user_domain_name = Default',
    'project_domain_name = Default',
    'region_name = RegionOne',
    'valid_interfaces = internal',
    'timeout = 2',
    extra,
  ].join('\n');
}

function startSync(conf: string): RunningSync {
  const options = placementOptionsFromIni(IniOptions.fromText(conf, 'neutron.conf'));
  const sync = runSync(options, { store });
  syncs.push(sync);
  return sync;
}

before(async () => {
  [etcd, keystone] = await Promise.all([EtcdServer.launch(), KeystoneServer.launch(['RegionTwo'])]);
  admin = await keystone.admin();
  const service = await admin.project('service');
  await admin.user('placement', 'placement-secret', service);
  await admin.user('neutron', 'neutron-secret', service);
  placement = await PlacementServer.launch({
    keystone: {
      authUrl: keystone.url,
      username: 'placement',
      password: 'placement-secret',
      projectName: 'service',
    },
  });
  // The catalog: the internal endpoint is the real one; public and RegionTwo lead nowhere.
  const placementService = await admin.service('placement', 'placement');
  await admin.endpoint(placementService, 'internal', placement.url);
  await admin.endpoint(placementService, 'public', 'http://127.0.0.1:9/placement');
  await admin.endpoint(placementService, 'internal', 'http://127.0.0.1:9/r2', 'RegionTwo');
  store = etcd.connectStore();
  await buildHost(store, 'ck1', planHostLayout({ mappings: '00:04.0#phys2#2#0x3fe' }).config, {
    force: true,
  });
  dispatcher = createDispatcher({ insecure: false });
  nova = new PlacementClient(
    new KeystonePassword(
      {
        type: 'password',
        authUrl: keystone.url,
        username: 'admin',
        password: 'lab-admin-secret',
        userDomainName: 'Default',
        projectName: 'admin',
        projectDomainName: 'Default',
        interfaces: ['internal'],
        regionName: 'RegionOne',
      },
      dispatcher,
      10_000,
    ),
    dispatcher,
    10_000,
  );
  await novaComputeNode(nova, 'ck1');
});

after(async () => {
  for (const sync of syncs) await sync.stop();
  store?.close();
  await dispatcher?.close();
  await Promise.all([etcd?.dispose(), placement?.dispose(), keystone?.dispose()]);
});

describe('Placement behind a real Keystone', () => {
  it("syncs with Neutron's [placement] options: password auth, catalog by region and interface", async () => {
    const sync = startSync(neutronConf());
    const provider = await waitFor(
      'the ck1 provider',
      async () => {
        const found = (await sppProviders(nova)).get('ck1:SPP neutron agent:phys2');
        return found?.traits.length ? found : undefined;
      },
      30_000,
    );
    assert.equal(provider.total, 2);
    assert.deepEqual(provider.traits, ['CUSTOM_PHYSNET_PHYS2']);
    await waitFor('in sync', () => sync.service.status().state === 'in_sync');
    await sync.stop();
    syncs.pop();
  });

  it('gets a new token when Placement refuses the old one', async () => {
    const auth = new KeystonePassword(
      {
        type: 'password',
        authUrl: keystone.url,
        username: 'neutron',
        password: 'neutron-secret',
        userDomainName: 'Default',
        projectName: 'service',
        projectDomainName: 'Default',
        interfaces: ['internal'],
      },
      dispatcher,
      10_000,
    );
    const client = new PlacementClient(auth, dispatcher, 10_000);
    const first = await auth.session();
    assert.equal(first.endpoint, placement.url);
    await admin.revoke(first.token);
    const providers = await client.listProviders();
    assert.ok(providers.some((each) => each.name === 'ck1'));
    assert.notEqual((await auth.session()).token, first.token);
  });

  it('a wrong password is a one-line failure of the sync, retried, not a crash', async () => {
    const sync = startSync(neutronConf().replace('password = neutron-secret', 'password = wrong'));
    const status = await waitFor(
      'a failed sync',
      () => {
        const current = sync.service.status();
        return current.leader && current.last_sync?.ok === false && current;
      },
      20_000,
    );
    assert.match(
      status.last_sync?.error ?? '',
      /^Keystone POST http:\/\/127\.0\.0\.1:\d+\/v3\/auth\/tokens: 401: /,
    );
    assert.ok(!(status.last_sync?.error ?? '').includes('\n'));
    await sync.stop();
    syncs.pop();
  });

  it("the public interface's dead endpoint is reported with Placement's URL", async () => {
    const sync = startSync(
      neutronConf().replace('valid_interfaces = internal', 'valid_interfaces = public'),
    );
    const status = await waitFor(
      'a failed sync',
      () => {
        const current = sync.service.status();
        return current.leader && current.last_sync?.ok === false && current;
      },
      20_000,
    );
    assert.match(status.last_sync?.error ?? '', /^Placement GET \/[a-z_/]+: .*ECONNREFUSED/);
    await sync.stop();
    syncs.pop();
  });
});
