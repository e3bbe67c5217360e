import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EmulatorServer } from '../../src/emulator/server.js';
import { hostSpecFromLayout } from '../../src/emulator/spec.js';
import type { Dialect } from '../../src/emulator/spec.js';
import type { CustomLayout } from '../../src/layout/generate.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { HostConfig } from '../../src/layout/schema.js';
import { WIRE_MAC, frame } from '../agent/frames.js';
import { AgentCalls } from './agent-rest.js';
import type { StatusView } from './http.js';
import { call, componentNamed, expectJson, keepAlive } from './http.js';

/**
 * Frames through the emulated SPP (SPP-SPEC §6) via POST /_emulator/inject, with SPP wired
 * over REST the way networking-spp's agent wires it (§9.1): default layout (forwarders,
 * classifier, merger), the forwarder-less custom layout (SYSTEM.md §3.3), and the
 * tap-as-a-service mirror wiring (SYSTEM.md §5.3). Expected frames are built with the
 * independent helper of test/agent/frames.ts.
 */

const MAC_A = 'fa:16:3e:00:00:0a';
const MAC_B = 'fa:16:3e:00:00:0b';
const MAC_C = 'fa:16:3e:00:00:0c';
const MAC_D = 'fa:16:3e:00:00:0d';
const UNKNOWN = 'fa:16:3e:99:99:99';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const MULTICAST = '01:00:5e:00:00:01';

interface Out {
  port: string;
  frame: Buffer;
}

const dispatcher = keepAlive();
const running = new Set<EmulatorServer>();
after(async () => {
  for (const emulator of running) await emulator.stop();
  await dispatcher.close();
});

async function startHost(config: HostConfig, mirrorCoreMask?: string, dialect: Dialect = '18.08') {
  const emulator = await EmulatorServer.start(
    hostSpecFromLayout(config, { dialect, ...(mirrorCoreMask ? { mirrorCoreMask } : {}) }),
  );
  running.add(emulator);
  const agent = new AgentCalls(emulator.url, dispatcher);
  const classifier = dialect === '18.08' ? 'classifier_mac' : 'classifier';
  for (const [index, vf] of config.vf.entries()) {
    await agent.buildComponents(index + 1, vf.components, classifier);
  }
  const inject = async (port: string, bytes: Buffer): Promise<Out[]> => {
    const reply = await call(emulator.url, 'POST', '/_emulator/inject', {
      json: { port, frame: bytes.toString('hex') },
      dispatcher,
    });
    const body = expectJson<{ egress: Array<{ port: string; frame: string }> }>(
      reply,
      `inject ${port}`,
    );
    return body.egress.map((out) => ({ port: out.port, frame: Buffer.from(out.frame, 'hex') }));
  };
  const status = async (path: string): Promise<StatusView> =>
    expectJson<StatusView>(await call(emulator.url, 'GET', path, { dispatcher }), path);
  return { emulator, agent, inject, status };
}

function out(port: string, bytes: Buffer): Out {
  return { port, frame: bytes };
}

/** Flood copies in port order (SPP-SPEC §6.4 does not order the copies of one frame). */
function byPort(outs: Out[]): Out[] {
  return [...outs].sort((a, b) => a.port.localeCompare(b.port));
}

describe('default layout (2 NICs, flat and VLAN vhosts)', () => {
  // NIC 0: vhosts 0,1 flat, vhost 2 on VLAN 100. NIC 1: vhost 3 on VLAN 200.
  const { config } = planHostLayout({
    mappings: '00:04.0#phys1#3#0x1ff,00:05.0#phys2#1#0x3e00',
  });
  let host: Awaited<ReturnType<typeof startHost>>;

  before(async () => {
    host = await startHost(config);
    await host.agent.plugFlat(1, MAC_A, 'ring:0');
    await host.agent.plugFlat(1, MAC_B, 'ring:2');
    await host.agent.plugVlan(1, 100, MAC_C, 'ring:4', 'ring:5');
    await host.agent.plugVlan(2, 200, MAC_D, 'ring:6', 'ring:7');
  });

  test('the wiring is the one of SPP-SPEC §4.4', async () => {
    const vf = await host.status('/v1/vfs/1');
    assert.equal(componentNamed(vf, 'forward_0_tx').type, 'merge');
    assert.equal(componentNamed(vf, 'forward_0_rx').type, 'forward');
    assert.deepEqual(vf.classifier_table, [
      { type: 'vlan', value: '100/FA:16:3E:00:00:0C', port: 'ring:4' },
      { type: 'mac', value: 'FA:16:3E:00:00:0A', port: 'ring:0' },
      { type: 'mac', value: 'FA:16:3E:00:00:0B', port: 'ring:2' },
    ]);
  });

  test('wire -> VM, flat: unicast to its vhost, frame unchanged', async () => {
    const sent = frame(MAC_A, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', sent), [out('vhost:0', sent)]);
    const toB = frame(MAC_B, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', toB), [out('vhost:1', toB)]);
  });

  test('wire -> VM, VLAN: tagged unicast reaches its vhost untagged', async () => {
    assert.deepEqual(await host.inject('phy:0', frame(MAC_C, WIRE_MAC, 100)), [
      out('vhost:2', frame(MAC_C, WIRE_MAC)),
    ]);
    assert.deepEqual(await host.inject('phy:1', frame(MAC_D, WIRE_MAC, 200)), [
      out('vhost:3', frame(MAC_D, WIRE_MAC)),
    ]);
  });

  test('VM -> wire: flat unchanged, VLAN tagged with the segment id', async () => {
    assert.deepEqual(await host.inject('vhost:0', frame(WIRE_MAC, MAC_A)), [
      out('phy:0', frame(WIRE_MAC, MAC_A)),
    ]);
    assert.deepEqual(await host.inject('vhost:2', frame(WIRE_MAC, MAC_C)), [
      out('phy:0', frame(WIRE_MAC, MAC_C, 100)),
    ]);
    assert.deepEqual(await host.inject('vhost:3', frame(WIRE_MAC, MAC_D)), [
      out('phy:1', frame(WIRE_MAC, MAC_D, 200)),
    ]);
  });

  test('broadcast and multicast flood to every port of the segment only', async () => {
    for (const dst of [BROADCAST, MULTICAST]) {
      const flat = frame(dst, WIRE_MAC);
      assert.deepEqual(
        byPort(await host.inject('phy:0', flat)),
        [out('vhost:0', flat), out('vhost:1', flat)],
        `${dst} untagged`,
      );
      assert.deepEqual(
        await host.inject('phy:0', frame(dst, WIRE_MAC, 100)),
        [out('vhost:2', frame(dst, WIRE_MAC))],
        `${dst} on VLAN 100`,
      );
    }
    assert.deepEqual(await host.inject('phy:1', frame(BROADCAST, WIRE_MAC, 200)), [
      out('vhost:3', frame(BROADCAST, WIRE_MAC)),
    ]);
  });

  test('VLAN add rewrites an existing tag instead of stacking a second one', async () => {
    assert.deepEqual(await host.inject('vhost:2', frame(WIRE_MAC, MAC_C, 5)), [
      out('phy:0', frame(WIRE_MAC, MAC_C, 100)),
    ]);
    assert.deepEqual(
      await host.inject('vhost:0', frame(WIRE_MAC, MAC_A, 5)),
      [out('phy:0', frame(WIRE_MAC, MAC_A, 5))],
      'a flat port has no op: the VM tag leaves unchanged',
    );
  });

  test('unknown unicast, other segments and other NICs are dropped', async () => {
    assert.deepEqual(await host.inject('phy:0', frame(UNKNOWN, WIRE_MAC)), []);
    assert.deepEqual(await host.inject('phy:0', frame(UNKNOWN, WIRE_MAC, 100)), []);
    assert.deepEqual(await host.inject('phy:0', frame(MAC_C, WIRE_MAC)), [], 'C untagged');
    assert.deepEqual(await host.inject('phy:0', frame(MAC_A, WIRE_MAC, 100)), [], 'A on 100');
    assert.deepEqual(await host.inject('phy:0', frame(MAC_D, WIRE_MAC, 200)), [], 'D on NIC 0');
    assert.deepEqual(await host.inject('phy:1', frame(BROADCAST, WIRE_MAC)), [], 'NIC 1 flat');
  });

  test('unplug (classifier_table del): the VM no longer receives unicast or floods', async () => {
    const del = await call(host.emulator.url, 'PUT', '/v1/vfs/1/classifier_table', {
      json: { action: 'del', type: 'mac', mac_address: MAC_B, port: 'ring:2' },
      dispatcher,
    });
    assert.equal(del.status, 204);
    assert.deepEqual(await host.inject('phy:0', frame(MAC_B, WIRE_MAC)), []);
    const flat = frame(BROADCAST, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', flat), [out('vhost:0', flat)]);
  });
});

describe('classifier defaults and shared MACs (19.11, SPP-SPEC §6.4)', () => {
  // vhost 0: MAC A; vhost 1: the general default (untagged `default`); vhost 2: VLAN 100 MAC C;
  // vhost 3: MAC A as well (the later tx port wins the unicast, both get floods).
  const { config } = planHostLayout({ mappings: '00:04.0#phys1#4#0x7ff' });
  let host: Awaited<ReturnType<typeof startHost>>;

  before(async () => {
    host = await startHost(config, undefined, '19.11');
    await host.agent.plugFlat(1, MAC_A, 'ring:0');
    await host.agent.plugFlat(1, 'default', 'ring:2');
    await host.agent.plugVlan(1, 100, MAC_C, 'ring:4', 'ring:5');
    await host.agent.plugFlat(1, MAC_A, 'ring:6');
  });

  test('the table lists the default, and one entry for the shared MAC', async () => {
    const vf = await host.status('/v1/vfs/1');
    assert.deepEqual(vf.classifier_table, [
      { type: 'vlan', value: '100/FA:16:3E:00:00:0C', port: 'ring:4' },
      { type: 'mac', value: 'default', port: 'ring:2' },
      { type: 'mac', value: 'FA:16:3E:00:00:0A', port: 'ring:6' },
    ]);
  });

  test('unicast: known MAC to the later port; unknown to the general default, tag kept', async () => {
    const toA = frame(MAC_A, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', toA), [out('vhost:3', toA)]);
    const unknown = frame(UNKNOWN, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', unknown), [out('vhost:1', unknown)]);
    // VID 100 has a table but no default; VID 300 has no table: both use the general default.
    for (const vid of [100, 300]) {
      const tagged = frame(UNKNOWN, WIRE_MAC, vid);
      assert.deepEqual(await host.inject('phy:0', tagged), [out('vhost:1', tagged)], `VID ${vid}`);
    }
    assert.deepEqual(await host.inject('phy:0', frame(MAC_C, WIRE_MAC, 100)), [
      out('vhost:2', frame(MAC_C, WIRE_MAC)),
    ]);
  });

  test('floods: every holder of the VID, plus the general default for tagged frames', async () => {
    const flat = frame(BROADCAST, WIRE_MAC);
    assert.deepEqual(byPort(await host.inject('phy:0', flat)), [
      out('vhost:0', flat),
      out('vhost:1', flat),
      out('vhost:3', flat),
    ]);
    const tagged = frame(BROADCAST, WIRE_MAC, 100);
    assert.deepEqual(byPort(await host.inject('phy:0', tagged)), [
      out('vhost:1', tagged),
      out('vhost:2', frame(BROADCAST, WIRE_MAC)),
    ]);
    const other = frame(BROADCAST, WIRE_MAC, 300);
    assert.deepEqual(await host.inject('phy:0', other), [out('vhost:1', other)]);
  });
});

describe('forwarder-less custom layout (SYSTEM.md §3.3)', () => {
  const layout: CustomLayout = {
    vf: [
      {
        components: [
          {
            core: 2,
            type: 'classifier_mac',
            name: 'classifier',
            rx_port: ['phy:0'],
            tx_port: ['vhost:0', 'vhost:1'],
          },
          {
            core: 3,
            type: 'merge',
            name: 'merger',
            rx_port: ['vhost:0', 'vhost:1'],
            tx_port: ['phy:0'],
          },
        ],
      },
    ],
  };
  const { config } = planHostLayout({
    mappings: '00:04.0#phys1#2#0xe',
    custom: { layout, file: 'no-forwarders.yaml' },
  });
  let host: Awaited<ReturnType<typeof startHost>>;

  before(async () => {
    host = await startHost(config);
    // The vhost itself is both the classifier-side and the merger-side port.
    await host.agent.plugFlat(1, MAC_A, 'vhost:0');
    await host.agent.plugVlan(1, 300, MAC_B, 'vhost:1', 'vhost:1');
  });

  test('classifier and merger talk to the vhosts directly', async () => {
    const vf = await host.status('/v1/vfs/1');
    assert.deepEqual(vf.ports, ['phy:0', 'vhost:0', 'vhost:1']);
    assert.deepEqual(vf.classifier_table, [
      { type: 'vlan', value: '300/FA:16:3E:00:00:0B', port: 'vhost:1' },
      { type: 'mac', value: 'FA:16:3E:00:00:0A', port: 'vhost:0' },
    ]);
  });

  test('wire -> VM, flat and VLAN', async () => {
    assert.deepEqual(await host.inject('phy:0', frame(MAC_A, WIRE_MAC)), [
      out('vhost:0', frame(MAC_A, WIRE_MAC)),
    ]);
    assert.deepEqual(await host.inject('phy:0', frame(MAC_B, WIRE_MAC, 300)), [
      out('vhost:1', frame(MAC_B, WIRE_MAC)),
    ]);
    assert.deepEqual(await host.inject('phy:0', frame(BROADCAST, WIRE_MAC, 300)), [
      out('vhost:1', frame(BROADCAST, WIRE_MAC)),
    ]);
    assert.deepEqual(await host.inject('phy:0', frame(UNKNOWN, WIRE_MAC)), []);
  });

  test('VM -> wire, flat and VLAN', async () => {
    assert.deepEqual(await host.inject('vhost:0', frame(WIRE_MAC, MAC_A)), [
      out('phy:0', frame(WIRE_MAC, MAC_A)),
    ]);
    assert.deepEqual(await host.inject('vhost:1', frame(WIRE_MAC, MAC_B)), [
      out('phy:0', frame(WIRE_MAC, MAC_B, 300)),
    ]);
  });
});

describe('mirror (tap-as-a-service wiring, SYSTEM.md §5.3, SPP-SPEC §6.5)', () => {
  // vhost 0 = source VM, vhost 1 = service VM; mirror_0 on spp_mirror 2 with ring:4/ring:5.
  const mirrorMask = '0x300';
  const { config } = planHostLayout({
    mappings: '00:04.0#phys1#2#0xfe',
    mirror: `1#${mirrorMask}`,
  });
  const [ringA, ringB] = config.mirror?.[0]?.ports ?? ['?', '?'];
  const mirrorCore = config.mirror?.[0]?.core ?? -1;

  async function mirrorHost() {
    const host = await startHost(config, mirrorMask);
    await host.agent.plugFlat(1, MAC_A, 'ring:0');
    await host.agent.plugFlat(1, MAC_B, 'ring:2');
    await host.agent.startMirror(2, 'mirror_0', mirrorCore);
    return host;
  }
  const onMirror = (host: Awaited<ReturnType<typeof mirrorHost>>, port: string, dir: 'rx' | 'tx') =>
    host.agent.attach(2, 'mirror_0', port, dir, undefined, 'mirrors');

  test('tap-in: frames to the source VM go to tx[0] (original) and tx[1] (copy)', async () => {
    assert.deepEqual([ringA, ringB], ['ring:4', 'ring:5']);
    const host = await mirrorHost();
    await host.agent.attach(1, 'forward_1_tx', ringA, 'rx');
    await onMirror(host, ringA, 'tx');
    await host.agent.attach(1, 'forward_0_tx', ringB, 'rx');
    await onMirror(host, ringB, 'tx');
    await host.agent.detach(1, 'forward_0_tx', 'ring:0', 'rx');
    await onMirror(host, 'ring:0', 'rx');
    const mirror = componentNamed(await host.status('/v1/mirrors/2'), 'mirror_0');
    assert.deepEqual(
      mirror.tx_port?.map((port) => port.port),
      [ringA, ringB],
    );

    const toSource = frame(MAC_A, WIRE_MAC);
    // tx[0] = ring_a -> service VM's merge -> vhost:1; tx[1] = ring_b -> source -> vhost:0.
    assert.deepEqual(await host.inject('phy:0', toSource), [
      out('vhost:1', toSource),
      out('vhost:0', toSource),
    ]);
    const toService = frame(MAC_B, WIRE_MAC);
    assert.deepEqual(await host.inject('phy:0', toService), [out('vhost:1', toService)]);
    assert.deepEqual(
      await host.inject('vhost:0', frame(WIRE_MAC, MAC_A)),
      [out('phy:0', frame(WIRE_MAC, MAC_A))],
      'tap-in does not copy the other direction',
    );

    // A mirror with one tx is not ready: frames to the source VM pile up (dropped here).
    await host.agent.detach(2, 'mirror_0', ringA, 'tx', 'mirrors');
    assert.deepEqual(await host.inject('phy:0', toSource), []);
    // Re-attached at the end: the old tx[1] is now tx[0].
    await onMirror(host, ringA, 'tx');
    assert.deepEqual(await host.inject('phy:0', toSource), [
      out('vhost:0', toSource),
      out('vhost:1', toSource),
    ]);
  });

  test('tap-out: frames from the source VM go to the service VM and on to the wire', async () => {
    const host = await mirrorHost();
    await host.agent.attach(1, 'forward_1_tx', ringA, 'rx');
    await onMirror(host, ringA, 'tx');
    await host.agent.detach(1, 'forward_0_rx', 'ring:1', 'tx');
    await onMirror(host, 'ring:1', 'tx');
    await onMirror(host, ringB, 'rx');
    await host.agent.attach(1, 'forward_0_rx', ringB, 'tx');

    const fromSource = frame(WIRE_MAC, MAC_A);
    assert.deepEqual(await host.inject('vhost:0', fromSource), [
      out('vhost:1', fromSource),
      out('phy:0', fromSource),
    ]);
    const toSource = frame(MAC_A, WIRE_MAC);
    assert.deepEqual(
      await host.inject('phy:0', toSource),
      [out('vhost:0', toSource)],
      'tap-out does not copy the other direction',
    );
    assert.deepEqual(await host.inject('vhost:1', frame(WIRE_MAC, MAC_B)), [
      out('phy:0', frame(WIRE_MAC, MAC_B)),
    ]);
  });
});
