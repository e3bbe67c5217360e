import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bigHostMappings, sharedCoreLayout } from '../../src/bench/emulator.js';
import { EmulatorServer } from '../../src/emulator/server.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { StatusView } from './http.js';
import { call, expectJson } from './http.js';

/** The host of `bench emulator`: 8 NICs × 16 vhosts in DPDK's 128 lcores. */
test('the bench host (8 NICs x 16 vhosts, forwarders sharing cores) is valid and serves', async () => {
  const { config } = planHostLayout({
    mappings: bigHostMappings(8, 16),
    custom: { layout: sharedCoreLayout(8, 16), file: 'bench layout' },
  });
  assert.equal(config.vf.length, 8);
  assert.ok(config.vf.every((vf) => vf.components.length === 2 * 16 + 2));
  assert.equal(
    config.vf[7]?.core_mask,
    '0xffff0000000000000000000000000000',
    'NIC 7: cores 112-127',
  );
  const spec = hostSpecFromLayout(config);
  assert.deepEqual([spec.nics, spec.rings, spec.portTableSize], [8, 256, 256]);

  const emulator = await EmulatorServer.start(spec);
  try {
    const last = expectJson<StatusView>(await call(emulator.url, 'GET', '/v1/vfs/8'));
    assert.deepEqual(
      last.ports,
      Array.from({ length: 8 }, (_, nic) => `phy:${nic}`),
    );
    assert.deepEqual(
      last.components.map((component) => component.core),
      Array.from({ length: 15 }, (_, index) => 113 + index),
    );
    const start = await call(emulator.url, 'POST', '/v1/vfs/8/components', {
      json: { name: 'x', core: 127, type: 'merge' },
    });
    assert.equal(start.status, 204, start.text);
    const attach = (port: string) =>
      call(emulator.url, 'PUT', '/v1/vfs/8/components/x/ports', {
        json: { action: 'attach', port, dir: 'rx' },
      });
    assert.equal((await attach('ring:255')).status, 204, 'the last ring exists');
    assert.equal((await attach('vhost:127')).status, 204, 'the last vhost exists');
    assert.equal((await attach('ring:256')).text, 'command error: error occur');
  } finally {
    await emulator.stop();
  }
});
