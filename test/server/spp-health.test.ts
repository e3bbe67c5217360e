import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { agentRecordSchema } from '../../src/etcd/values.js';
import type { LabHost, ServiceClient } from '../../src/lab/stack.js';
import { LabStack, twoNicMappings } from '../../src/lab/stack.js';
import type { ProcessStatus } from '../../src/spp/status.js';
import { runCli } from '../cli/run-cli.js';
import { waitFor } from '../harness/wait.js';
import { flatSegment, newPort } from './harness.js';

// One host: phys1 = NIC 0 (spp_vf 1) with vhosts 0,1; phys2 = NIC 1 (spp_vf 2) with vhosts 2,3.
const HOST = 'compute-h';

interface BindAnswer {
  bound: boolean;
  reason?: string;
  detail?: string;
  vhost_id?: number;
}

interface HostsJson {
  hosts: Array<{ host: string; agent: { state: string; spp?: string; sppProblem?: string } }>;
}

describe('SPP health in liveness, and a guarded host destroy, with a real agent and its SPP', () => {
  let stack: LabStack;
  let client: ServiceClient;
  let store: EtcdStore;
  let host: LabHost;

  before(async () => {
    stack = await LabStack.start({
      hosts: [{ name: HOST, mappings: twoNicMappings(4) }],
      // Long enough that a bind refused at once is told apart from one that timed out.
      bindTimeoutS: 20,
      agentIni: {
        spp: { reconcile_interval: '0.5', retry_max_interval: '0.5', agent_liveness_ttl: '3' },
      },
    });
    client = stack.client!;
    store = stack.store!;
    host = stack.host(HOST);
  });

  after(async () => {
    await stack?.stop();
  });

  const bind = async (port: { id: string; mac: string }): Promise<BindAnswer> => {
    const answer = await client.post<BindAnswer>('/v1/ml2/bind', {
      port: { id: port.id, mac_address: port.mac },
      host: HOST,
      segments: [flatSegment('phys1')],
    });
    assert.equal(answer.status, 200);
    return answer.body;
  };

  const sppState = async () => {
    const kv = await store.get(keys.agent(HOST));
    return kv ? agentRecordSchema.parse(JSON.parse(kv.value)).spp : undefined;
  };

  const hostsJson = async (): Promise<HostsJson> => {
    const result = await runCli(['hosts', '--json', '--etcd', stack.etcd!.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as HostsJson;
  };

  const classifier = async (clientId: number) =>
    ((await host.vfStatus(clientId)) as ProcessStatus).classifier_table ?? [];

  test('a spp_vf gone from spp-ctl: binds refused at once as spp_unreachable, shown in hosts; back: binds again', async () => {
    assert.deepEqual(await sppState(), { state: 'ok' });
    host.emulator.restartProcess(1, 600_000);
    await waitFor('the agent reports SPP unreachable', async () => {
      return (await sppState())?.state === 'unreachable';
    });
    const refused = await bind(newPort());
    assert.equal(refused.bound, false);
    assert.equal(refused.reason, 'spp_unreachable');
    assert.match(
      refused.detail ?? '',
      /cannot reach SPP: spp_vf 1 is not reachable through spp-ctl/,
    );
    const listed = (await hostsJson()).hosts.find((each) => each.host === HOST);
    assert.equal(listed?.agent.state, 'alive');
    assert.equal(listed?.agent.spp, 'unreachable');
    assert.match(listed?.agent.sppProblem ?? '', /spp_vf 1/);
    const metrics = await client.get<string>('/metrics');
    assert.match(metrics.body, new RegExp(`spp_server_spp_reachable\\{host="${HOST}"\\} 0`));
    const table = await runCli(['hosts', '--etcd', stack.etcd!.endpoint]);
    assert.match(table.stdout, new RegExp(`${HOST} +alive, SPP unreachable +networking-spp`));

    host.emulator.restartProcess(1, 0);
    await waitFor('the agent reports SPP reachable', async () => {
      return (await sppState())?.state === 'ok';
    });
    const back = await client.get<string>('/metrics');
    assert.match(back.body, new RegExp(`spp_server_spp_reachable\\{host="${HOST}"\\} 1`));
    const port = newPort();
    const bound = await bind(port);
    assert.equal(bound.bound, true, bound.detail);
    await waitFor('the MAC classified in spp_vf 1', async () =>
      (await classifier(1)).some((entry) => entry.value.toLowerCase() === port.mac),
    );
    assert.equal(
      (await client.post<{ result: string }>('/v1/ml2/unbind', { port_id: port.id, host: HOST }))
        .body.result,
      'unplug_requested',
    );
    await waitFor('the MAC out of spp_vf 1', async () => (await classifier(1)).length === 0);
  });

  test('host destroy refuses a host with a plugged port; --force has the agent unplug it first', async () => {
    const port = newPort();
    const bound = await bind(port);
    assert.equal(bound.bound, true, bound.detail);
    await waitFor('the MAC classified in spp_vf 1', async () => (await classifier(1)).length === 1);
    const endpoint = stack.etcd!.endpoint;
    const refused = await runCli(['host', 'destroy', '--host', HOST, '--etcd', endpoint]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`refusing to destroy it.*port ${port.id}`));
    assert.ok(await store.get(keys.bindPort(HOST, port.id)), 'nothing removed');

    const forced = await runCli(['host', 'destroy', '--host', HOST, '--force', '--etcd', endpoint]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`the agent took 1 port\\(s\\) out of SPP: ${port.id}`));
    assert.equal(forced.stderr, '');
    assert.deepEqual(await classifier(1), [], 'SPP no longer forwards to the MAC');
    assert.equal(await store.get(keys.configuration(HOST)), undefined);
    assert.equal(await store.get(keys.bindPort(HOST, port.id)), undefined);
  });
});
