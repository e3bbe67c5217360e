import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { keys } from '../etcd/keys.js';
import { readHost } from '../snapshot/read.js';
import type { LogLine } from '../lab/agent-process.js';
import type { LabHost } from '../lab/stack.js';
import { LabStack, stopOnSignals, twoNicMappings } from '../lab/stack.js';
import { errorMessage } from '../util/errors.js';
import { describeFrame, ethernetFrame, tagText } from './frames.js';

export interface DemoOptions {
  keepRunning: boolean;
  /** Where the report goes (one call per line). */
  print: (line: string) => void;
  /** Where the failure line goes (default: print). */
  printError?: (line: string) => void;
}

/** Two NICs per host: phys1 for flat networks, phys2 for VLAN networks, 2 vhosts each. */
const MAPPINGS = twoNicMappings(4);
const HOSTS = ['compute-1', 'compute-2'];
/** The "external switch" MAC frames come from and go to on the wire. */
const WIRE_MAC = '52:54:00:00:00:fe';

interface DemoPort {
  id: string;
  mac: string;
  host: string;
  physnet: string;
  /** NIC (phy:k) serving the physnet. */
  nic: number;
  vlanId?: number;
}

const PORTS: DemoPort[] = [
  { id: 'demo-port-1', mac: 'fa:16:3e:00:01:01', host: 'compute-1', physnet: 'phys1', nic: 0 },
  {
    id: 'demo-port-2',
    mac: 'fa:16:3e:00:01:02',
    host: 'compute-1',
    physnet: 'phys2',
    nic: 1,
    vlanId: 100,
  },
  { id: 'demo-port-3', mac: 'fa:16:3e:00:02:01', host: 'compute-2', physnet: 'phys1', nic: 0 },
  {
    id: 'demo-port-4',
    mac: 'fa:16:3e:00:02:02',
    host: 'compute-2',
    physnet: 'phys2',
    nic: 1,
    vlanId: 200,
  },
  {
    id: 'demo-port-5',
    mac: 'fa:16:3e:00:02:03',
    host: 'compute-2',
    physnet: 'phys2',
    nic: 1,
    vlanId: 201,
  },
];

const boundSchema = z.object({
  bound: z.literal(true),
  segment_id: z.string(),
  vif_type: z.string(),
  vif_details: z.object({ vhostuser_socket: z.string() }),
  vhost_id: z.number().int(),
});
const refusedSchema = z.object({ bound: z.literal(false), reason: z.string(), detail: z.string() });
const unbindSchema = z.object({ result: z.string() });
const injectSchema = z.object({
  egress: z.array(z.object({ port: z.string(), frame: z.string() })),
});

class DemoFailure extends Error {}

/** Runs the demo; resolves with the exit code (0 = every check passed). */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { print } = options;
  const began = performance.now();
  const stamp = () => `[${((performance.now() - began) / 1000).toFixed(2).padStart(6)}s]`;
  const progress = (what: string, ms: number) =>
    print(`${stamp()} ${what} (${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms)`);

  print('networking-spp demo: a private etcd, 2 compute hosts (SPP emulator + real agent each),');
  print('the binding service, and ports bound through its HTTP API as the Neutron driver does.');
  print(`host layout (both hosts): ${MAPPINGS}  (phys1 = flat, phys2 = VLAN)`);
  print('');

  const stack = new LabStack({
    hosts: HOSTS.map((name) => ({ name, mappings: MAPPINGS })),
    bindTimeoutS: 10,
    onStep: progress,
    startConcurrency: 2,
  });
  let interrupted = false;
  let finished = false;
  const release = stopOnSignals(stack, {
    onSignal: (signal) => {
      interrupted = true;
      print(`${stamp()} ${signal}: stopping everything the demo started`);
    },
    // Ctrl-C is how a --keep-running demo that succeeded is meant to end.
    exitCode: (signal) => (finished ? 0 : signal === 'SIGINT' ? 130 : 143),
  });
  try {
    await stack.start();
    const binds = await bindAll(stack, print, stamp);
    const frames = await proveDataPath(stack, binds, print, stamp);
    await unbindAll(stack, binds, print, stamp);
    report(print, binds, frames, performance.now() - began);
    finished = true;
    if (options.keepRunning) {
      keepRunningBanner(stack, print);
      await new Promise<never>(() => undefined);
    }
    return 0;
  } catch (error) {
    if (stack.stopped && interrupted) return 130;
    print('');
    (options.printError ?? print)(`demo FAILED: ${errorMessage(error)}`);
    return 1;
  } finally {
    if (!options.keepRunning || !interrupted) {
      const stopping = performance.now();
      await stack.stop().catch((error: unknown) => print(`cleanup: ${errorMessage(error)}`));
      if (!interrupted) progress('everything stopped', performance.now() - stopping);
    }
    release();
  }
}

interface BindRecord {
  port: DemoPort;
  vhostId: number;
  socket: string;
  ms: number;
  etcdRequests: number | undefined;
}

async function bindAll(
  stack: LabStack,
  print: (line: string) => void,
  stamp: () => string,
): Promise<BindRecord[]> {
  const client = stack.client!;
  const serverBinds = new Map<string, LogLine>();
  const off = stack.server!.onLine((line) => {
    if (line.msg === 'bind' && typeof line.port_id === 'string')
      serverBinds.set(line.port_id, line);
  });
  const records: BindRecord[] = [];
  try {
    for (const port of PORTS) {
      // As ML2 offers them: an overlay segment first (not ours), then the provider segment.
      const segments = [
        { id: 'seg-vxlan', network_type: 'vxlan', physical_network: null, segmentation_id: 1001 },
        {
          id: `seg-${port.physnet}-${port.vlanId ?? 'flat'}`,
          network_type: port.vlanId === undefined ? 'flat' : 'vlan',
          physical_network: port.physnet,
          segmentation_id: port.vlanId ?? null,
        },
      ];
      const started = performance.now();
      const answer = await client.post('/v1/ml2/bind', {
        port: { id: port.id, mac_address: port.mac },
        host: port.host,
        segments,
      });
      const ms = performance.now() - started;
      const bound = boundSchema.safeParse(answer.body);
      if (answer.status !== 200 || !bound.success) {
        const refused = refusedSchema.safeParse(answer.body);
        throw new DemoFailure(
          `bind of ${port.id} on ${port.host}: ${refused.success ? `${refused.data.reason}: ${refused.data.detail}` : `HTTP ${answer.status} ${JSON.stringify(answer.body)}`}`,
        );
      }
      const record: BindRecord = {
        port,
        vhostId: bound.data.vhost_id,
        socket: bound.data.vif_details.vhostuser_socket,
        ms,
        etcdRequests: undefined,
      };
      records.push(record);
      print(
        `${stamp()} bound ${port.id} on ${port.host} (${segmentText(port)}): vhost ${record.vhostId}, ${record.socket} (${ms.toFixed(1)} ms)`,
      );
    }
    // The service logs each bind after answering it: give the last line a moment to arrive.
    for (let i = 0; i < 50 && serverBinds.size < PORTS.length; i++) await delay(10);
    for (const record of records) {
      const requests = serverBinds.get(record.port.id)?.etcd_requests;
      if (typeof requests === 'number') record.etcdRequests = requests;
    }
    await checkEtcd(stack, records);
    return records;
  } finally {
    off();
  }
}

/** etcd holds what the answers said: each port on its slot, its bind_port, status `up`. */
async function checkEtcd(stack: LabStack, records: BindRecord[]): Promise<void> {
  const store = stack.store!;
  for (const { port, vhostId } of records) {
    const slot = await store.get(keys.vhost(port.host, port.physnet, vhostId));
    const status = await store.get(keys.portStatus(port.host, port.id));
    if (slot?.value !== port.id || status?.value !== 'up') {
      throw new DemoFailure(
        `etcd disagrees with the bind answer of ${port.id}: slot ${port.physnet}/${vhostId} = ${slot?.value ?? 'absent'}, port_status = ${status?.value ?? 'absent'}`,
      );
    }
  }
}

interface FrameCheck {
  host: string;
  direction: string;
  from: string;
  sent: string;
  expected: string;
  got: string;
  ok: boolean;
}

async function inject(host: LabHost, port: string, frame: Buffer) {
  const response = await fetch(`${host.emulator.url}/_emulator/inject`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ port, frame: frame.toString('hex') }),
  });
  const parsed = injectSchema.safeParse(await response.json());
  if (!response.ok || !parsed.success) {
    throw new DemoFailure(`inject on ${host.name} ${port}: HTTP ${response.status}`);
  }
  return parsed.data.egress.map((out) => ({
    port: out.port,
    frame: Buffer.from(out.frame, 'hex'),
  }));
}

function egressText(egress: Array<{ port: string; frame: Buffer }>): string {
  if (egress.length === 0) return 'dropped';
  return egress
    .map((out) => {
      const seen = describeFrame(out.frame);
      return `${out.port} ${tagText(seen.vlanId)}`;
    })
    .join(', ');
}

async function proveDataPath(
  stack: LabStack,
  binds: BindRecord[],
  print: (line: string) => void,
  stamp: () => string,
): Promise<FrameCheck[]> {
  const checks: FrameCheck[] = [];
  const check = async (
    host: LabHost,
    direction: string,
    at: string,
    frame: Buffer,
    expected: Array<{ port: string; frame: Buffer }>,
  ) => {
    const egress = await inject(host, at, frame);
    const ok =
      egress.length === expected.length &&
      egress.every(
        (out, index) =>
          out.port === expected[index]?.port && out.frame.equals(expected[index]?.frame),
      );
    const sent = describeFrame(frame);
    checks.push({
      host: host.name,
      direction,
      from: at,
      sent: `${sent.src} > ${sent.dst} ${tagText(sent.vlanId)}`,
      expected: egressText(expected),
      got: egressText(egress),
      ok,
    });
  };
  const started = performance.now();
  for (const { port, vhostId } of binds) {
    const host = stack.host(port.host);
    const vhost = `vhost:${vhostId}`;
    const phy = `phy:${port.nic}`;
    // Wire to VM: tagged with the network's VLAN on the wire, untagged in the VM.
    await check(host, 'wire > VM', phy, ethernetFrame(port.mac, WIRE_MAC, port.vlanId), [
      { port: vhost, frame: ethernetFrame(port.mac, WIRE_MAC) },
    ]);
    // VM to wire: the VM sends untagged, the wire sees the VLAN tag added.
    await check(host, 'VM > wire', vhost, ethernetFrame(WIRE_MAC, port.mac), [
      { port: phy, frame: ethernetFrame(WIRE_MAC, port.mac, port.vlanId) },
    ]);
    if (port.vlanId !== undefined) {
      // The same MAC on another VLAN belongs to another network: it must not reach the VM.
      await check(
        host,
        'wire > VM',
        phy,
        ethernetFrame(port.mac, WIRE_MAC, port.vlanId + 1000),
        [],
      );
    }
  }
  const ms = performance.now() - started;
  const failed = checks.filter((c) => !c.ok).length;
  print(
    `${stamp()} data path: ${checks.length} frames injected, ${checks.length - failed} came out where expected (${Math.round(ms)} ms)`,
  );
  if (failed > 0) {
    for (const c of checks.filter((each) => !each.ok)) {
      print(`    ${c.host} ${c.direction} at ${c.from}: expected ${c.expected}, got ${c.got}`);
    }
    throw new DemoFailure(`${failed} frame(s) did not come out where expected`);
  }
  return checks;
}

async function unbindAll(
  stack: LabStack,
  binds: BindRecord[],
  print: (line: string) => void,
  stamp: () => string,
): Promise<void> {
  const client = stack.client!;
  const store = stack.store!;
  for (const { port, vhostId } of binds) {
    const started = performance.now();
    const answer = await client.post('/v1/ml2/unbind', { port_id: port.id, host: port.host });
    const parsed = unbindSchema.safeParse(answer.body);
    if (answer.status !== 200 || parsed.data?.result !== 'unplug_requested') {
      throw new DemoFailure(
        `unbind of ${port.id} on ${port.host}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    }
    const slotKey = keys.vhost(port.host, port.physnet, vhostId);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { host } = await readHost(store, port.host);
      if (host.slots.get(slotKey)?.holder.free && !host.ports.has(port.id)) break;
      if (Date.now() > deadline) {
        throw new DemoFailure(`the agent of ${port.host} did not free vhost ${vhostId} in 10 s`);
      }
      await delay(5);
    }
    print(
      `${stamp()} unbound ${port.id} on ${port.host}: vhost ${vhostId} free again (${(performance.now() - started).toFixed(1)} ms)`,
    );
  }
  // Nothing reaches a VM any more.
  for (const { port } of binds) {
    const egress = await inject(
      stack.host(port.host),
      `phy:${port.nic}`,
      ethernetFrame(port.mac, WIRE_MAC, port.vlanId),
    );
    if (egress.length > 0) {
      throw new DemoFailure(`after unbind a frame to ${port.mac} still reached ${egress[0]?.port}`);
    }
  }
  print(`${stamp()} after unbind, frames to the ${binds.length} MACs are dropped`);
}

function segmentText(port: DemoPort): string {
  return port.vlanId === undefined
    ? `flat ${port.physnet}`
    : `vlan ${port.vlanId} on ${port.physnet}`;
}

function report(
  print: (line: string) => void,
  binds: BindRecord[],
  checks: FrameCheck[],
  totalMs: number,
): void {
  const line = (cells: string[], widths: number[]) =>
    print(
      `  ${cells
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}`,
    );
  print('');
  print('Bindings (POST /v1/ml2/bind)');
  const bindWidths = [12, 10, 20, 6, 12, 9, 5];
  line(['port', 'host', 'segment', 'vhost', 'socket', 'bind ms', 'etcd'], bindWidths);
  for (const b of binds) {
    line(
      [
        b.port.id,
        b.port.host,
        segmentText(b.port),
        String(b.vhostId),
        b.socket,
        b.ms.toFixed(1),
        b.etcdRequests === undefined ? '?' : String(b.etcdRequests),
      ],
      bindWidths,
    );
  }
  print('');
  print('Data path (POST /_emulator/inject on the host\u2019s SPP emulator)');
  const frameWidths = [10, 10, 8, 49, 16];
  line(['host', 'direction', 'in at', 'frame (src > dst)', 'came out at'], frameWidths);
  for (const c of checks) {
    line([c.host, c.direction, c.from, c.sent, `${c.got}${c.ok ? '' : ' (WRONG)'}`], frameWidths);
  }
  print('');
  const ok = checks.filter((c) => c.ok).length;
  print(
    `Result: OK: ${binds.length} ports bound on ${new Set(binds.map((b) => b.port.host)).size} hosts (flat and VLAN), ${ok}/${checks.length} frames delivered as expected, all ports unbound and slots freed (${(totalMs / 1000).toFixed(1)} s)`,
  );
}

function keepRunningBanner(stack: LabStack, print: (line: string) => void): void {
  const pids = stack.pids();
  print('');
  print('Everything is still running (--keep-running). Press Ctrl-C to stop it all.');
  print(`  binding service  ${stack.server?.url}  (token: ${stack.token})`);
  print(`  etcd             ${stack.etcd?.endpoint}`);
  for (const host of stack.hosts) {
    print(`  ${host.name.padEnd(16)} spp-ctl emulator ${host.emulator.url}`);
  }
  print(
    `  pids             etcd ${pids.etcd ?? '-'}, server ${pids.server ?? '-'}, agents ${Object.values(pids.agents).join(' ')}`,
  );
  print('Try:');
  print(`  curl -s ${stack.server?.url}/v1/hosts/compute-1`);
  print(
    `  curl -s -H 'Authorization: Bearer ${stack.token}' -H 'content-type: application/json' -d '{"port":{"id":"p1","mac_address":"fa:16:3e:00:00:99"},"host":"compute-1","segments":[{"id":"s1","network_type":"flat","physical_network":"phys1"}]}' ${stack.server?.url}/v1/ml2/bind`,
  );
  print(`  curl -s ${stack.hosts[0]?.emulator.url}/v1/vfs/1`);
}
