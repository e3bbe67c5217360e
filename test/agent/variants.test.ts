import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { AGENT_NODE_FLAGS } from '../../src/lab/agent-process.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import { freePort } from '../../src/lab/ports.js';
import { parseCustomLayout } from '../../src/layout/custom.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { runCli } from '../cli/run-cli.js';
import { waitFor } from '../harness/wait.js';
import { WIRE_MAC, egressOf, frame } from './frames.js';
import type { ComputeHostFixture } from './host-fixture.js';
import { computeHost } from './host-fixture.js';
import type { PortRequest } from './requests.js';
import { requestPlug, requestUnplug, waitForUnplugged, waitForUp } from './requests.js';

/** vhosts attached straight to the classifier and the merger (SYSTEM.md §3.3). */
const FORWARDER_LESS = `
vf:
  - components:
      - {core: 2, type: classifier_mac, name: classifier, rx_port: [phy:0], tx_port: [vhost:0, vhost:1]}
      - {core: 3, type: merge, name: merger, rx_port: [vhost:0, vhost:1], tx_port: [phy:0]}
`;

describe('agent on other layouts, dialects and configurations', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let dir: string;
  const nodes: ComputeHostFixture[] = [];

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    dir = await mkdtemp(join(tmpdir(), 'spp-agent-test-'));
  });

  after(async () => {
    for (const node of nodes) await node.stop();
    store?.close();
    await etcd?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('forwarder-less layout: VLAN plug programs the classifier and merger ports directly', async () => {
    const { config } = planHostLayout({
      mappings: '00:04.0#phys1#2#0xe',
      custom: { layout: parseCustomLayout(FORWARDER_LESS, 'direct.yaml'), file: 'direct.yaml' },
    });
    const node = await computeHost({ store, etcd: etcd.endpoint, host: 'direct', config });
    nodes.push(node);
    await node.startAgent();
    const port: PortRequest = {
      portId: 'd-1',
      physnet: 'phys1',
      vhostId: 1,
      mac: 'fa:16:3e:00:0d:01',
      vlanId: 77,
    };
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId);
    const status = await node.status(1);
    assert.deepEqual(status.classifier_table, [
      { type: 'vlan', value: '77/FA:16:3E:00:0D:01', port: 'vhost:1' },
    ]);
    const merger = status.components.find((component) => component.name === 'merger');
    assert.deepEqual(merger?.rx_port?.find((p) => p.port === 'vhost:1')?.vlan, {
      operation: 'add',
      id: 77,
      pcp: 0,
    });
    assert.deepEqual(egressOf(node.emulator.inject('phy:0', frame(port.mac, WIRE_MAC, 77))), [
      ['vhost:1', frame(port.mac, WIRE_MAC).toString('hex')],
    ]);
    assert.deepEqual(egressOf(node.emulator.inject('vhost:1', frame(WIRE_MAC, port.mac))), [
      ['phy:0', frame(WIRE_MAC, port.mac, 77).toString('hex')],
    ]);
    await requestUnplug(store, node.host, port.portId);
    await waitForUnplugged(store, node.host, port);
    assert.deepEqual((await node.status(1)).classifier_table, []);
  });

  test('SPP 19.11 is detected: components are built as `classifier` and ports plug', async () => {
    const node = await computeHost({
      store,
      etcd: etcd.endpoint,
      host: 'dialect-1911',
      dialect: '19.11',
    });
    nodes.push(node);
    const agent = await node.startAgent();
    const port: PortRequest = {
      portId: 'n-1',
      physnet: 'phys1',
      vhostId: 0,
      mac: 'fa:16:3e:00:19:11',
    };
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId);
    const detected = agent.logs.find((line) => line.msg === 'SPP dialect detected');
    assert.equal(detected?.dialect, '19.11');
    const status = await node.status(1);
    assert.equal(status.components.find((c) => c.name === 'classifier')?.type, 'classifier');
    assert.deepEqual(
      node.emulator.inject('phy:0', frame(port.mac, WIRE_MAC)).map((e) => e.port),
      ['vhost:0'],
    );
  });

  test('a host with a mirror spec gets its spp_mirror components', async () => {
    const node = await computeHost({
      store,
      etcd: etcd.endpoint,
      host: 'mirrored',
      mirror: '1#0x30000',
    });
    nodes.push(node);
    await node.startAgent();
    const status = await waitFor('mirror components built', async () => {
      const mirror = await node.status(3, 'mirrors');
      return mirror.components.some((c) => c.type === 'mirror') ? mirror : undefined;
    });
    const expected = (node.config.mirror ?? []).map((mirror, id) => ({
      name: `mirror_${id}`,
      core: mirror.core,
      type: 'mirror',
    }));
    assert.equal(expected.length, 1);
    assert.deepEqual(
      status.components.map((c) => ({ name: c.name, core: c.core, type: c.type })),
      expected,
    );
  });

  test('metrics are served on the configured loopback port', async () => {
    const node = await computeHost({ store, etcd: etcd.endpoint, host: 'metrics' });
    nodes.push(node);
    const port = await freePort();
    await node.startAgent({ spp: { agent_metrics_port: String(port) } });
    const plug: PortRequest = {
      portId: 'm-1',
      physnet: 'phys2',
      vhostId: 3,
      mac: 'fa:16:3e:00:0e:03',
      vlanId: 101,
    };
    await requestPlug(store, node.host, plug);
    await waitForUp(store, node.host, plug.portId);
    const text = await waitFor('plug counted in /metrics', async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /spp_agent_port_actions_total\{[^}]*action="plug"[^}]*\} 1/.test(body)
        ? body
        : undefined;
    });
    assert.match(text, /spp_agent_plugged_ports\{[^}]*host="metrics"[^}]*\} 1/);
    assert.match(text, /spp_agent_port_action_duration_seconds_bucket/);
  });

  test('an invalid option stops the agent with one line naming file, section, option, value', async () => {
    const file = join(dir, 'bad.ini');
    await writeFile(file, `[DEFAULT]\nhost = bad\n[spp]\nreconcile_interval = soon\n`);
    const result = await runCli(['agent', '--config-file', file]);
    assert.equal(result.code, 2);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', /bad\.ini/);
    assert.match(lines[0] ?? '', /\[spp\] reconcile_interval/);
    assert.match(lines[0] ?? '', /soon/);
  });

  test('bin/neutron-spp-agent runs by itself with the V8 flags the lab uses', async () => {
    const bin = new URL('../../../bin/neutron-spp-agent.js', import.meta.url);
    const shebang = (await readFile(bin, 'utf8')).split('\n')[0] ?? '';
    assert.equal(shebang, `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`);
    const help = await new Promise<string>((resolve, reject) =>
      execFile(bin.pathname, ['--help'], { timeout: 20_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    assert.match(help, /--config-file <file>/);
  });

  test('a missing configuration file is one clear line too', async () => {
    const result = await runCli(['agent', '--config-file', join(dir, 'absent.ini')]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /absent\.ini/);
  });

  test('etcd unreachable at start: the agent keeps retrying and starts once etcd is back', async () => {
    const node = await computeHost({ store, etcd: etcd.endpoint, host: 'late-etcd' });
    nodes.push(node);
    await etcd.stop();
    const started = node.startAgent({ spp: { retry_max_interval: '0.3' } });
    try {
      // The agent is up but cannot read etcd; it must neither exit nor crash-loop.
      await waitFor('agent waiting for etcd', () =>
        node.agent?.logs.some((line) => line.msg === 'cannot read from etcd; retrying'),
      );
    } finally {
      await etcd.start();
    }
    const agent = await started;
    const port: PortRequest = {
      portId: 'le-1',
      physnet: 'phys1',
      vhostId: 0,
      mac: 'fa:16:3e:00:0f:00',
    };
    await requestPlug(store, node.host, port);
    await waitForUp(store, node.host, port.portId);
    assert.equal(agent.child.exitCode, null);
    assert.ok((await store.get(keys.agent(node.host))) !== undefined, 'liveness key written');
  });
});
