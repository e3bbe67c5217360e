/**
 * The release bundle deploys without a checkout: `scripts/release.sh` builds it, it is
 * unpacked and its npm package installed into a temporary prefix without dev dependencies
 * (offline: the runtime dependencies are bundled), and the installed binaries run against
 * a lab etcd and an SPP emulator: `host build`, the agent (watching etcd, plugging), the
 * service (/healthz, a bind through its API).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EmulatorServer } from '../../src/emulator/server.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { stopChild, trackChild } from '../../src/lab/children.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import { waitFor } from '../harness/wait.js';
import { bindBody, newPort } from '../server/harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const NAME = `networking-spp-${VERSION}`;
const MAPPINGS = '00:04.0#phys1#2#0xfe';
const HOST = 'bundle-1';
// A token oslo.config reads whole (a value is everything after "="): so must the service.
const TOKEN = 'Zq#7;x';
// The installed binaries find node as systemd would, through PATH (their #! line).
const ENV = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: tmpdir() };

interface Running {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
}

function start(binary: string, args: string[]): Running {
  const child = trackChild(
    spawn(binary, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const lines = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, lines };
}

describe('release bundle, installed without dev dependencies', () => {
  let dir: string;
  let prefix: string;
  let bundle: string;
  let etcd: EtcdServer;
  let store: EtcdStore;
  let emulator: EmulatorServer;
  const running: Running[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nspp-release-'));
    await run('bash', [join(ROOT, 'scripts/release.sh'), '--skip-build', join(dir, 'out')], {
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    await run('tar', ['-xzf', join(dir, 'out', `${NAME}.tar.gz`), '-C', dir], { timeout: 60_000 });
    bundle = join(dir, NAME);
    prefix = join(dir, 'prefix');
    await run(
      'npm',
      [
        'install',
        '--global',
        '--omit=dev',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        join(bundle, `${NAME}.tgz`),
      ],
      { timeout: 180_000, env: { ...process.env, npm_config_cache: join(dir, 'npm-cache') } },
    );
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    emulator = await EmulatorServer.start(
      hostSpecFromLayout(planHostLayout({ mappings: MAPPINGS }).config),
    );
  });

  after(async () => {
    for (const each of running) await stopChild(each.child, 5000);
    await emulator?.stop();
    store?.close();
    await etcd?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the package, the wheel, the units, the samples, and matching checksums', async () => {
    const files = readdirSync(bundle, { recursive: true }).map(String).sort();
    for (const file of [
      `${NAME}.tgz`,
      `networking_spp_ml2-${VERSION}-py3-none-any.whl`,
      'systemd/neutron-spp-agent.service',
      'systemd/networking-spp-server.service',
      'etc/neutron-spp-agent.ini.sample',
      'etc/networking-spp-server.ini.sample',
      'etc/ml2_conf_spp.ini.sample',
      'INSTALL.md',
      'SHA256SUMS',
    ]) {
      assert.ok(files.includes(file), `${file} in ${files.join(', ')}`);
    }
    await run('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: bundle, timeout: 30_000 });
  });

  it('installed runtime dependencies only, and what a deployment needs', () => {
    const installed = join(prefix, 'lib/node_modules/networking-spp');
    for (const devTool of ['typescript', 'eslint', 'prettier', 'fast-check']) {
      assert.equal(existsSync(join(installed, 'node_modules', devTool)), false, devTool);
    }
    for (const needed of [
      'dist/src/cli/main.js',
      'python/networking_spp_ml2/driver.py',
      'python/pyproject.toml',
      'deploy/systemd/neutron-spp-agent.service',
      'etc/neutron-spp-agent.ini.sample',
      'docs/install.md',
      'node_modules/fastify/package.json',
    ]) {
      assert.ok(existsSync(join(installed, needed)), needed);
    }
  });

  it('the wheel installs offline and exposes the spp driver and its options', async () => {
    const target = join(dir, 'wheel');
    const wheel = join(bundle, `networking_spp_ml2-${VERSION}-py3-none-any.whl`);
    await run(
      '/usr/bin/python3',
      ['-m', 'pip', 'install', '--quiet', '--no-deps', '--no-index', '--target', target, wheel],
      { timeout: 120_000 },
    );
    const { stdout } = await run(
      '/usr/bin/python3',
      [
        '-c',
        "import importlib.metadata as m; print(sorted((e.group, e.name) for e in m.distribution('networking-spp-ml2').entry_points))",
      ],
      { env: { PYTHONPATH: target }, timeout: 60_000 },
    );
    assert.equal(
      stdout.trim(),
      "[('neutron.ml2.mechanism_drivers', 'spp'), ('oslo.config.opts', 'networking_spp_ml2')]",
    );
  });

  it('the installed agent and service plug and bind a port against etcd and the emulator', async () => {
    const bin = (name: string) => join(prefix, 'bin', name);
    await run(
      bin('networking-spp'),
      ['host', 'build', '--host', HOST, '--mappings', MAPPINGS, '--etcd', etcd.endpoint],
      { env: ENV, timeout: 60_000 },
    );
    const emulatorUrl = new URL(emulator.url);
    const listenPort = await freePort();
    const conf = join(dir, 'neutron.conf');
    writeFileSync(
      conf,
      [
        '[DEFAULT]',
        `host = ${HOST}`,
        '[agent]',
        'report_interval = 0',
        '[spp]',
        `etcd_endpoints = ${etcd.endpoint}`,
        `api_ip_addr = ${emulatorUrl.hostname}`,
        `api_port = ${emulatorUrl.port}`,
        'agent_metrics_port =',
        '[spp_server]',
        `listen_port = ${listenPort}`,
        `auth_token = ${TOKEN}`,
        '',
      ].join('\n'),
    );
    const agent = start(bin('neutron-spp-agent'), ['--config-file', conf]);
    const server = start(bin('networking-spp'), ['server', '--config-file', conf]);
    running.push(agent, server);
    await waitFor(
      'the agent to watch etcd',
      () => agent.lines().some((l) => l.msg === 'watching etcd'),
      30_000,
    );
    const url = `http://127.0.0.1:${listenPort}`;
    await waitFor(
      'the service to answer /healthz',
      async () => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok,
      30_000,
    );
    const port = newPort();
    const response = await fetch(`${url}/v1/ml2/bind`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(bindBody(port, HOST)),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await response.json()) as {
      bound: boolean;
      detail?: string;
      vif_details?: { vhostuser_socket: string };
    };
    assert.equal(answer.bound, true, answer.detail);
    assert.match(answer.vif_details?.vhostuser_socket ?? '', /^\/tmp\/sock[01]$/);
    assert.equal((await store.get(keys.portStatus(HOST, port.id)))?.value, 'up');
    for (const each of [agent, server]) {
      assert.deepEqual(await stopChild(each.child, 10_000), { code: 0, signal: null });
    }
  });
});
