import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { EmulatorServer } from '../emulator/server.js';
import type { HostSpec } from '../emulator/spec.js';
import { hostSpecFromLayout } from '../emulator/spec.js';
import { stopChild, trackChild } from '../lab/children.js';
import { freePort } from '../lab/ports.js';
import type { CustomLayout } from '../layout/generate.js';
import { planHostLayout } from '../layout/host-layout.js';
import type { ComponentConfig, HostConfig } from '../layout/schema.js';
import { InputError } from '../util/errors.js';
import type { Percentiles } from './stats.js';
import { percentiles } from './stats.js';
import type { BenchSuite } from './suites.js';

/**
 * `networking-spp bench emulator`: how fast the SPP emulator starts for a big host and how
 * fast it answers. The host has 8 NICs × 16 vhosts (128 vhosts, 256 rings). The default
 * layout needs 2 × 16 + 2 = 34 worker cores per NIC, which 8 NICs cannot get from DPDK's
 * 128 lcores, so the bench uses a custom layout (SYSTEM.md §3.3) with every component of the
 * default layout, forwarders sharing cores: NIC k owns cores 16k..16k+15 (master 16k).
 */

const NICS = 8;
const DEFAULT_VHOSTS = 16;
const CORES_PER_NIC = 16;
const START_SAMPLES = 20;
const CLI_SAMPLES = 3;
const GET_SAMPLES = 2000;
const INJECT_SAMPLES = 2000;
const INPROCESS_FRAMES = 20_000;
const WARM_UP = 200;
const CLI_TIMEOUT_MS = 30_000;

function vhostsOption(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return DEFAULT_VHOSTS;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 64) {
    throw new InputError(
      `--vhosts: vhosts per NIC must be an integer 1..64, got "${String(value)}"`,
    );
  }
  return number;
}

/** NIC k: pci 00:(4+k).0, physnet physk, cores 16k..16k+15 (master 16k). */
export function bigHostMappings(nics: number, vhosts: number): string {
  return Array.from({ length: nics }, (_, nic) => {
    const mask = ((1n << BigInt(CORES_PER_NIC)) - 1n) << BigInt(CORES_PER_NIC * nic);
    const pci = `00:${(nic + 4).toString(16).padStart(2, '0')}.0`;
    return `${pci}#phys${nic}#${vhosts}#0x${mask.toString(16)}`;
  }).join(',');
}

/**
 * The default layout's components (forward_v_tx, forward_v_rx, classifier, merger) on 15
 * worker cores: the tx forwarders share workers 1..7, the rx forwarders 8..13 (the agent
 * turns tx forwarders into merges, and 18.08 cannot mix types on a core), the classifier
 * and the merger get one core each.
 */
export function sharedCoreLayout(nics: number, vhosts: number): CustomLayout {
  const vf = Array.from({ length: nics }, (_, nic) => {
    const worker = (index: number) => CORES_PER_NIC * nic + 1 + index;
    const components: ComponentConfig[] = [];
    const classifierTx: string[] = [];
    const mergerRx: string[] = [];
    for (let local = 0; local < vhosts; local++) {
      const v = nic * vhosts + local;
      components.push({
        core: worker(local % 7),
        type: 'forward',
        name: `forward_${v}_tx`,
        rx_port: [`ring:${2 * v}`],
        tx_port: [`vhost:${v}`],
      });
      components.push({
        core: worker(7 + (local % 6)),
        type: 'forward',
        name: `forward_${v}_rx`,
        rx_port: [`vhost:${v}`],
        tx_port: [`ring:${2 * v + 1}`],
      });
      classifierTx.push(`ring:${2 * v}`);
      mergerRx.push(`ring:${2 * v + 1}`);
    }
    components.push({
      core: worker(13),
      type: 'classifier_mac',
      name: 'classifier',
      rx_port: [`phy:${nic}`],
      tx_port: classifierTx,
    });
    components.push({
      core: worker(14),
      type: 'merge',
      name: 'merger',
      rx_port: mergerRx,
      tx_port: [`phy:${nic}`],
    });
    return { components };
  });
  return { vf };
}

function bigHost(vhosts: number): { mappings: string; layout: CustomLayout; config: HostConfig } {
  const mappings = bigHostMappings(NICS, vhosts);
  const layout = sharedCoreLayout(NICS, vhosts);
  const { config } = planHostLayout({ mappings, custom: { layout, file: 'bench layout' } });
  return { mappings, layout, config };
}

/** MAC of vhost v: fa:16:3e:00:vh:vl. */
function vhostMac(v: number): string {
  return `fa:16:3e:00:${((v >> 8) & 0xff).toString(16).padStart(2, '0')}:${(v & 0xff).toString(16).padStart(2, '0')}`;
}

function frameTo(v: number): Buffer {
  const mac = (text: string) => Buffer.from(text.split(':').map((byte) => parseInt(byte, 16)));
  return Buffer.concat([
    mac(vhostMac(v)),
    mac('52:54:00:aa:bb:cc'),
    Buffer.from([0x08, 0x00]),
    Buffer.alloc(46),
  ]);
}

/** A small keep-alive HTTP client for one server. */
class Client {
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
  calls = 0;

  constructor(private readonly base: string) {}

  async send(
    method: string,
    path: string,
    json?: unknown,
  ): Promise<{ status: number; body: string }> {
    this.calls += 1;
    const response = await request(`${this.base}${path}`, {
      method: method as 'GET',
      dispatcher: this.agent,
      ...(json !== undefined
        ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }
        : {}),
    });
    return { status: response.statusCode, body: await response.body.text() };
  }

  async expect(status: number, method: string, path: string, json?: unknown): Promise<string> {
    const reply = await this.send(method, path, json);
    if (reply.status !== status) {
      throw new Error(`${method} ${path}: expected ${status}, got ${reply.status} ${reply.body}`);
    }
    return reply.body;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** The agent's start-up calls (SPP-SPEC §9.1) for every spp_vf, then one plug per vhost. */
async function buildAsAgent(client: Client, config: HostConfig): Promise<void> {
  let first = 0;
  for (const [index, vf] of config.vf.entries()) {
    const id = index + 1;
    await client.expect(200, 'GET', `/v1/vfs/${id}`);
    for (const component of vf.components) {
      const toVhost = component.tx_port.some((port) => port.startsWith('vhost:'));
      const type = component.type === 'forward' && toVhost ? 'merge' : component.type;
      await client.expect(204, 'POST', `/v1/vfs/${id}/components`, {
        name: component.name,
        core: component.core,
        type,
      });
      const path = `/v1/vfs/${id}/components/${component.name}/ports`;
      for (const port of component.tx_port) {
        await client.expect(204, 'PUT', path, { action: 'attach', port, dir: 'tx' });
      }
      for (const port of component.rx_port) {
        await client.expect(204, 'PUT', path, { action: 'attach', port, dir: 'rx' });
      }
    }
    for (let v = first; v < first + vf.num_vhost; v++) await plug(client, id, v);
    first += vf.num_vhost;
  }
}

/** Even vhosts on a flat segment, odd ones on VLAN 100 + v (SPP-SPEC §9.1 plug flows). */
async function plug(client: Client, id: number, v: number): Promise<void> {
  const table = `/v1/vfs/${id}/classifier_table`;
  const mac = vhostMac(v);
  const toVm = `ring:${2 * v}`;
  if (v % 2 === 0) {
    await client.expect(204, 'PUT', table, {
      action: 'add',
      type: 'mac',
      mac_address: mac,
      port: toVm,
    });
    return;
  }
  const vid = 100 + v;
  const merger = `/v1/vfs/${id}/components/merger/ports`;
  const classifier = `/v1/vfs/${id}/components/classifier/ports`;
  const fromVm = `ring:${2 * v + 1}`;
  await client.expect(204, 'PUT', merger, { action: 'detach', port: fromVm, dir: 'rx' });
  await client.expect(204, 'PUT', merger, {
    action: 'attach',
    port: fromVm,
    dir: 'rx',
    vlan: { operation: 'add', id: vid, pcp: 0 },
  });
  await client.expect(204, 'PUT', classifier, { action: 'detach', port: toVm, dir: 'tx' });
  await client.expect(204, 'PUT', classifier, {
    action: 'attach',
    port: toVm,
    dir: 'tx',
    vlan: { operation: 'del' },
  });
  await client.expect(204, 'PUT', table, {
    action: 'add',
    type: 'vlan',
    vlan: vid,
    mac_address: mac,
    port: toVm,
  });
}

async function timeStarts(spec: HostSpec): Promise<Percentiles> {
  const samples: number[] = [];
  for (let run = 0; run < START_SAMPLES; run++) {
    const started = performance.now();
    const emulator = await EmulatorServer.start(spec);
    samples.push(performance.now() - started);
    await emulator.stop();
  }
  return percentiles(samples);
}

const BIN = fileURLToPath(new URL('../../../bin/networking-spp.js', import.meta.url));

/** Spawn of `networking-spp emulator` until its first answered GET /v1/processes. */
async function timeCliStart(mappings: string, layoutFile: string): Promise<number> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = trackChild(
    spawn(
      process.execPath,
      [
        BIN,
        'emulator',
        '--listen',
        `127.0.0.1:${port}`,
        '--mappings',
        mappings,
        '--layout',
        layoutFile,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const poller = new Agent({ connect: { timeout: 1000 } });
  try {
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`networking-spp emulator exited with ${child.exitCode}: ${stderr.trim()}`);
      }
      if (performance.now() - started > CLI_TIMEOUT_MS) {
        throw new Error(`networking-spp emulator did not answer within ${CLI_TIMEOUT_MS} ms`);
      }
      try {
        const response = await request(`${base}/v1/processes`, { dispatcher: poller });
        await response.body.text();
        if (response.statusCode === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await delay(2);
    }
  } finally {
    await poller.close();
    await stopChild(child, 5000);
  }
}

async function timeRequests(
  count: number,
  send: (index: number) => Promise<void>,
): Promise<Percentiles> {
  for (let index = 0; index < WARM_UP; index++) await send(index);
  const samples: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    await send(index);
    samples.push(performance.now() - started);
  }
  return percentiles(samples);
}

export const emulatorBench: BenchSuite = {
  description:
    'SPP emulator: start-up of an 8 NICs × 16 vhosts host (in-process and CLI), GET /v1/vfs/1 and inject latency',
  async run(options) {
    const vhosts = vhostsOption(options.vhosts);
    const planStarted = performance.now();
    const { mappings, layout, config } = bigHost(vhosts);
    const spec = hostSpecFromLayout(config);
    const planMs = performance.now() - planStarted;

    const inProcessStart = await timeStarts(spec);

    const directory = await mkdtemp(join(tmpdir(), 'nspp-bench-emulator-'));
    const cliStarts: number[] = [];
    try {
      const layoutFile = join(directory, 'layout.yaml');
      await writeFile(layoutFile, `${JSON.stringify(layout)}\n`);
      for (let run = 0; run < CLI_SAMPLES; run++) {
        cliStarts.push(await timeCliStart(mappings, layoutFile));
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }

    const emulator = await EmulatorServer.start(spec);
    const client = new Client(emulator.url);
    try {
      const buildStarted = performance.now();
      await buildAsAgent(client, config);
      const buildMs = performance.now() - buildStarted;
      const buildCalls = client.calls;

      const status = await client.expect(200, 'GET', '/v1/vfs/1');
      const components = (
        JSON.parse(status) as { components: Array<{ type: string }> }
      ).components.filter((component) => component.type !== 'unuse').length;
      const get = await timeRequests(GET_SAMPLES, async () => {
        await client.expect(200, 'GET', '/v1/vfs/1');
      });

      // Unicast from the wire to vhost v of NIC 0 (flat for even v, VLAN-tagged for odd v).
      const bodies = Array.from({ length: vhosts }, (_, v) => {
        const frame = frameTo(v);
        const tagged =
          v % 2 === 0
            ? frame
            : Buffer.concat([
                frame.subarray(0, 12),
                Buffer.from([0x81, 0x00, ((100 + v) >> 8) & 0x0f, (100 + v) & 0xff]),
                frame.subarray(12),
              ]);
        return { port: 'phy:0', frame: tagged.toString('hex') };
      });
      const inject = await timeRequests(INJECT_SAMPLES, async (index) => {
        const body = bodies[index % bodies.length] as { port: string; frame: string };
        const reply = await client.expect(200, 'POST', '/_emulator/inject', body);
        if (!reply.includes('"vhost:')) throw new Error(`inject delivered nothing: ${reply}`);
      });

      const frames = bodies.map((body) => Buffer.from(body.frame, 'hex'));
      const inProcessStarted = performance.now();
      for (let index = 0; index < INPROCESS_FRAMES; index++) {
        emulator.inject('phy:0', frames[index % frames.length] as Buffer);
      }
      const perFrameUs = ((performance.now() - inProcessStarted) * 1000) / INPROCESS_FRAMES;

      const command = `node bin/networking-spp.js bench emulator${vhosts === DEFAULT_VHOSTS ? '' : ` --vhosts ${vhosts}`}`;
      const cli = percentiles(cliStarts);
      const result = {
        suite: 'emulator',
        host: {
          nics: NICS,
          vhostsPerNic: vhosts,
          rings: spec.rings,
          portTableSize: spec.portTableSize,
          componentsPerVf: components,
          layout: 'custom: default components, forwarders sharing cores, 16 cores per NIC',
          dialect: spec.dialect,
        },
        planMs: Math.round(planMs * 1000) / 1000,
        startInProcessMs: inProcessStart,
        startCliToFirstGetMs: cli,
        buildAsAgent: { calls: buildCalls, ms: Math.round(buildMs * 10) / 10 },
        getVf1Ms: { ...get, bodyBytes: Buffer.byteLength(status) },
        injectHttpMs: inject,
        injectInProcessUsPerFrame: Math.round(perFrameUs * 100) / 100,
        command,
      };
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const line = (label: string, p: Percentiles) =>
        `  ${label.padEnd(52)} p50 ${p.p50} ms, p99 ${p.p99} ms, max ${p.max} ms (n=${p.n})`;
      process.stdout.write(
        [
          `emulator bench: ${NICS} NICs × ${vhosts} vhosts (${spec.rings} rings, ${components} components per spp_vf), dialect ${spec.dialect}`,
          `  plan layout + host spec                              ${result.planMs} ms`,
          line('start in-process (EmulatorServer.start -> listening)', inProcessStart),
          line('start CLI child (spawn -> first answered GET)', cli),
          `  build as the agent (${buildCalls} REST calls, ${NICS * vhosts} plugs)`.padEnd(55) +
            `${result.buildAsAgent.ms} ms`,
          line(`GET /v1/vfs/1 (${result.getVf1Ms.bodyBytes} bytes, keep-alive)`, get),
          line('POST /_emulator/inject (phy:0 -> vhost, keep-alive)', inject),
          `  inject in-process (SppHost data plane)               ${result.injectInProcessUsPerFrame} µs/frame`,
          `reproduce: ${command}`,
          '',
        ].join('\n'),
      );
    } finally {
      await client.close();
      await emulator.stop();
    }
  },
};
