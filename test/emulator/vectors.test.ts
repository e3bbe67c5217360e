import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EmulatorServer } from '../../src/emulator/server.js';
import type { Dialect, HostSpec } from '../../src/emulator/spec.js';
import type { Reply, StatusView } from './http.js';
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
 * SPP-SPEC §10 test vectors, in the spec's order, over real HTTP. Set-up of §10: spp_vf
 * client 1 with worker lcores 2..7 (mask 0xfe) and one NIC, spp_mirror client 3 with a
 * component `m`, spp_primary `-n 4`. Expected values are the spec's; for 19.11 the
 * differences of §8 apply (decode errors `Invalid value (X)`, `classifier`, mixing types on
 * an lcore, `default` MAC, DELETE of a process, `master-lcore`, 400 for bad JSON).
 */

const MAC_X = 'fa:16:3e:00:00:01';
const MAC_Y = 'fa:16:3e:00:00:02';
const INTERNAL = 'Internal Server Error';

function vectorSpec(dialect: Dialect): HostSpec {
  return {
    nics: 1,
    rings: 4,
    dialect,
    processes: [
      { type: 'vf', clientId: 1, coreMask: '0xfe' },
      { type: 'mirror', clientId: 3, coreMask: '0x300' },
    ],
  };
}

for (const dialect of ['18.08', '19.11'] as const) {
  const v18 = dialect === '18.08';
  /** The secondary's decode error as spp-ctl passes it on (§5.1, §8). */
  const bad = (parameter: string) =>
    v18 ? `command error: bad value(${parameter})` : `command error: Invalid value (${parameter})`;
  const classifierType = v18 ? 'classifier_mac' : 'classifier';

  describe(`SPP-SPEC §10 vectors, ${dialect}`, () => {
    let emulator: EmulatorServer;
    const dispatcher = keepAlive();
    const get = (path: string) => call(emulator.url, 'GET', path, { dispatcher });
    const post = (path: string, json: unknown) =>
      call(emulator.url, 'POST', path, { json, dispatcher });
    const put = (path: string, json: unknown) =>
      call(emulator.url, 'PUT', path, { json, dispatcher });
    const del = (path: string) => call(emulator.url, 'DELETE', path, { dispatcher });
    const status = async (path = '/v1/vfs/1'): Promise<StatusView> =>
      expectJson<StatusView>(await get(path), `GET ${path}`);
    const attach = (component: string, port: string, dir: string, vlan?: unknown) =>
      put(`/v1/vfs/1/components/${component}/ports`, {
        action: 'attach',
        port,
        dir,
        ...(vlan !== undefined ? { vlan } : {}),
      });
    const table = (action: string, type: string, mac: string, port: string, vlan?: unknown) =>
      put('/v1/vfs/1/classifier_table', {
        action,
        type,
        mac_address: mac,
        port,
        ...(vlan !== undefined ? { vlan } : {}),
      });

    before(async () => {
      emulator = await EmulatorServer.start(vectorSpec(dialect), { host: '127.0.0.1', port: 0 });
      expectNoContent(
        await post('/v1/mirrors/3/components', { name: 'm', core: 9, type: 'mirror' }),
        'set-up: mirror component m',
      );
    });
    after(async () => {
      await dispatcher.close();
      await emulator.stop();
    });

    test('#1 fresh spp_vf: phy only, six unuse lcores, empty classifier table', async () => {
      const reply = await get('/v1/vfs/1');
      assert.equal(reply.status, 200);
      assert.equal(reply.type, 'application/json');
      const unuse = [2, 3, 4, 5, 6, 7].map((core) => `{"core": ${core}, "type": "unuse"}`);
      const master = v18 ? '' : '"master-lcore": 1, ';
      assert.equal(
        reply.text,
        `{"client-id": 1, "ports": ["phy:0"], ${master}"components": [${unuse.join(', ')}], "classifier_table": []}`,
      );
    });

    test('#2 start forward f on core 2', async () => {
      expectNoContent(await post('/v1/vfs/1/components', { name: 'f', core: 2, type: 'forward' }));
      const reply = await get('/v1/vfs/1');
      assert.ok(
        reply.text.includes(
          '{"core": 2, "name": "f", "type": "forward", "rx_port": [], "tx_port": []}',
        ),
        reply.text,
      );
    });

    test('#3 starting f again: bad value(component name)', async () => {
      expectError(
        await post('/v1/vfs/1/components', { name: 'f', core: 2, type: 'forward' }),
        400,
        bad('component name'),
      );
    });

    test('#4 a merge on the forward lcore: V18 bad value(component type), 19.11 allowed', async () => {
      const reply = await post('/v1/vfs/1/components', { name: 'g', core: 2, type: 'merge' });
      if (v18) {
        expectError(reply, 400, bad('component type'));
        return;
      }
      expectNoContent(reply);
      const onCore2 = (await status()).components.filter((component) => component.core === 2);
      assert.deepEqual(
        onCore2.map((component) => [component.name, component.type]),
        [
          ['f', 'forward'],
          ['g', 'merge'],
        ],
      );
      expectNoContent(await del('/v1/vfs/1/components/g'));
      const after = (await status()).components.filter((component) => component.core === 2);
      assert.deepEqual(
        after.map((component) => component.name),
        ['f'],
      );
    });

    test('#5 core 9 is not a worker lcore: error occur', async () => {
      expectError(
        await post('/v1/vfs/1/components', { name: 'h', core: 9, type: 'forward' }),
        400,
        'command error: error occur',
      );
    });

    test('#6 core 200: bad value(core)', async () => {
      expectError(
        await post('/v1/vfs/1/components', { name: 'h', core: 200, type: 'forward' }),
        400,
        bad('core'),
      );
    });

    test('#7 core as a string: 500 (KeyInvalid bug)', async () => {
      expectError(
        await post('/v1/vfs/1/components', { name: 'h', core: '3', type: 'forward' }),
        500,
        INTERNAL,
      );
    });

    test('#8 no name: key(name) required.', async () => {
      expectError(
        await post('/v1/vfs/1/components', { core: 3, type: 'forward' }),
        400,
        'key(name) required.',
      );
    });

    test('#9 attach ring:0 rx to f', async () => {
      expectNoContent(await attach('f', 'ring:0', 'rx'));
      assert.deepEqual((await status()).ports, ['phy:0', 'ring:0']);
    });

    test('#10 attach ring:0 rx again: bad value(port rxtx)', async () => {
      expectError(await attach('f', 'ring:0', 'rx'), 400, bad('port rxtx'));
    });

    test('#11 attach vhost:0 tx', async () => {
      expectNoContent(await attach('f', 'vhost:0', 'tx'));
      assert.deepEqual((await status()).ports, ['phy:0', 'vhost:0', 'ring:0']);
    });

    test('#12 a second rx on a forward: error occur, rx unchanged', async () => {
      expectError(await attach('f', 'ring:1', 'rx'), 400, 'command error: error occur');
      const current = await status();
      assert.deepEqual(componentNamed(current, 'f').rx_port, [portView('ring:0')]);
      // 18.08.2+: nothing changed. (V18 would list ring:1 as a created PMD; the emulator
      // checks the count limits before mutating in both dialects — SPP-SPEC §5.7.)
      if (!v18) assert.deepEqual(current.ports, ['phy:0', 'vhost:0', 'ring:0']);
    });

    test('#13 detach ring:1 rx (not attached): 204', async () => {
      expectNoContent(
        await put('/v1/vfs/1/components/f/ports', { action: 'detach', port: 'ring:1', dir: 'rx' }),
      );
      assert.deepEqual(componentNamed(await status(), 'f').rx_port, [portView('ring:0')]);
    });

    test('#14 pcap:0 passes spp-ctl, the secondary rejects it: bad value(port)', async () => {
      expectError(await attach('f', 'pcap:0', 'rx'), 400, bad('port'));
    });

    test('#15 vlan add without pcp: 500', async () => {
      expectError(await attach('f', 'ring:2', 'rx', { operation: 'add', id: 10 }), 500, INTERNAL);
    });

    test('#16 ports of an unknown component: bad value(component name)', async () => {
      expectError(await attach('zz', 'ring:2', 'rx'), 400, bad('component name'));
    });

    test('#17 detach ring:3 tx (not attached): 204', async () => {
      expectNoContent(
        await put('/v1/vfs/1/components/f/ports', { action: 'detach', port: 'ring:3', dir: 'tx' }),
      );
    });

    test('#18 stop of an unknown component: 204', async () => {
      expectNoContent(await del('/v1/vfs/1/components/nosuch'));
    });

    test('#19 classifier entry on a never-attached ring: bad value(port)', async () => {
      expectError(await table('add', 'mac', MAC_X, 'ring:3'), 400, bad('port'));
    });

    test('#20 classifier with a tx ring and an entry, no rx yet: entry listed upper-case', async () => {
      expectNoContent(
        await post('/v1/vfs/1/components', { name: 'cls', core: 6, type: classifierType }),
      );
      expectNoContent(await attach('cls', 'ring:0', 'tx'));
      expectNoContent(await table('add', 'mac', MAC_X, 'ring:0'));
      const reply = await get('/v1/vfs/1');
      assert.ok(
        reply.text.endsWith(
          '"classifier_table": [{"type": "mac", "value": "FA:16:3E:00:00:01", "port": "ring:0"}]}',
        ),
        reply.text,
      );
    });

    test('#21 a second entry on ring:0: bad value(port)', async () => {
      expectError(await table('add', 'mac', MAC_Y, 'ring:0'), 400, bad('port'));
    });

    test('#22 deleting another MAC: bad value(port)', async () => {
      expectError(await table('del', 'mac', MAC_Y, 'ring:0'), 400, bad('port'));
    });

    test('#23 deleting with a VID (entry is VID 4095): bad value(port)', async () => {
      expectError(await table('del', 'vlan', MAC_X, 'ring:0', 10), 400, bad('port'));
    });

    test('#24 delete with upper-case MAC: 204, table empty', async () => {
      expectNoContent(await table('del', 'mac', 'FA:16:3E:00:00:01', 'ring:0'));
      assert.deepEqual((await status()).classifier_table, []);
    });

    test('#25 vlan 5000: bad value(vlan id)', async () => {
      expectError(await table('add', 'vlan', MAC_X, 'ring:0', 5000), 400, bad('vlan id'));
    });

    test('#26 mac default: V18 500, 19.11 a default entry', async () => {
      const reply = await table('add', 'mac', 'default', 'ring:0');
      if (v18) {
        expectError(reply, 500, INTERNAL);
        assert.deepEqual((await status()).classifier_table, []);
        return;
      }
      expectNoContent(reply);
      assert.deepEqual((await status()).classifier_table, [
        { type: 'mac', value: 'default', port: 'ring:0' },
      ]);
    });

    test('#27 ring:0 used as rx and tx: attaching it again is bad value(port)', async () => {
      expectError(await attach('cls', 'ring:0', 'tx'), 400, bad('port'));
    });

    test('#28 GET /v1/vfs/3 when 3 is a mirror: sec_id 3 not found.', async () => {
      expectError(await get('/v1/vfs/3'), 404, 'sec_id 3 not found.');
    });

    test('#29 mirror ports ignore the vlan object', async () => {
      expectNoContent(
        await put('/v1/mirrors/3/components/m/ports', {
          action: 'attach',
          port: 'ring:2',
          dir: 'rx',
          vlan: { operation: 'add', id: 10, pcp: 0 },
        }),
      );
      const mirror = await status('/v1/mirrors/3');
      assert.deepEqual(componentNamed(mirror, 'm').rx_port, [portView('ring:2', NO_VLAN)]);
      assert.equal('classifier_table' in mirror, false, 'a mirror has no classifier_table key');
    });

    test('#31 non-integer id: Not found', async () => {
      expectError(await get('/v1/vfs/abc'), 404, "Not found: '/abc'");
    });

    test('#32 a ring beyond spp_primary -n: error occur; GET still works', async () => {
      expectNoContent(await post('/v1/vfs/1/components', { name: 'w', core: 5, type: 'forward' }));
      expectError(await attach('w', 'ring:9', 'rx'), 400, 'command error: error occur');
      const current = await status();
      assert.deepEqual(componentNamed(current, 'w').rx_port, []);
      assert.equal(current.ports.includes('ring:9'), false);
      // SPP-SPEC §5.7: the emulator does not reproduce V18's wedge; later commands work.
      expectNoContent(await attach('w', 'ring:3', 'rx'));
    });

    test('#30 DELETE /v1/vfs/1: V18 405, 19.11 exit', async () => {
      const reply = await del('/v1/vfs/1');
      if (v18) {
        expectError(reply, 405, 'Method not allowed.');
        await status();
        return;
      }
      expectNoContent(reply);
      expectError(await get('/v1/vfs/1'), 404, 'sec_id 1 not found.');
      const processes = expectJson<Array<Record<string, unknown>>>(await get('/v1/processes'));
      assert.deepEqual(processes, [{ type: 'primary' }, { type: 'mirror', 'client-id': 3 }]);
    });
  });

  describe(`SPP-SPEC §2.2–§2.4 error texts and body handling, ${dialect}`, () => {
    let emulator: EmulatorServer;
    const dispatcher = keepAlive();
    const send = (
      method: string,
      path: string,
      raw?: string,
      contentType?: string,
    ): Promise<Reply> =>
      call(emulator.url, method, path, {
        dispatcher,
        ...(raw !== undefined ? { raw } : {}),
        ...(contentType !== undefined ? { contentType } : {}),
      });

    before(async () => {
      emulator = await EmulatorServer.start(vectorSpec(dialect));
    });
    after(async () => {
      await dispatcher.close();
      await emulator.stop();
    });

    test('unknown paths: Not found with the path below the mount point', async () => {
      expectError(await send('GET', '/v1/nope'), 404, "Not found: '/nope'");
      // Python's repr of the percent-decoded path.
      expectError(await send('GET', '/v1/a%20b'), 404, "Not found: '/a b'");
      expectError(await send('GET', "/v1/it's"), 404, 'Not found: "/it\'s"');
      expectError(
        await send('PUT', '/v1/mirrors/3/classifier_table', '{}', 'application/json'),
        404,
        "Not found: '/3/classifier_table'",
      );
    });

    test('known path, wrong method: 405 Method not allowed.', async () => {
      expectError(await send('DELETE', '/v1/processes'), 405, 'Method not allowed.');
      expectError(await send('POST', '/v1/vfs/1'), 405, 'Method not allowed.');
    });

    test('ids not connected or of another type: sec_id N not found.', async () => {
      expectError(await send('GET', '/v1/vfs/2'), 404, 'sec_id 2 not found.');
      expectError(await send('GET', '/v1/mirrors/1'), 404, 'sec_id 1 not found.');
      expectError(
        await send('PUT', '/v1/vfs/3/classifier_table', '{}', 'application/json'),
        404,
        'sec_id 3 not found.',
      );
    });

    test('required keys are checked in order: action, port, dir', async () => {
      const path = '/v1/vfs/1/components/f/ports';
      expectError(await send('PUT', path, '{}', 'application/json'), 400, 'key(action) required.');
      expectError(
        await send('PUT', path, '{"action": "attach"}', 'application/json'),
        400,
        'key(port) required.',
      );
      expectError(
        await send('PUT', path, '{"action": "attach", "port": "ring:0"}', 'application/json'),
        400,
        'key(dir) required.',
      );
      expectError(
        await send(
          'PUT',
          '/v1/vfs/1/classifier_table',
          '{"action": "add", "type": "mac", "port": "ring:0"}',
          'application/json',
        ),
        400,
        'key(mac_address) required.',
      );
    });

    test('a JSON array body is parsed; `in` tests its elements', async () => {
      expectError(
        await send('POST', '/v1/vfs/1/components', '["core", "type"]', 'application/json'),
        400,
        'key(name) required.',
      );
      // `'name' in ["name"]` is true in Python: the next missing key is reported.
      expectError(
        await send('POST', '/v1/vfs/1/components', '["name"]', 'application/json'),
        400,
        'key(core) required.',
      );
    });

    test('invalid values detected by spp-ctl are 500 (KeyInvalid bug)', async () => {
      const path = '/v1/vfs/1/components';
      const cases = [
        '{"name": "a", "core": 2, "type": "classifier"}',
        '{"name": "a", "core": 2, "type": "plug"}',
        '{"name": 5, "core": 2, "type": "forward"}',
      ];
      for (const body of cases.slice(v18 ? 0 : 1)) {
        expectError(await send('POST', path, body, 'application/json'), 500, INTERNAL, body);
      }
      const port = '/v1/vfs/1/components/f/ports';
      for (const body of [
        '{"action": "attach", "port": "ring:0", "dir": "both"}',
        '{"action": "plug", "port": "ring:0", "dir": "rx"}',
        '{"action": "attach", "port": "ring0", "dir": "rx"}',
        '{"action": "attach", "port": "ring:0", "dir": "rx", "vlan": {"operation": "xx"}}',
      ]) {
        expectError(await send('PUT', port, body, 'application/json'), 500, INTERNAL, body);
      }
      const mac = '{"action": "add", "type": "mac", "mac_address": "zz", "port": "ring:0"}';
      expectError(
        await send('PUT', '/v1/vfs/1/classifier_table', mac, 'application/json'),
        500,
        INTERNAL,
      );
    });

    test('malformed JSON: V18 500, 19.11 400 Not in json format.', async () => {
      const path = '/v1/vfs/1/components';
      const expectBad = (reply: Reply, what: string) =>
        v18
          ? expectError(reply, 500, INTERNAL, what)
          : expectError(reply, 400, 'Not in json format.', what);
      expectBad(await send('POST', path, '{"name": ', 'application/json'), 'truncated JSON');
      expectBad(await send('POST', path, ''), 'empty body without Content-Type');
      expectError(
        await send('POST', path, '', 'application/json'),
        500,
        INTERNAL,
        'empty body with Content-Type application/json (null)',
      );
    });

    test('JSON sent as text/plain is accepted', async () => {
      expectNoContent(
        await send(
          'POST',
          '/v1/vfs/1/components',
          '{"name": "t", "core": 3, "type": "forward"}',
          'text/plain',
        ),
      );
    });

    test('§2.4 values reach the secondary unvalidated: bool core, spaces, float vlan id', async () => {
      const json = (method: string, path: string, body: unknown) =>
        call(emulator.url, method, path, { dispatcher, json: body });
      // `true` is an int in Python: the command says `True`, which is no core number.
      expectError(
        await json('POST', '/v1/vfs/1/components', { name: 'p', core: true, type: 'forward' }),
        400,
        bad('core'),
      );
      // A name with a space makes 6 tokens, more than `component` takes.
      expectError(
        await json('POST', '/v1/vfs/1/components', { name: 'p q', core: 2, type: 'forward' }),
        400,
        v18 ? 'command error: bad message format' : 'command error: Wrong message format',
      );
      expectNoContent(
        await json('POST', '/v1/vfs/1/components', { name: 'p', core: 2, type: 'merge' }),
      );
      const ports = '/v1/vfs/1/components/p/ports';
      expectNoContent(
        await json('PUT', ports, {
          action: 'attach',
          port: 'ring:1',
          dir: 'rx',
          vlan: { operation: 'add', id: 10.5, pcp: 0 },
        }),
        'a float id is formatted with %d',
      );
      // A numeric string passes int() but crashes `%d`.
      expectError(
        await json('PUT', ports, {
          action: 'attach',
          port: 'ring:2',
          dir: 'rx',
          vlan: { operation: 'add', id: '10', pcp: 0 },
        }),
        500,
        INTERNAL,
      );
      expectNoContent(
        await json('PUT', ports, { action: 'attach', port: 'ring:3', dir: 'rx', vlan: {} }),
        'an empty vlan object means no vlan',
      );
      expectNoContent(
        await json('PUT', ports, { action: 'attach', port: 'phy:0', dir: 'tx', vlan: null }),
        'a null vlan means no vlan',
      );
      expectNoContent(
        await json('PUT', ports, {
          action: 'detach',
          port: 'ring:3',
          dir: 'rx',
          vlan: { operation: 'xx' },
        }),
        'vlan is ignored on detach',
      );
      const status = expectJson<StatusView>(await send('GET', '/v1/vfs/1'));
      const p = componentNamed(status, 'p');
      assert.deepEqual(p.rx_port, [portView('ring:1', { operation: 'add', id: 10, pcp: 0 })]);
      assert.deepEqual(p.tx_port, [portView('phy:0')]);
    });

    test('ids are Python ints: 01 is 1, -1 is looked up; a trailing slash is another path', async () => {
      const one = expectJson<StatusView>(await send('GET', '/v1/vfs/01'));
      assert.equal(one['client-id'], 1);
      expectError(await send('GET', '/v1/vfs/-1'), 404, 'sec_id -1 not found.');
      expectError(await send('GET', '/v1/vfs/1/'), 404, "Not found: '/1/'");
    });

    test('extra keys are ignored; port types spp-ctl knows but the secondary does not', async () => {
      expectNoContent(
        await call(emulator.url, 'POST', '/v1/vfs/1/components', {
          dispatcher,
          json: { name: 'x', core: 5, type: 'forward', colour: 'blue' },
        }),
      );
      const attach = (port: string) =>
        call(emulator.url, 'PUT', '/v1/vfs/1/components/x/ports', {
          dispatcher,
          json: { action: 'attach', port, dir: 'rx' },
        });
      expectError(await attach('nullpmd:0'), 400, bad('port'));
      if (v18) {
        expectError(await attach('tap:0'), 500, INTERNAL);
        expectError(await attach('phy:0nq1'), 500, INTERNAL);
      } else {
        expectError(await attach('tap:0'), 400, bad('port'));
        expectError(await attach('phy:0nq1'), 400, bad('port'));
      }
    });

    test('component names of 111 characters or more: bad value(component name)', async () => {
      const start = (name: string) =>
        call(emulator.url, 'POST', '/v1/vfs/1/components', {
          dispatcher,
          json: { name, core: 4, type: 'forward' },
        });
      expectError(await start('n'.repeat(111)), 400, bad('component name'));
      expectNoContent(await start('n'.repeat(110)));
    });

    test('a mirror does not validate the vlan object at all', async () => {
      expectNoContent(
        await call(emulator.url, 'POST', '/v1/mirrors/3/components', {
          dispatcher,
          json: { name: 'mm', core: 9, type: 'mirror' },
        }),
      );
      expectNoContent(
        await call(emulator.url, 'PUT', '/v1/mirrors/3/components/mm/ports', {
          dispatcher,
          json: { action: 'attach', port: 'ring:0', dir: 'rx', vlan: { operation: 'xx' } },
        }),
      );
    });

    test('DELETE /v1/mirrors/3: V18 405, 19.11 the process exits', async () => {
      const reply = await send('DELETE', '/v1/mirrors/3');
      if (v18) {
        expectError(reply, 405, 'Method not allowed.');
        return;
      }
      expectNoContent(reply);
      expectError(await send('GET', '/v1/mirrors/3'), 404, 'sec_id 3 not found.');
    });

    test('primary gone: primary not found., and no longer in the process table', async () => {
      expectJson(await send('GET', '/v1/primary/status'));
      expectNoContent(await send('DELETE', '/v1/primary'));
      expectError(await send('GET', '/v1/primary/status'), 404, 'primary not found.');
      const table = expectJson<Array<Record<string, unknown>>>(await send('GET', '/v1/processes'));
      assert.equal(
        table.some((entry) => entry.type === 'primary'),
        false,
      );
    });
  });
}
