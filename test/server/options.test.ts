import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IniOptions } from '../../src/config/ini.js';
import { RevisionClock } from '../../src/server/revision-clock.js';
import { checkAuth, parseListen, serverOptionsFromIni } from '../../src/server/options.js';

describe('[spp_server] options', () => {
  it('has the documented defaults and takes etcd from [spp]', () => {
    const options = serverOptionsFromIni(
      IniOptions.fromText('[spp]\netcd_host = 10.0.0.5\netcd_port = 12379\n', 'ml2_conf.ini'),
    );
    assert.equal(options.listenAddress, '127.0.0.1');
    assert.equal(options.listenPort, 9697);
    assert.equal(options.bindTimeoutMs, 20_000);
    assert.equal(options.syncGraceMs, 60_000);
    assert.equal(options.authToken, undefined);
    assert.equal(options.authDisabled, false);
    assert.equal(options.requireEtcdAgent, 'true');
    assert.deepEqual(options.etcd.endpoints, ['10.0.0.5:12379']);
    assert.throws(() => checkAuth(options), /auth_token is not set/);
  });

  it('reads every option of [spp_server]', () => {
    const options = serverOptionsFromIni(
      IniOptions.fromText(
        [
          '[spp_server]',
          'listen_address = 0.0.0.0',
          'listen_port = 19697',
          'auth_token = s3cret',
          'bind_timeout = 2.5',
          'sync_grace = 30',
          'require_etcd_agent = false',
          'shutdown_grace = 4',
        ].join('\n'),
        'neutron.conf',
      ),
    );
    assert.equal(options.listenAddress, '0.0.0.0');
    assert.equal(options.listenPort, 19697);
    assert.equal(options.authToken, 's3cret');
    assert.equal(options.bindTimeoutMs, 2500);
    assert.equal(options.syncGraceMs, 30_000);
    assert.equal(options.requireEtcdAgent, 'false');
    assert.equal(options.shutdownGraceMs, 4000);
    checkAuth(options);
  });

  it('reads vhost_socket_dir (absolute, trailing slashes dropped) and refuses a relative one', () => {
    const read = (value: string) =>
      serverOptionsFromIni(
        IniOptions.fromText(`[spp_server]\nvhost_socket_dir = ${value}\n`, 'neutron.conf'),
      ).socketDir;
    assert.equal(read('/var/lib/spp/vhost/'), '/var/lib/spp/vhost');
    assert.equal(read('/tmp'), '/tmp');
    assert.throws(
      () => read('run/vhost'),
      /neutron.conf: \[spp_server\] vhost_socket_dir = "run\/vhost": must be an absolute directory/,
    );
  });

  it('names file, section, option and value on bad input', () => {
    assert.throws(
      () =>
        serverOptionsFromIni(IniOptions.fromText('[spp_server]\nbind_timeout = soon\n', 'a.ini')),
      /a\.ini: \[spp_server\] bind_timeout = "soon": not a number of seconds/,
    );
    assert.throws(
      () =>
        serverOptionsFromIni(IniOptions.fromText('[spp_server]\nlisten_port = 70000\n', 'b.ini')),
      /b\.ini: \[spp_server\] listen_port = "70000": must be between 0 and 65535/,
    );
    assert.throws(() => parseListen('localhost'), /--listen: "localhost" is not an address/);
    assert.deepEqual(parseListen('[::1]:9697'), { address: '::1', port: 9697 });
  });
});

describe('RevisionClock', () => {
  it('gives a lower bound of the age of a revision from when it was seen', () => {
    let now = 1_000_000;
    const clock = new RevisionClock(() => now);
    clock.observe(10);
    now += 5000;
    clock.observe(20);
    now += 5000;
    assert.equal(clock.ageOf(5), 10_000, 'older than the first sighting: at least that old');
    assert.equal(clock.ageOf(10), 10_000);
    assert.equal(clock.ageOf(15), 5000, 'first seen with the sighting of 20');
    assert.equal(clock.ageOf(21), 0, 'not seen yet: new');
  });
});
