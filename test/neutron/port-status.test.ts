/**
 * Evidence for the port-status decision (docs/neutron.md "Port status"), taken from a real
 * neutron-server with a probe mechanism driver (test/neutron/probe) that binds like the SPP
 * driver but varies how the status is set, and from RPCs sent by this project's own
 * oslo.messaging client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NeutronServer } from '../../src/lab/neutron-server.js';
import { RabbitMqServer } from '../../src/lab/rabbitmq.js';
import { NeutronApi } from '../../src/neutron/api-client.js';
import type { NeutronNetwork } from '../../src/neutron/api-client.js';
import { PLUGIN_TOPIC } from '../../src/neutron/oslo-message.js';
import { deviceStatusRequest } from '../../src/neutron/plugin-rpc.js';
import { OsloRpcClient } from '../../src/neutron/rpc-client.js';
import { parseTransportUrl } from '../../src/neutron/transport-url.js';
import { waitFor } from '../harness/wait.js';
import { PROBE_DRIVER_DIR, provisioningBlocks } from './lab.js';

describe('port status in ML2 (real neutron-server, probe driver)', () => {
  let rabbit: RabbitMqServer | undefined;
  let neutron: NeutronServer | undefined;
  let rpc: OsloRpcClient | undefined;
  let api: NeutronApi;
  let network: NeutronNetwork;

  before(async () => {
    rabbit = await RabbitMqServer.launch();
    neutron = await NeutronServer.launch({
      transportUrl: rabbit.transportUrl,
      mechanismDrivers: 'spp_probe',
      pythonPath: [PROBE_DRIVER_DIR],
    });
    api = new NeutronApi(neutron.url);
    network = await api.createNetwork({
      name: 'probe-flat',
      networkType: 'flat',
      physicalNetwork: 'phys1',
    });
    rpc = await OsloRpcClient.connect(parseTransportUrl(rabbit.transportUrl), {
      connectTimeoutMs: 5000,
    });
  });

  after(async () => {
    await rpc?.close();
    await neutron?.dispose();
    await rabbit?.dispose();
  });

  const deviceUp = (portId: string, host: string) =>
    rpc!.call(
      PLUGIN_TOPIC,
      deviceStatusRequest(true, { device: portId, host, agentId: `probe-${host}` }),
      20_000,
    );

  test('set_binding with status ACTIVE: the create answer is already ACTIVE', async (t) => {
    const started = performance.now();
    const port = await api.createPort(network.id, { 'binding:host_id': 'status-host' });
    t.diagnostic(`POST /v2.0/ports answered in ${Math.round(performance.now() - started)} ms`);
    assert.equal(port['binding:vif_type'], 'vhostuser');
    assert.equal(port.status, 'ACTIVE');
    assert.deepEqual(await provisioningBlocks(neutron!, port.id), []);
  });

  test('set_binding without status: bound but DOWN, and ML2 itself inserts no provisioning block', async () => {
    const port = await api.createPort(network.id, { 'binding:host_id': 'plain-host' });
    assert.equal(port['binding:vif_type'], 'vhostuser');
    assert.equal(port.status, 'DOWN');
    assert.deepEqual(await provisioningBlocks(neutron!, port.id), []);
    assert.equal((await api.getPort(port.id))?.status, 'DOWN');
    // update_device_up from the bound host completes provisioning even without a block.
    await deviceUp(port.id, 'plain-host');
    await waitFor('port ACTIVE', async () => (await api.getPort(port.id))?.status === 'ACTIVE');
  });

  test('a driver-inserted L2 block keeps the port DOWN until update_device_up from its host', async () => {
    const port = await api.createPort(network.id, { 'binding:host_id': 'block-host' });
    assert.equal(port['binding:vif_type'], 'vhostuser');
    assert.equal(port.status, 'DOWN');
    assert.deepEqual(await provisioningBlocks(neutron!, port.id), ['L2']);
    await deviceUp(port.id, 'other-host');
    assert.deepEqual(await provisioningBlocks(neutron!, port.id), ['L2']);
    assert.equal((await api.getPort(port.id))?.status, 'DOWN');
    await deviceUp(port.id, 'block-host');
    assert.deepEqual(await provisioningBlocks(neutron!, port.id), []);
    await waitFor('port ACTIVE', async () => (await api.getPort(port.id))?.status === 'ACTIVE');
  });

  test('a host change resets the status to DOWN before the new binding sets it', async () => {
    const port = await api.createPort(network.id, { 'binding:host_id': 'status-a' });
    assert.equal(port.status, 'ACTIVE');
    const moved = await api.updatePort(port.id, { 'binding:host_id': 'plain-b' });
    assert.equal(moved['binding:vif_type'], 'vhostuser');
    // ACTIVE from the old host does not carry over: ML2 puts the port DOWN on a host change.
    assert.equal(moved.status, 'DOWN');
    const back = await api.updatePort(port.id, { 'binding:host_id': 'status-a' });
    assert.equal(back.status, 'ACTIVE');
    const unbound = await api.updatePort(port.id, { 'binding:host_id': '' });
    assert.equal(unbound['binding:vif_type'], 'unbound');
  });
});
