import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import { keys } from '../../src/etcd/keys.js';
import { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import type { TestCerts } from '../etcd/tls-certs.js';
import { makeTestCerts } from '../etcd/tls-certs.js';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'nspp-cli-secure-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, spp: Record<string, string>): string {
  const file = join(dir, name);
  const lines = Object.entries(spp).map(([option, value]) => `${option} = ${value}`);
  writeFileSync(file, `[DEFAULT]\nhost = ignored\n\n[spp]\n${lines.join('\n')}\n`);
  return file;
}

const build = (host: string, ...etcdArgs: string[]) =>
  runCli(['host', 'build', '--host', host, '--mappings', '00:04.0#phys1#1#0x3e', ...etcdArgs]);

describe('host commands against an etcd with TLS client certificates ([spp] of the config files)', () => {
  let etcd: EtcdServer;
  let certs: TestCerts;

  before(async () => {
    certs = makeTestCerts(dir);
    etcd = await EtcdServer.launch({
      tls: { caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey },
    });
  });
  after(async () => {
    await etcd?.dispose();
  });

  it('builds and shows a host with etcd_ca_cert, etcd_cert and etcd_key', async () => {
    const file = configFile('tls.ini', {
      etcd_host: '127.0.0.1',
      etcd_port: String(etcd.clientPort),
      etcd_ca_cert: certs.ca,
      etcd_cert: certs.clientCert,
      etcd_key: certs.clientKey,
    });
    const built = await build('tls1', '--config-file', file);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /host tls1: wrote 2 key\(s\) in one transaction/);
    const shown = await runCli(['host', 'show', '--host', 'tls1', '--config-file', file]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /phy:0 +00:04\.0 +phys1 +0x3e +1 +0 +1/);
  });

  it('fails, naming etcd, without the client certificate', async () => {
    const file = configFile('tls-no-cert.ini', {
      etcd_endpoints: etcd.endpoint,
      etcd_ca_cert: certs.ca,
      etcd_timeout: '1',
    });
    const result = await build('tls2', '--config-file', file);
    // A TLS refusal is a configuration problem (exit 2), not an etcd that is away (69).
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^networking-spp: etcd at ${etcd.endpoint} refused the connection: TLS handshake failed: bad certificate \\(check .*etcd_cert`,
        'm',
      ),
    );
  });
});

describe('host commands against an etcd with user/password auth', () => {
  let etcd: EtcdServer;
  let admin: EtcdStore | undefined;

  before(async () => {
    etcd = await EtcdServer.launch();
    const root = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    try {
      await root.role('root').create();
      await root.user('root').create('s3cret');
      await root.user('root').addRole('root');
      await root.auth.authEnable();
    } finally {
      root.close();
    }
    admin = EtcdStore.connect({
      ...DEFAULT_ETCD_SETTINGS,
      endpoints: [etcd.endpoint],
      auth: { username: 'root', password: 's3cret' },
    });
  });
  after(async () => {
    admin?.close();
    await etcd?.dispose();
  });

  it('builds with etcd_username and etcd_password from [spp]', async () => {
    const file = configFile('auth.ini', {
      etcd_endpoints: etcd.endpoint,
      etcd_username: 'root',
      etcd_password: 's3cret',
    });
    const result = await build('auth1', '--config-file', file);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await admin?.get(keys.vhost('auth1', 'phys1', 0)))?.value, 'None');
  });

  it('is refused with a wrong password, and writes nothing', async () => {
    const file = configFile('auth-bad.ini', {
      etcd_endpoints: etcd.endpoint,
      etcd_username: 'root',
      etcd_password: 'wrong',
    });
    const result = await build('auth2', '--config-file', file);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^networking-spp: etcd at 127\.0\.0\.1:\d+ refused the connection: .*(authentication failed|invalid user ID or password).*etcd_password/i,
    );
    assert.equal(await admin?.get(keys.configuration('auth2')), undefined);
  });

  it('is refused without credentials', async () => {
    const result = await build('auth3', '--etcd', etcd.endpoint);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^networking-spp: etcd at .* refused the connection: .*(user name is empty|permission denied).*etcd_username/i,
    );
  });
});

describe('etcd endpoint lists', () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await EtcdServer.launch();
  });
  after(async () => {
    await etcd?.dispose();
  });

  it('accepts --etcd with several endpoints and uses a live one', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const result = await build('list1', '--etcd', `${dead},${etcd.endpoint}`);
    assert.equal(result.code, 0, result.stderr);
    const show = await runCli([
      'host',
      'show',
      '--host',
      'list1',
      '--json',
      '--etcd',
      `${etcd.endpoint}, ${dead}`,
    ]);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(JSON.parse(show.stdout).slots.length, 1);
  });

  it('takes [spp] etcd_endpoints over etcd_host/etcd_port, and --etcd over both', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const file = configFile('endpoints.ini', {
      etcd_host: '192.0.2.1',
      etcd_port: '1',
      etcd_endpoints: etcd.endpoint,
    });
    const fromFile = await build('list2', '--config-file', file);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const deadFile = configFile('dead.ini', { etcd_endpoints: dead, etcd_timeout: '1' });
    const fromFlag = await build('list3', '--config-file', deadFile, '--etcd', etcd.endpoint);
    assert.equal(fromFlag.code, 0, fromFlag.stderr);
    // Without the flag the dead endpoint is used: the request deadline (etcd_timeout)
    // ends the command with an error naming it.
    const failed = await build('list4', '--config-file', deadFile);
    assert.equal(failed.code, 69, failed.stderr);
    assert.match(
      failed.stderr,
      new RegExp(
        `^networking-spp: cannot reach etcd at ${dead} \\(connection refused; endpoints from ${deadFile}: \\[spp\\] etcd_endpoints\\)\\. Set them with --etcd`,
      ),
    );
  });
});
