import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { EtcdStore } from '../../src/etcd/store.js';
import { buildHost } from '../../src/hosts/admin.js';
import { killTree, trackChild } from '../../src/lab/children.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { waitFor } from '../harness/wait.js';

const BIN = fileURLToPath(new URL('../../../bin/networking-spp.js', import.meta.url));

/** `networking-spp emulator --host H --etcd E`: the host's SPP as its layout in etcd says. */
describe('networking-spp emulator reading the layout from etcd', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#1#0x1f,00:05.0#phys2#2#0xfe0,00:06.0#phys3#1#0x1f000',
      mirror: '1#0x60000',
    });
    await buildHost(store, 'from-etcd', config, { force: true });
  });

  after(async () => {
    store?.close();
    await etcd?.dispose();
  });

  test('serves one spp_vf per NIC of the stored layout plus spp_mirror, rings for all', async () => {
    const port = await freePort();
    const child = trackChild(
      spawn(
        process.execPath,
        [
          BIN,
          'emulator',
          '--listen',
          `127.0.0.1:${port}`,
          '--host',
          'from-etcd',
          '--etcd',
          etcd.endpoint,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'close');
    try {
      const processes = await waitFor(
        'the emulator answers',
        async () => {
          const answer = await fetch(`http://127.0.0.1:${port}/v1/processes`);
          return answer.ok ? ((await answer.json()) as Array<Record<string, unknown>>) : undefined;
        },
        15_000,
      );
      assert.deepEqual(processes, [
        { type: 'primary' },
        { type: 'vf', 'client-id': 1 },
        { type: 'vf', 'client-id': 2 },
        { type: 'vf', 'client-id': 3 },
        { type: 'mirror', 'client-id': 4 },
      ]);
      const primary = (await (
        await fetch(`http://127.0.0.1:${port}/v1/primary/status`)
      ).json()) as { ring_ports: unknown[]; phy_ports: unknown[] };
      // 4 vhosts and 1 mirror: 2 rings each; 3 NICs.
      assert.equal(primary.ring_ports.length, 10);
      assert.equal(primary.phy_ports.length, 3);
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
    } finally {
      killTree(child, 'SIGKILL');
    }
  });

  test('an unknown host is one clear error line', async () => {
    const child = trackChild(
      spawn(
        process.execPath,
        [BIN, 'emulator', '--listen', '127.0.0.1:0', '--host', 'nowhere', '--etcd', etcd.endpoint],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const [code] = (await once(child, 'close')) as [number | null];
      assert.notEqual(code, 0);
      const lines = stderr.split('\n').filter((line) => line.trim() !== '');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0] as string, /nowhere/);
    } finally {
      killTree(child, 'SIGKILL');
    }
  });
});
