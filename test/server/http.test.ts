import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EtcdStore } from '../../src/etcd/store.js';
import { keys } from '../../src/etcd/keys.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import type { TestServer } from './harness.js';
import { bindBody, newPort, startTestServer } from './harness.js';

let etcd: EtcdServer;
let store: EtcdStore;
let server: TestServer;
let host: ComputeHost;

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  server = await startTestServer(etcd);
  host = await startComputeHost({
    store,
    host: 'api-1',
    mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#1#0x1f00',
  });
});
after(async () => {
  await server?.close();
  await host?.stop();
  store?.close();
  await etcd?.dispose();
});

const detail = (body: unknown) => (body as { detail: string }).detail;

describe('HTTP API: authentication', () => {
  it('requires the bearer token on /v1/ml2/*', async () => {
    for (const path of ['/v1/ml2/bind', '/v1/ml2/unbind', '/v1/ml2/sync']) {
      const missing = await server.post(path, {}, null);
      assert.equal(missing.status, 401, path);
      assert.match(detail(missing.body), /missing "Authorization: Bearer <token>"/);
      const wrong = await server.post(path, {}, 'not-the-token');
      assert.equal(wrong.status, 401, path);
      assert.match(detail(wrong.body), /not the one configured/);
    }
    const ok = await server.post('/v1/ml2/unbind', { port_id: 'p', host: 'api-1' });
    assert.equal(ok.status, 200);
  });

  it('accepts requests without a token only when auth is disabled explicitly', async () => {
    const open = await startTestServer(etcd, { authDisabled: true, authToken: undefined });
    try {
      const answer = await open.post('/v1/ml2/unbind', { port_id: 'p', host: 'api-1' }, null);
      assert.equal(answer.status, 200);
    } finally {
      await open.close();
    }
    await assert.rejects(
      startTestServer(etcd, { authDisabled: false, authToken: undefined }),
      /auth_token is not set.*auth_disabled = true/,
    );
  });
});

describe('HTTP API: body validation', () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['/v1/ml2/bind', 'not JSON', '{"port": ', /JSON/i],
    ['/v1/ml2/bind', 'a list', [], /must be a JSON object/],
    ['/v1/ml2/bind', 'no port', { host: 'h', segments: [] }, /^port: /],
    [
      '/v1/ml2/bind',
      'bad MAC',
      { port: { id: 'p', mac_address: 'zz' }, host: 'h', segments: [] },
      /port\.mac_address: must be a MAC address/,
    ],
    [
      '/v1/ml2/bind',
      'port id with a slash',
      { port: { id: 'a/b', mac_address: 'fa:16:3e:00:00:01' }, host: 'h', segments: [] },
      /port\.id: must not contain "\/"/,
    ],
    [
      '/v1/ml2/bind',
      'segment without type',
      {
        port: { id: 'p', mac_address: 'fa:16:3e:00:00:01' },
        host: 'h',
        segments: [{ id: 's', physical_network: 'phys1' }],
      },
      /segments\[0\]\.network_type: /,
    ],
    [
      '/v1/ml2/bind',
      'agents not a list',
      {
        port: { id: 'p', mac_address: 'fa:16:3e:00:00:01' },
        host: 'h',
        segments: [],
        agents: { alive: true },
      },
      /agents: must be a list/,
    ],
    [
      '/v1/ml2/bind',
      'agent alive not boolean',
      {
        port: { id: 'p', mac_address: 'fa:16:3e:00:00:01' },
        host: 'h',
        segments: [],
        agents: [{ alive: 'yes' }],
      },
      /agents\[0\]\.alive: must be true or false/,
    ],
    ['/v1/ml2/unbind', 'empty host', { port_id: 'p', host: '' }, /^host: must not be empty/],
    ['/v1/ml2/sync', 'ports missing', {}, /^ports: /],
    [
      '/v1/ml2/sync',
      'port without segment',
      { ports: [{ id: 'p', host: 'h', mac_address: 'fa:16:3e:00:00:01' }] },
      /ports\[0\]\.segment: /,
    ],
  ];
  for (const [path, what, body, message] of cases) {
    it(`${path}: ${what} → 400 naming the field`, async () => {
      const answer = await server.post(path, body);
      assert.equal(answer.status, 400, answer.text);
      assert.equal((answer.body as { error: string }).error, 'invalid_request');
      assert.match(detail(answer.body), message);
    });
  }

  it('unknown routes are 404 with a JSON body', async () => {
    const answer = await server.post('/v1/ml2/frobnicate', {});
    assert.equal(answer.status, 404);
    assert.equal((answer.body as { error: string }).error, 'not_found');
  });
});

describe('HTTP API: operators', () => {
  it('GET /healthz says etcd is reachable', async () => {
    const answer = await server.get('/healthz');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { status: 'ok', etcd: 'reachable', watch: 'connected' });
  });

  it('GET /v1/hosts and /v1/hosts/{host} show layout, slots, agent, pending actions', async () => {
    const port = newPort();
    const bound = await server.post('/v1/ml2/bind', bindBody(port, 'api-1'));
    assert.equal((bound.body as { bound: boolean }).bound, true);
    const list = await server.get('/v1/hosts');
    assert.equal(list.status, 200);
    const hosts = (list.body as { hosts: Array<{ host: string }> }).hosts;
    assert.deepEqual(
      hosts.map((entry) => entry.host),
      ['api-1'],
    );
    const one = await server.get('/v1/hosts/api-1');
    assert.equal(one.status, 200);
    const summary = one.body as {
      agent: { state: string; version: string };
      nics: Array<{ physnet: string; used: number; free: number }>;
      slots: Array<{ vhostId: number; portId: string | null; up: boolean }>;
      pending: unknown[];
    };
    assert.equal(summary.agent.state, 'alive');
    assert.equal(summary.agent.version, 'fake-agent');
    assert.deepEqual(
      summary.nics.map((nic) => [nic.physnet, nic.used, nic.free]),
      [
        ['phys1', 1, 1],
        ['phys2', 0, 1],
      ],
    );
    assert.deepEqual(summary.slots[0], {
      vhostId: 0,
      physnet: 'phys1',
      portId: port.id,
      macAddress: port.mac,
      action: 'plug',
      up: true,
    });
    assert.deepEqual(summary.pending, []);
    const missing = await server.get('/v1/hosts/nope');
    assert.equal(missing.status, 404);
    assert.match(detail(missing.body), /no SPP configuration/);
  });

  it('the read-only views answer without a token; the ML2 calls do not', async () => {
    for (const path of ['/v1/hosts', '/v1/hosts/api-1', '/healthz', '/metrics']) {
      const answer = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(answer.status, 200, path);
      await answer.body?.cancel();
    }
    const refused = await server.post('/v1/ml2/unbind', { port_id: 'p', host: 'api-1' }, null);
    assert.equal(refused.status, 401);
  });

  it('a bind with an upper-case MAC writes it lower-cased; port id "None" is refused', async () => {
    const port = newPort();
    const upper = await server.post(
      '/v1/ml2/bind',
      bindBody({ id: port.id, mac: port.mac.toUpperCase() }, 'api-1'),
    );
    assert.equal((upper.body as { bound: boolean }).bound, true);
    const stored = await store.get(keys.bindPort('api-1', port.id));
    assert.equal(
      (JSON.parse(stored?.value ?? '{}') as { mac_address?: string }).mac_address,
      port.mac,
    );
    // The plug request carries our service's marker: the agent need not re-announce its up.
    assert.equal((await store.get(keys.plugRequest('api-1', port.id)))?.value, 'networking-spp');
    const none = await server.post(
      '/v1/ml2/bind',
      bindBody({ id: 'None', mac: port.mac }, 'api-1'),
    );
    assert.equal(none.status, 400);
    assert.match(detail(none.body), /port\.id: must not be "None"/);
    await server.post('/v1/ml2/unbind', { port_id: port.id, host: 'api-1' });
  });

  it('GET /metrics exposes binds by result, latency, free slots and agent liveness', async () => {
    await server.post('/v1/ml2/bind', bindBody(newPort(), 'no-such-host'));
    const answer = await server.get('/metrics');
    assert.equal(answer.status, 200);
    const text = answer.text;
    assert.match(text, /spp_server_binds_total\{result="bound"\} [1-9]/);
    assert.match(text, /spp_server_binds_total\{result="not_spp_host"\} 1/);
    assert.match(text, /spp_server_bind_duration_seconds_bucket\{le="0.005",result="bound"\}/);
    assert.match(text, /spp_server_free_vhost_slots\{host="api-1",physnet="phys2"\} 1/);
    assert.match(text, /spp_server_agent_alive\{host="api-1"\} 1/);
    assert.match(text, /spp_server_etcd_requests_total\{operation="txn"\} [1-9]/);
  });
});
