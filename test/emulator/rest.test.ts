import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { EmulatorServer } from '../../src/emulator/server.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import { trackChild, killTree } from '../../src/lab/children.js';
import { freePort } from '../../src/lab/ports.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { waitFor } from '../harness/wait.js';
import { AgentCalls } from './agent-rest.js';
import type { Reply, StatusView, VlanView } from './http.js';
import {
  NO_VLAN,
  call,
  componentNamed,
  expectError,
  expectJson,
  expectNoContent,
  keepAlive,
  portView,
} from './http.js';

/**
 * spp-ctl REST behaviour of SPP-SPEC §2.7, §3, §4.3, §5.2–§5.7 and §9.2 beyond the §10
 * vectors, plus the emulator's control endpoints and its CLI.
 *
 * Host: two NICs (vf 1: 2 vhosts, mask 0xfe; vf 2: 1 vhost, mask 0x3f00) and one mirror
 * (spp_mirror 3, mask 0x30000): rings = 2 x 3 vhosts + 2 x 1 mirror = 8.
 */

const MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#1#0x3f00';
const MIRROR = '1#0x30000';
const NICS = 2;
const RINGS = 2 * (2 + 1) + 2 * 1;
const dispatcher = keepAlive();
const running = new Set<EmulatorServer>();

after(async () => {
  for (const emulator of running) await emulator.stop();
  await dispatcher.close();
});

async function freshHost(dialect: '18.08' | '19.11' = '18.08') {
  const { config } = planHostLayout({ mappings: MAPPINGS, mirror: MIRROR });
  const emulator = await EmulatorServer.start(
    hostSpecFromLayout(config, { dialect, mirrorCoreMask: '0x30000' }),
  );
  running.add(emulator);
  const base = emulator.url;
  const get = (path: string) => call(base, 'GET', path, { dispatcher });
  const send = (method: string, path: string, json?: unknown) =>
    call(base, method, path, { dispatcher, ...(json !== undefined ? { json } : {}) });
  const status = async (id = 1, kind = 'vfs'): Promise<StatusView> =>
    expectJson<StatusView>(await get(`/v1/${kind}/${id}`), `GET /v1/${kind}/${id}`);
  const agent = new AgentCalls(base, dispatcher);
  const start = (name: string, core: number, type: string, id = 1) =>
    send('POST', `/v1/vfs/${id}/components`, { name, core, type });
  const ports = (component: string, body: Record<string, unknown>, id = 1) =>
    send('PUT', `/v1/vfs/${id}/components/${component}/ports`, body);
  const table = (body: Record<string, unknown>, id = 1) =>
    send('PUT', `/v1/vfs/${id}/classifier_table`, body);
  const stop = async () => {
    running.delete(emulator);
    await emulator.stop();
  };
  return { emulator, base, get, send, status, agent, start, ports, table, stop };
}

describe('process table and primary', () => {
  test('GET /v1/processes lists the primary, then the clients in connection order', async () => {
    const host = await freshHost();
    const reply = await host.get('/v1/processes');
    assert.equal(reply.type, 'application/json');
    assert.equal(
      reply.text,
      '[{"type": "primary"}, {"type": "vf", "client-id": 1}, {"type": "vf", "client-id": 2}, {"type": "mirror", "client-id": 3}]',
    );
    await host.stop();
  });

  test('primary status: one phy per NIC mapping, 2 x vhosts + 2 x mirrors rings', async () => {
    const host = await freshHost();
    const reply = await host.get('/v1/primary/status');
    const primary = expectJson<{
      phy_ports: Array<Record<string, unknown>>;
      ring_ports: Array<Record<string, unknown>>;
    }>(reply);
    assert.deepEqual(Object.keys(primary), ['phy_ports', 'ring_ports']);
    assert.deepEqual(
      primary.phy_ports.map((phy) => phy.id),
      Array.from({ length: NICS }, (_, index) => index),
    );
    for (const phy of primary.phy_ports) {
      assert.deepEqual(Object.keys(phy), ['id', 'eth', 'rx', 'tx', 'tx_drop']);
      assert.match(String(phy.eth), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'lower-case MAC, no newline');
    }
    assert.deepEqual(
      primary.ring_ports.map((ring) => ring.id),
      Array.from({ length: RINGS }, (_, index) => index),
    );
    for (const ring of primary.ring_ports) {
      assert.deepEqual(Object.keys(ring), ['id', 'rx', 'rx_drop', 'tx', 'tx_drop']);
    }
    expectNoContent(await host.send('DELETE', '/v1/primary/status'), 'clear counters');
    await host.stop();
  });

  test('every spp_vf lists every NIC; unuse entries have only core and type', async () => {
    const host = await freshHost();
    const second = await host.status(2);
    assert.deepEqual(second.ports, ['phy:0', 'phy:1']);
    assert.deepEqual(
      second.components.map((component) => component.core),
      [9, 10, 11, 12, 13],
    );
    for (const component of second.components) {
      assert.deepEqual(Object.keys(component), ['core', 'type']);
      assert.equal(component.type, 'unuse');
    }
    const mirror = await host.status(3, 'mirrors');
    assert.deepEqual(mirror, {
      'client-id': 3,
      ports: ['phy:0', 'phy:1'],
      components: [{ core: 17, type: 'unuse' }],
    });
    await host.stop();
  });
});

describe('ports and components (SPP-SPEC §5.3, §5.4)', () => {
  test('attach is not idempotent; in-use is per direction; stop releases ports', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('a', 2, 'forward'));
    expectNoContent(await host.start('b', 3, 'merge'));
    expectNoContent(await host.ports('a', { action: 'attach', port: 'ring:0', dir: 'rx' }));
    expectError(
      await host.ports('b', { action: 'attach', port: 'ring:0', dir: 'rx' }),
      400,
      'command error: bad value(port rxtx)',
      'same port and direction on another component',
    );
    expectNoContent(
      await host.ports('b', { action: 'attach', port: 'ring:0', dir: 'tx' }),
      'other direction',
    );
    expectError(
      await host.ports('b', { action: 'attach', port: 'ring:0', dir: 'rx' }),
      400,
      'command error: bad value(port)',
      'used in both directions',
    );
    expectNoContent(await host.send('DELETE', '/v1/vfs/1/components/a'));
    expectNoContent(
      await host.ports('b', { action: 'attach', port: 'ring:0', dir: 'rx' }),
      'the stopped component no longer uses ring:0',
    );
    const b = componentNamed(await host.status(), 'b');
    assert.deepEqual(b.rx_port, [portView('ring:0')]);
    assert.deepEqual(b.tx_port, [portView('ring:0')]);
    await host.stop();
  });

  test('stop of an unknown component and detach of an unattached port are 204 and change nothing', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('a', 2, 'forward'));
    const before = await host.get('/v1/vfs/1');
    expectNoContent(await host.send('DELETE', '/v1/vfs/1/components/ghost'));
    expectNoContent(await host.ports('a', { action: 'detach', port: 'vhost:5', dir: 'tx' }));
    expectNoContent(await host.ports('a', { action: 'detach', port: 'phy:1', dir: 'rx' }));
    const now = await host.get('/v1/vfs/1');
    assert.equal(now.text, before.text, 'status unchanged; a detach does not create a port');
    await host.stop();
  });

  test('VLAN ops belong to (port, direction): shown per port, cleared by detach, kept by stop', async () => {
    const host = await freshHost();
    const add = (id: number, pcp: number): VlanView => ({ operation: 'add', id, pcp });
    const del: VlanView = { operation: 'del', id: 0, pcp: 0 };
    expectNoContent(await host.start('mg', 2, 'merge'));
    expectNoContent(
      await host.ports('mg', {
        action: 'attach',
        port: 'ring:1',
        dir: 'rx',
        vlan: { operation: 'add', id: 100, pcp: 3 },
      }),
    );
    expectNoContent(
      await host.ports('mg', {
        action: 'attach',
        port: 'ring:3',
        dir: 'rx',
        vlan: { operation: 'del', id: 7, pcp: 2 },
      }),
    );
    expectNoContent(
      await host.ports('mg', {
        action: 'attach',
        port: 'phy:0',
        dir: 'tx',
        vlan: { operation: 'none' },
      }),
    );
    let mg = componentNamed(await host.status(), 'mg');
    assert.deepEqual(mg.rx_port, [portView('ring:1', add(100, 3)), portView('ring:3', del)]);
    assert.deepEqual(mg.tx_port, [portView('phy:0', NO_VLAN)]);

    // Detach clears the op; re-attach appends at the end of the list.
    expectNoContent(await host.ports('mg', { action: 'detach', port: 'ring:1', dir: 'rx' }));
    expectNoContent(await host.ports('mg', { action: 'attach', port: 'ring:1', dir: 'rx' }));
    mg = componentNamed(await host.status(), 'mg');
    assert.deepEqual(mg.rx_port, [portView('ring:3', del), portView('ring:1', NO_VLAN)]);

    // The op stays on the port when its component stops, and shows on the next attachment.
    expectNoContent(await host.send('DELETE', '/v1/vfs/1/components/mg'));
    expectNoContent(await host.start('fw', 3, 'forward'));
    expectNoContent(await host.ports('fw', { action: 'attach', port: 'ring:3', dir: 'rx' }));
    expectNoContent(await host.ports('fw', { action: 'attach', port: 'ring:3', dir: 'tx' }));
    const fw = componentNamed(await host.status(), 'fw');
    assert.deepEqual(fw.rx_port, [portView('ring:3', del)], 'the rx op of ring:3 survived');
    assert.deepEqual(fw.tx_port, [portView('ring:3', NO_VLAN)], 'tx has its own ops');
    await host.stop();
  });

  test('the add_vlantag form skips the in-use checks; on an attached port it rewrites the op', async () => {
    const host = await freshHost();
    const add = (id: number): VlanView => ({ operation: 'add', id, pcp: 0 });
    expectNoContent(await host.start('b', 2, 'merge'));
    expectNoContent(await host.start('c', 3, 'merge'));
    expectNoContent(await host.ports('b', { action: 'attach', port: 'ring:1', dir: 'rx' }));
    const withVlan = (name: string, id: number) =>
      host.ports(name, {
        action: 'attach',
        port: 'ring:1',
        dir: 'rx',
        vlan: { operation: 'add', id, pcp: 0 },
      });
    expectNoContent(await withVlan('c', 100), 'second consumer of ring:1 rx');
    assert.deepEqual(componentNamed(await host.status(), 'c').rx_port, [
      portView('ring:1', add(100)),
    ]);
    expectNoContent(await withVlan('c', 200), 'already in c: the add slot is rewritten');
    assert.deepEqual(componentNamed(await host.status(), 'c').rx_port, [
      portView('ring:1', add(200)),
    ]);
    // ring:3 is already in b and carries no `add` op: nothing to rewrite -> error occur.
    expectNoContent(await host.ports('b', { action: 'attach', port: 'ring:3', dir: 'rx' }));
    const rewrite = await host.ports('b', {
      action: 'attach',
      port: 'ring:3',
      dir: 'rx',
      vlan: { operation: 'add', id: 300, pcp: 0 },
    });
    expectError(rewrite, 400, 'command error: error occur');
    await host.stop();
  });

  test('count limits: forward 1/1, merge -/1, classifier 1/-, mirror 1/2 -> error occur', async () => {
    const host = await freshHost();
    const occur = 'command error: error occur';
    expectNoContent(await host.start('fw', 2, 'forward'));
    expectNoContent(await host.start('mg', 3, 'merge'));
    expectNoContent(await host.start('cls', 4, 'classifier_mac'));
    const attach = (name: string, port: string, dir: string) =>
      host.ports(name, { action: 'attach', port, dir });
    expectNoContent(await attach('fw', 'ring:0', 'tx'));
    expectError(await attach('fw', 'ring:1', 'tx'), 400, occur);
    expectNoContent(await attach('mg', 'ring:2', 'tx'));
    expectError(await attach('mg', 'ring:3', 'tx'), 400, occur);
    for (const ring of ['ring:4', 'ring:5', 'ring:6']) {
      expectNoContent(await attach('mg', ring, 'rx'), `merge rx ${ring}`);
    }
    expectNoContent(await attach('cls', 'phy:0', 'rx'));
    expectError(await attach('cls', 'phy:1', 'rx'), 400, occur);
    for (const ring of ['ring:1', 'ring:3', 'ring:7']) {
      expectNoContent(await attach('cls', ring, 'tx'), `classifier tx ${ring}`);
    }
    const mirror = (port: string, dir: string) =>
      host.send('PUT', '/v1/mirrors/3/components/mi/ports', { action: 'attach', port, dir });
    await host.agent.startMirror(3, 'mi', 17);
    expectNoContent(await mirror('ring:0', 'rx'));
    expectError(await mirror('ring:1', 'rx'), 400, occur);
    expectNoContent(await mirror('ring:1', 'tx'));
    expectNoContent(await mirror('ring:2', 'tx'));
    expectError(await mirror('ring:3', 'tx'), 400, occur);
    const status = await host.status();
    assert.deepEqual(
      componentNamed(status, 'fw').tx_port?.map((port) => port.port),
      ['ring:0'],
    );
    assert.deepEqual(
      componentNamed(status, 'cls').rx_port?.map((port) => port.port),
      ['phy:0'],
    );
    await host.stop();
  });

  test('no hangs: the master lcore and a second classifier on an lcore fail with error occur', async () => {
    const host = await freshHost();
    expectError(await host.start('m', 1, 'forward'), 400, 'command error: error occur');
    expectNoContent(await host.start('c1', 4, 'classifier_mac'));
    expectError(await host.start('c2', 4, 'classifier_mac'), 400, 'command error: error occur');
    const onCore4 = (await host.status()).components.filter((component) => component.core === 4);
    assert.deepEqual(
      onCore4.map((component) => component.name),
      ['c1'],
    );
    expectJson(await host.get('/v1/vfs/1'), 'the process still answers');
    await host.stop();
  });

  test('phy beyond the NICs and ring beyond -n fail with error occur; ring:010 is ring 8 (octal)', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('mg', 2, 'merge'));
    const attach = (port: string) => host.ports('mg', { action: 'attach', port, dir: 'rx' });
    expectError(await attach(`phy:${NICS}`), 400, 'command error: error occur');
    expectError(await attach(`ring:${RINGS}`), 400, 'command error: error occur');
    // 010 passes Python int() as 10 and is octal 8 in the secondary's strtol: ring 8 = -n 8.
    expectError(await attach('ring:010'), 400, 'command error: error occur');
    expectNoContent(await attach('ring:07'));
    assert.deepEqual((await host.status()).ports, ['phy:0', 'phy:1', 'ring:7']);
    await host.stop();
  });
});

describe('classifier table (SPP-SPEC §4.3, §5.5)', () => {
  test('upper-case MACs, vlan entries before mac entries, one id per port kept across detach', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('cls', 4, 'classifier_mac'));
    for (const [port, dir] of [
      ['ring:0', 'tx'],
      ['ring:2', 'tx'],
      ['phy:0', 'rx'],
    ] as const) {
      expectNoContent(await host.ports('cls', { action: 'attach', port, dir }));
    }
    expectNoContent(
      await host.table({
        action: 'add',
        type: 'mac',
        mac_address: 'fa:16:3e:ab:cd:ef',
        port: 'ring:0',
      }),
    );
    expectNoContent(
      await host.table({
        action: 'add',
        type: 'vlan',
        vlan: '100',
        mac_address: 'fa:16:3e:0a:0b:0c',
        port: 'ring:2',
      }),
    );
    const both = [
      { type: 'vlan', value: '100/FA:16:3E:0A:0B:0C', port: 'ring:2' },
      { type: 'mac', value: 'FA:16:3E:AB:CD:EF', port: 'ring:0' },
    ];
    assert.deepEqual((await host.status()).classifier_table, both);

    // The id stays on ring:0 while detached: not listed, and a second add is refused.
    expectNoContent(await host.ports('cls', { action: 'detach', port: 'ring:0', dir: 'tx' }));
    assert.deepEqual((await host.status()).classifier_table, [both[0]]);
    expectError(
      await host.table({
        action: 'add',
        type: 'mac',
        mac_address: 'fa:16:3e:11:11:11',
        port: 'ring:0',
      }),
      400,
      'command error: bad value(port)',
    );
    expectNoContent(await host.ports('cls', { action: 'attach', port: 'ring:0', dir: 'tx' }));
    assert.deepEqual((await host.status()).classifier_table, both);

    // Delete needs the exact VID and MAC (any case).
    expectError(
      await host.table({
        action: 'del',
        type: 'vlan',
        vlan: 101,
        mac_address: 'fa:16:3e:0a:0b:0c',
        port: 'ring:2',
      }),
      400,
      'command error: bad value(port)',
    );
    expectNoContent(
      await host.table({
        action: 'del',
        type: 'vlan',
        vlan: 100,
        mac_address: 'FA:16:3E:0A:0B:0C',
        port: 'ring:2',
      }),
    );
    assert.deepEqual((await host.status()).classifier_table, [both[1]]);

    // Stopping the classifier hides its entries; the ports stay created.
    expectNoContent(await host.send('DELETE', '/v1/vfs/1/components/cls'));
    const stopped = await host.status();
    assert.deepEqual(stopped.classifier_table, []);
    assert.deepEqual(stopped.ports, ['phy:0', 'phy:1', 'ring:0', 'ring:2']);
    await host.stop();
  });

  test('the same MAC on two ports: both accepted, one entry listed (the later tx port)', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('cls', 4, 'classifier_mac'));
    for (const port of ['ring:0', 'ring:2']) {
      expectNoContent(await host.ports('cls', { action: 'attach', port, dir: 'tx' }));
    }
    for (const port of ['ring:0', 'ring:2']) {
      expectNoContent(
        await host.table({ action: 'add', type: 'mac', mac_address: 'fa:16:3e:00:00:07', port }),
        `entry on ${port}`,
      );
    }
    assert.deepEqual((await host.status()).classifier_table, [
      { type: 'mac', value: 'FA:16:3E:00:00:07', port: 'ring:2' },
    ]);
    await host.stop();
  });

  test('00:00:00:00:00:01 is the default marker; vlan 4095 is a mac entry (V18 via REST)', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('cls', 4, 'classifier_mac'));
    for (const port of ['ring:0', 'ring:2']) {
      expectNoContent(await host.ports('cls', { action: 'attach', port, dir: 'tx' }));
    }
    expectNoContent(
      await host.table({
        action: 'add',
        type: 'mac',
        mac_address: '00:00:00:00:00:01',
        port: 'ring:0',
      }),
    );
    expectNoContent(
      await host.table({
        action: 'add',
        type: 'vlan',
        vlan: 4095,
        mac_address: 'fa:16:3e:00:00:09',
        port: 'ring:2',
      }),
    );
    assert.deepEqual((await host.status()).classifier_table, [
      { type: 'mac', value: 'default', port: 'ring:0' },
      { type: 'mac', value: 'FA:16:3E:00:00:09', port: 'ring:2' },
    ]);
    expectNoContent(
      await host.table({
        action: 'del',
        type: 'mac',
        mac_address: 'fa:16:3e:00:00:09',
        port: 'ring:2',
      }),
      'the vlan-4095 entry is deleted as a mac entry',
    );
    await host.stop();
  });

  test('19.11: classifier type name, master-lcore and the default entry', async () => {
    const host = await freshHost('19.11');
    expectError(await host.start('c', 4, 'classifier_mac'), 500, 'Internal Server Error');
    expectNoContent(await host.start('c', 4, 'classifier'));
    expectNoContent(await host.ports('c', { action: 'attach', port: 'ring:0', dir: 'tx' }));
    expectNoContent(
      await host.table({
        action: 'add',
        type: 'vlan',
        vlan: 5,
        mac_address: 'default',
        port: 'ring:0',
      }),
    );
    const reply = await host.get('/v1/vfs/1');
    assert.ok(
      reply.text.startsWith(
        '{"client-id": 1, "ports": ["phy:0", "phy:1", "ring:0"], "master-lcore": 1, "components": [',
      ),
      reply.text,
    );
    const status = JSON.parse(reply.text) as StatusView;
    assert.equal(componentNamed(status, 'c').type, 'classifier');
    assert.deepEqual(status.classifier_table, [
      { type: 'vlan', value: '5/default', port: 'ring:0' },
    ]);
    await host.stop();
  });
});

describe('cross-process state and synchronous effect (SPP-SPEC §9.2.10, §9.2.11)', () => {
  test('a ring may be attached in the same direction in several processes', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('a', 2, 'forward', 1));
    expectNoContent(await host.start('b', 9, 'forward', 2));
    await host.agent.startMirror(3, 'mirror_0', 17);
    expectNoContent(await host.ports('a', { action: 'attach', port: 'ring:0', dir: 'rx' }, 1));
    expectNoContent(await host.ports('b', { action: 'attach', port: 'ring:0', dir: 'rx' }, 2));
    await host.agent.attach(3, 'mirror_0', 'ring:0', 'rx', undefined, 'mirrors');
    await host.agent.attach(3, 'mirror_0', 'ring:0', 'tx', undefined, 'mirrors');
    assert.deepEqual(componentNamed(await host.status(1), 'a').rx_port, [portView('ring:0')]);
    assert.deepEqual(componentNamed(await host.status(2), 'b').rx_port, [portView('ring:0')]);
    const mirror = componentNamed(await host.status(3, 'mirrors'), 'mirror_0');
    assert.deepEqual(mirror.rx_port, [portView('ring:0')]);
    assert.deepEqual(mirror.tx_port, [portView('ring:0')]);
    await host.stop();
  });

  test('every 204 is visible in the very next GET', async () => {
    const host = await freshHost();
    const steps: Array<{
      run: () => Promise<Reply>;
      expect: (status: StatusView) => void;
    }> = [
      {
        run: () => host.start('m', 5, 'merge'),
        expect: (s) => assert.deepEqual(componentNamed(s, 'm').rx_port, []),
      },
      {
        run: () => host.ports('m', { action: 'attach', port: 'ring:5', dir: 'rx' }),
        expect: (s) => assert.deepEqual(componentNamed(s, 'm').rx_port, [portView('ring:5')]),
      },
      {
        run: () => host.ports('m', { action: 'detach', port: 'ring:5', dir: 'rx' }),
        expect: (s) => assert.deepEqual(componentNamed(s, 'm').rx_port, []),
      },
      {
        run: () =>
          host.ports('m', {
            action: 'attach',
            port: 'ring:5',
            dir: 'rx',
            vlan: { operation: 'add', id: 42, pcp: 1 },
          }),
        expect: (s) =>
          assert.deepEqual(componentNamed(s, 'm').rx_port, [
            portView('ring:5', { operation: 'add', id: 42, pcp: 1 }),
          ]),
      },
      {
        run: () => host.send('DELETE', '/v1/vfs/1/components/m'),
        expect: (s) =>
          assert.deepEqual(
            s.components.find((component) => component.core === 5),
            { core: 5, type: 'unuse' },
          ),
      },
    ];
    for (const step of steps) {
      expectNoContent(await step.run());
      step.expect(await host.status());
    }
    await host.stop();
  });
});

describe('control endpoints', () => {
  test('fault hook: the next N requests fail with the given status, then normal service', async () => {
    const host = await freshHost();
    expectNoContent(
      await host.send('POST', '/_emulator/faults', { count: 2, status: 503, body: 'down' }),
    );
    expectError(await host.get('/v1/processes'), 503, 'down');
    expectError(await host.get('/v1/vfs/1'), 503, 'down');
    expectJson(await host.get('/v1/processes'), 'third request');

    expectNoContent(
      await host.send('POST', '/_emulator/faults', { count: 1, status: 500, match: '/v1/vfs/2' }),
    );
    expectJson(await host.get('/v1/vfs/1'), 'another path is not hit');
    expectError(await host.get('/v1/vfs/2'), 500, 'Internal Server Error');
    expectJson(await host.get('/v1/vfs/2'), 'fault used up');

    host.emulator.addFault({ remaining: 5, status: 502 });
    expectError(await host.get('/v1/processes'), 502, 'injected fault');
    expectNoContent(await host.send('DELETE', '/_emulator/faults'));
    expectJson(await host.get('/v1/processes'), 'faults cleared');
    await host.stop();
  });

  test('fault hook: a delayed command still applies before the next request to that process', async () => {
    const host = await freshHost();
    expectNoContent(await host.start('m', 5, 'merge'));
    expectNoContent(
      await host.send('POST', '/_emulator/faults', {
        count: 1,
        delayMs: 1000,
        match: '/v1/vfs/1/components',
      }),
    );
    const startedAt = Date.now();
    let delayedDone = false;
    const delayed = host
      .ports('m', { action: 'attach', port: 'ring:4', dir: 'rx' })
      .finally(() => (delayedDone = true));
    // Another process answers meanwhile; the same process queues behind the delayed command.
    expectJson(await host.get('/v1/vfs/2'));
    assert.equal(delayedDone, false, 'the delayed request is still pending');
    const status = await host.status(1);
    assert.equal(delayedDone, true, 'GET of vf 1 was answered after the delayed PUT');
    assert.deepEqual(componentNamed(status, 'm').rx_port, [portView('ring:4')]);
    expectNoContent(await delayed);
    assert.ok(Date.now() - startedAt >= 995, 'the delay was applied');

    expectNoContent(
      await host.send('POST', '/_emulator/faults', { count: 1, delayMs: 50, status: 504 }),
    );
    expectError(await host.get('/v1/processes'), 504, 'injected fault');
    await host.stop();
  });

  test('process restart loses the state; with downMs the process is gone meanwhile', async () => {
    const host = await freshHost();
    const { config } = planHostLayout({ mappings: MAPPINGS, mirror: MIRROR });
    await host.agent.buildComponents(1, config.vf[0]?.components ?? []);
    await host.agent.buildComponents(2, config.vf[1]?.components ?? []);
    await host.agent.plugFlat(1, 'fa:16:3e:00:00:01', 'ring:0');
    const second = (await host.get('/v1/vfs/2')).text;

    expectNoContent(await host.send('POST', '/_emulator/processes/1/restart'));
    const fresh = await host.status(1);
    assert.deepEqual(fresh.ports, ['phy:0', 'phy:1']);
    assert.deepEqual(fresh.classifier_table, []);
    assert.ok(fresh.components.every((component) => component.type === 'unuse'));
    assert.equal((await host.get('/v1/vfs/2')).text, second, 'vf 2 is untouched');

    expectNoContent(await host.send('POST', '/_emulator/processes/2/restart', { downMs: 800 }));
    expectError(await host.get('/v1/vfs/2'), 404, 'sec_id 2 not found.');
    const table = expectJson<Array<Record<string, unknown>>>(await host.get('/v1/processes'));
    assert.equal(
      table.some((entry) => entry['client-id'] === 2),
      false,
    );
    const back = await waitFor(
      'vf 2 back after restart',
      async () => {
        const reply = await host.get('/v1/vfs/2');
        return reply.status === 200 ? (JSON.parse(reply.text) as StatusView) : undefined;
      },
      5_000,
    );
    assert.ok(back.components.every((component) => component.type === 'unuse'));

    const unknown = await host.send('POST', '/_emulator/processes/42/restart');
    assert.equal(unknown.status, 404);
    await host.stop();
  });
});

describe('networking-spp emulator CLI', () => {
  const bin = fileURLToPath(new URL('../../../bin/networking-spp.js', import.meta.url));

  test('starts, answers GET, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const child = trackChild(
      spawn(
        process.execPath,
        [bin, 'emulator', '--listen', `127.0.0.1:${port}`, '--mappings', MAPPINGS],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.resume();
    const exited = once(child, 'close');
    try {
      const reply = await waitFor(
        'the emulator CLI answers',
        async () => {
          const answer = await call(`http://127.0.0.1:${port}`, 'GET', '/v1/processes');
          return answer.status === 200 ? answer : undefined;
        },
        15_000,
      );
      assert.equal(
        reply.text,
        '[{"type": "primary"}, {"type": "vf", "client-id": 1}, {"type": "vf", "client-id": 2}]',
      );
      const vf = expectJson<StatusView>(await call(`http://127.0.0.1:${port}`, 'GET', '/v1/vfs/1'));
      assert.deepEqual(vf.ports, ['phy:0', 'phy:1']);
      child.kill('SIGTERM');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
    } finally {
      killTree(child, 'SIGKILL');
    }
  });

  test('bad --mappings: one clear error line, non-zero exit', async () => {
    const child = trackChild(
      spawn(
        process.execPath,
        [bin, 'emulator', '--listen', '127.0.0.1:0', '--mappings', '00:04.0#phys1#2'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.resume();
    try {
      const [code] = (await once(child, 'close')) as [number | null];
      assert.notEqual(code, 0);
      assert.notEqual(code, null);
      const lines = stderr.split('\n').filter((line) => line.trim() !== '');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0] as string, /^networking-spp: NIC mapping 1 .*expected 4/);
    } finally {
      killTree(child, 'SIGKILL');
    }
  });
});
