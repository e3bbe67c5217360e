import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { trackChild } from '../../src/lab/children.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import { waitFor } from '../harness/wait.js';
import type { ComputeHost } from './compute-host.js';
import { startComputeHost } from './compute-host.js';
import { TOKEN, bindBody, newPort } from './harness.js';

const BIN = fileURLToPath(new URL('../../../bin/networking-spp.js', import.meta.url));
const run = promisify(execFile);

let etcd: EtcdServer;
let store: EtcdStore;
let dir: string;
const hosts: ComputeHost[] = [];

before(async () => {
  etcd = await EtcdServer.launch();
  store = etcd.connectStore();
  dir = mkdtempSync(join(tmpdir(), 'nspp-server-cli-'));
});
after(async () => {
  for (const host of hosts) await host.stop();
  store?.close();
  await etcd?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

interface Service {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  output: () => string;
}

/** `networking-spp server --config-file <ini>` as a child process, once it answers /healthz. */
async function startService(extraIni: string): Promise<Service> {
  const port = await freePort();
  const [etcdHost, etcdPort] = etcd.endpoint.split(':');
  const ini = join(dir, `server-${port}.ini`);
  writeFileSync(
    ini,
    `[spp]\netcd_host = ${etcdHost}\netcd_port = ${etcdPort}\n\n[spp_server]\nlisten_port = ${port}\nauth_token = ${TOKEN}\n${extraIni}\n`,
  );
  const child = trackChild(
    spawn(process.execPath, [BIN, 'server', '--config-file', ini], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`the service to answer on ${url} (output: ${output})`, async () => {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  });
  return { child, url, exited, output: () => output };
}

async function postBind(url: string, body: unknown) {
  const response = await fetch(`${url}/v1/ml2/bind`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return (await response.json()) as { bound: boolean; reason?: string; detail?: string };
}

describe('networking-spp server (process)', () => {
  it('on SIGTERM stops accepting, finishes the bind in flight and exits 0', async () => {
    const host = await startComputeHost({ store, host: 'cli-1', mappings: '00:04.0#phys1#2#0xfe' });
    hosts.push(host);
    host.agent?.pause();
    const service = await startService('bind_timeout = 20');
    const port = newPort();
    const pending = postBind(service.url, bindBody(port, 'cli-1'));
    await waitFor('the plug request', async () =>
      (await store.get(keys.action('cli-1', port.id)))?.value === 'plug' ? true : undefined,
    );
    service.child.kill('SIGTERM');
    await waitFor('the listener to close', async () => {
      try {
        await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(500) });
        return undefined;
      } catch {
        return true;
      }
    });
    host.agent?.resume();
    const answer = await pending;
    assert.equal(answer.bound, true, answer.detail);
    assert.equal(await service.exited, 0, service.output());
    const lines = service
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(lines.some((line) => line.msg === 'bind' && line.port_id === port.id));
    assert.ok(lines.some((line) => line.msg === 'binding service stopped'));
  });

  it('bounds the wait: past shutdown_grace the bind is rolled back and answered', async () => {
    const host = await startComputeHost({ store, host: 'cli-2', mappings: '00:04.0#phys1#2#0xfe' });
    hosts.push(host);
    host.agent?.pause();
    const service = await startService('bind_timeout = 20\nshutdown_grace = 0.3');
    const port = newPort();
    const pending = postBind(service.url, bindBody(port, 'cli-2'));
    await waitFor('the plug request', async () =>
      (await store.get(keys.action('cli-2', port.id)))?.value === 'plug' ? true : undefined,
    );
    service.child.kill('SIGTERM');
    const answer = await pending;
    assert.equal(answer.bound, false);
    assert.equal(answer.reason, 'error');
    assert.match(answer.detail ?? '', /stopping.*slot was freed/);
    assert.equal(await service.exited, 0, service.output());
    assert.equal((await store.get(keys.vhost('cli-2', 'phys1', 0)))?.value, 'None');
    assert.equal(await store.get(keys.bindPort('cli-2', port.id)), undefined);
  });

  it('refuses to start without a token unless --no-auth, with one clear line', async () => {
    const ini = join(dir, 'noauth.ini');
    writeFileSync(ini, `[spp]\netcd_host = 127.0.0.1\n`);
    const failed = await run(process.execPath, [BIN, 'server', '--config-file', ini]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    assert.ok('code' in failed);
    assert.equal(failed.code, 2);
    assert.match(failed.stderr, /^networking-spp: \[spp_server\] auth_token is not set/);
    assert.equal(failed.stderr.trim().split('\n').length, 1);
  });
});

describe('networking-spp hosts / ports', () => {
  it('lists an agent whose host has no layout, saying what is missing', async () => {
    const record = {
      host: 'compute1',
      version: '0.1.0',
      started_at: '2026-12-02T00:00:00Z',
      pid: 1,
      physnets: {},
    };
    await store.put(keys.agent('compute1'), JSON.stringify(record));
    try {
      const listed = await run(process.execPath, [BIN, 'hosts', '--etcd', etcd.endpoint]);
      assert.match(
        listed.stdout,
        /\ncompute1\s+alive\s+networking-spp\s+0\.1\.0\s+\(no layout\)\n/,
      );
      assert.match(
        listed.stdout,
        /problem on compute1: no SPP layout: \/spp\/openstack\/configuration\/compute1 is absent although an agent runs for this host name/,
      );
    } finally {
      await store.deleteAtomically([keys.agent('compute1')], []);
    }
  });

  it('shows hosts and the ports on a host as tables', async () => {
    const host = await startComputeHost({
      store,
      host: 'cli-3',
      mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#1#0x1f00',
    });
    hosts.push(host);
    const service = await startService('');
    const port = newPort();
    assert.equal((await postBind(service.url, bindBody(port, 'cli-3'))).bound, true);
    service.child.kill('SIGTERM');
    await service.exited;

    const listed = await run(process.execPath, [BIN, 'hosts', '--etcd', etcd.endpoint]);
    assert.match(
      listed.stdout,
      /^host\s+agent\s+kind\s+version\s+physnet\s+vhosts\s+used\s+free\s+pending/,
    );
    assert.match(
      listed.stdout,
      /\ncli-3\s+alive\s+networking-spp\s+fake-agent\s+phys1\s+2\s+1\s+1\s+0\s+0\n/,
    );
    assert.match(listed.stdout, /\n\s+phys2\s+1\s+0\s+1\n/);

    const ports = await run(process.execPath, [
      BIN,
      'ports',
      '--host',
      'cli-3',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.match(ports.stdout, /^host cli-3 {2}agent: alive \(fake-agent\) {2}ports: 1\n/);
    assert.match(
      ports.stdout,
      new RegExp(
        `\\ncli-3\\s+${port.id}\\s+0\\s+phys1\\s+/tmp/sock0\\s+${port.mac}\\s+plug\\s+up\\n?`,
      ),
    );
    const json = await run(process.execPath, [
      BIN,
      'ports',
      '--host',
      'cli-3',
      '--json',
      '--etcd',
      etcd.endpoint,
    ]);
    assert.deepEqual(JSON.parse(json.stdout).ports, [
      {
        host: 'cli-3',
        portId: port.id,
        vhostId: 0,
        physnet: 'phys1',
        macAddress: port.mac,
        vlanId: null,
        action: 'plug',
        status: 'up',
      },
    ]);
    const unknown = await run(process.execPath, [
      BIN,
      'ports',
      '--host',
      'nope',
      '--etcd',
      etcd.endpoint,
    ]).catch((error: { code: number; stderr: string }) => error);
    assert.ok('code' in unknown && unknown.code === 2);
    assert.match(unknown.stderr, /host nope has no SPP configuration in etcd/);

    const found = await run(process.execPath, [
      BIN,
      'ports',
      '--port',
      port.id,
      '--etcd',
      etcd.endpoint,
    ]);
    assert.match(found.stdout, new RegExp(`\\ncli-3\\s+${port.id}\\s+0\\s+phys1\\s`));
    assert.equal(found.stdout.trim().split('\n').length, 3, 'header, rule, one row');
    const missing = await run(process.execPath, [
      BIN,
      'ports',
      '--port',
      'no-such-port',
      '--etcd',
      etcd.endpoint,
    ]).catch((error: { code: number; stderr: string }) => error);
    assert.ok('code' in missing && missing.code === 2);
    assert.match(missing.stderr, /--port no-such-port: no SPP host has this port in etcd/);
  });
});
