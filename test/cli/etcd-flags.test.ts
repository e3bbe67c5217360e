import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { etcdSettingsFromFlags } from '../../src/cli/etcd-flags.js';

const dir = mkdtempSync(join(tmpdir(), 'nspp-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('etcd location for the host commands', () => {
  it('defaults to 127.0.0.1:2379 without flag or config files', () => {
    assert.deepEqual(etcdSettingsFromFlags({}).endpoints, ['127.0.0.1:2379']);
  });

  it("reads the original's etcd_host/etcd_port, and TLS, auth and timeout from [spp]", () => {
    const file = join(dir, 'ml2_conf.ini');
    writeFileSync(
      file,
      [
        '[spp]',
        'etcd_host = 10.0.0.5',
        'etcd_port = 12379',
        'etcd_timeout = 2.5',
        'etcd_ca_cert = /etc/ca.pem',
        'etcd_cert = /etc/client.pem',
        'etcd_key = /etc/client.key',
        'etcd_username = spp',
        'etcd_password = pw',
        '',
      ].join('\n'),
    );
    const settings = etcdSettingsFromFlags({ configFile: [file] });
    assert.deepEqual(settings.endpoints, ['10.0.0.5:12379']);
    assert.equal(settings.requestTimeoutMs, 2500);
    assert.deepEqual(settings.tls, {
      caFile: '/etc/ca.pem',
      certFile: '/etc/client.pem',
      keyFile: '/etc/client.key',
    });
    assert.deepEqual(settings.auth, { username: 'spp', password: 'pw' });
    const flagged = etcdSettingsFromFlags({ configFile: [file], etcd: 'a:1,b:2' });
    assert.deepEqual(flagged.endpoints, ['a:1', 'b:2']);
    assert.deepEqual(flagged.tls, settings.tls, 'the flag replaces only the endpoints');
  });
});
