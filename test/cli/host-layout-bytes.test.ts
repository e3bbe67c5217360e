import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { runCli } from './run-cli.js';

const ORACLE = fileURLToPath(
  new URL('../../../test/layout/original_config_build.py', import.meta.url),
);

// The original documentation's key order (core, name, rx_port, tx_port, type), with an
// extra key, and mirrors with ports before core.
const LAYOUT = `vf:
- components:
  - {core: 2, name: forward_0_tx, rx_port: [ring:0], tx_port: [vhost:0], type: forward}
  - {core: 2, name: forward_0_rx, rx_port: [vhost:0], tx_port: [ring:1], type: forward}
  - {core: 4, name: classifier, rx_port: [phy:0], tx_port: [ring:0], type: classifier_mac, note: "spare core 3 → later"}
  - {core: 5, name: merger, rx_port: [ring:1], tx_port: [phy:0], type: merge}
mirror:
- {ports: [ring:2, ring:3], core: 7}
`;
const MAPPINGS = '00:04.0#phys1#1#0x3e';
const MIRROR = '1#0xc0';

function originalValue(): string {
  const run = spawnSync('/usr/bin/python3', [ORACLE], {
    input: JSON.stringify([{ yaml: LAYOUT, mappings: MAPPINGS, mirror: MIRROR }]),
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const [result] = JSON.parse(run.stdout) as Array<{ value?: string; error?: string }>;
  assert.ok(result?.value, `Python failed: ${result?.error}`);
  return result.value;
}

describe('networking-spp host build --layout writes what the original writes', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let dir: string;
  let file: string;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    dir = mkdtempSync(join(tmpdir(), 'nspp-layout-'));
    file = join(dir, 'custom.yaml');
    writeFileSync(file, LAYOUT);
  });

  after(async () => {
    store?.close();
    await etcd?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const args = ['--host', 'c9', '--mappings', MAPPINGS, '--mirror', MIRROR, '--layout'];

  it('the etcd value is byte-identical to spp-config-build', async () => {
    const result = await runCli(['host', 'build', ...args, file, '--etcd', etcd.endpoint]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: .*"note" is not a component setting/);
    const stored = await store.get(keys.configuration('c9'));
    assert.equal(stored?.value, originalValue());
  });

  it('--dry-run prints the same bytes', async () => {
    const result = await runCli(['host', 'build', ...args, file, '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${originalValue()}\n`);
  });
});
