import type { Command } from 'commander';
import type { HostSummary } from '../hosts/summary.js';
import { describeHosts, summarizeHost } from '../hosts/summary.js';
import { vifDetails } from '../server/bind/types.js';
import type { HostState } from '../snapshot/model.js';
import { valueOf } from '../snapshot/model.js';
import { readAllHosts, readHost } from '../snapshot/read.js';
import { InputError } from '../util/errors.js';
import type { EtcdFlags } from './etcd-flags.js';
import { withEtcdFlags, withStore } from './etcd-flags.js';
import { renderTable } from './table.js';

const out = (text: string) => process.stdout.write(`${text}\n`);

/** One row per port known on the host: slot holders first, then ports with keys but no slot. */
export interface PortRow {
  host: string;
  portId: string;
  vhostId: number | null;
  physnet: string;
  macAddress: string;
  vlanId: number | null;
  action: string;
  status: 'up' | 'pending' | 'unplugging' | 'no-request' | 'orphan';
}

function portStatus(action: string | undefined, up: boolean, hasSlot: boolean): PortRow['status'] {
  if (!hasSlot) return 'orphan';
  if (action === 'unplug') return 'unplugging';
  if (up && action === 'plug') return 'up';
  if (action === 'plug') return 'pending';
  return 'no-request';
}

/** The agent column: alive or down, and why binds are refused while SPP is unreachable. */
function agentCell(agent: HostSummary['agent']): string {
  if (agent.state === 'down') return 'down';
  return agent.spp === 'unreachable' ? 'alive, SPP unreachable' : 'alive';
}

function hostRows(summary: HostSummary): string[][] {
  const first = [
    summary.host,
    agentCell(summary.agent),
    summary.agent.kind,
    summary.agent.version ?? '',
  ];
  const blank = first.map(() => '');
  if (summary.nics.length === 0) return [[...first, '(no layout)', '', '', '', '', '', '']];
  const mirrors =
    summary.mirrorUse.mirrors > 0
      ? `${summary.mirrorUse.used}/${summary.mirrorUse.mirrors} used`
      : '';
  return summary.nics.map((nic, index) => [
    ...(index === 0 ? first : blank),
    nic.physnet,
    String(nic.vhosts),
    String(nic.used),
    String(nic.free),
    index === 0 ? String(summary.pending.length) : '',
    index === 0 ? mirrors : '',
    index === 0 ? String(summary.taps.length) : '',
  ]);
}

function printHosts(summaries: HostSummary[]): void {
  if (summaries.length === 0) {
    out('no SPP hosts in etcd');
    return;
  }
  const headers = [
    'host',
    'agent',
    'kind',
    'version',
    'physnet',
    'vhosts',
    'used',
    'free',
    'pending',
    'mirrors',
    'taps',
  ];
  out(renderTable(headers, summaries.flatMap(hostRows)));
  for (const summary of summaries) {
    if (summary.agent.sppProblem) out(`SPP on ${summary.host}: ${summary.agent.sppProblem}`);
    for (const problem of summary.problems) out(`problem on ${summary.host}: ${problem}`);
  }
}

/** Every port of a host: slot holders first, then ports with keys but no slot (orphans). */
export function portRows(state: HostState, summary: HostSummary): PortRow[] {
  const rows: PortRow[] = summary.slots
    .filter((slot) => slot.portId !== null)
    .map((slot) => ({
      host: state.host,
      portId: slot.portId as string,
      vhostId: slot.vhostId,
      physnet: slot.physnet,
      macAddress: slot.macAddress ?? '',
      vlanId: slot.vlanId ?? null,
      action: slot.action ?? '',
      status: portStatus(slot.action, slot.up, true),
    }));
  const slotted = new Set(rows.map((row) => row.portId));
  for (const port of state.ports.values()) {
    if (slotted.has(port.portId)) continue;
    const bindPort = valueOf(port.bindPort);
    rows.push({
      host: state.host,
      portId: port.portId,
      vhostId: bindPort?.vhost_id ?? null,
      physnet: '',
      macAddress: bindPort?.mac_address ?? '',
      vlanId: bindPort?.vlan_id ?? null,
      action: port.action?.raw ?? '',
      status: 'orphan',
    });
  }
  return rows;
}

function printPorts(rows: PortRow[], socketDir: string): void {
  out(
    renderTable(
      ['host', 'port', 'vhost', 'physnet', 'socket', 'mac', 'vlan', 'action', 'status'],
      rows.map((row) => [
        row.host,
        row.portId,
        row.vhostId === null ? '-' : String(row.vhostId),
        row.physnet,
        row.vhostId === null ? '' : vifDetails(row.vhostId, socketDir).vhostuser_socket,
        row.macAddress,
        row.vlanId === null ? '' : String(row.vlanId),
        row.action,
        row.status,
      ]),
    ),
  );
}

interface PortsFlags extends EtcdFlags {
  host?: string;
  port?: string;
  socketDir: string;
  json?: boolean;
}

/** `ports --host H`: one host's ports, with its agent. */
async function hostPorts(flags: PortsFlags & { host: string }): Promise<void> {
  const read = await withStore(flags, (store) => readHost(store, flags.host));
  const state = read.host;
  if (!state.configuration)
    throw new InputError(`host ${flags.host} has no SPP configuration in etcd`);
  const summary = summarizeHost(state, read.revision);
  const rows = portRows(state, summary).filter((row) => !flags.port || row.portId === flags.port);
  if (flags.json) {
    const taps = { mirrors: summary.mirrorUse, taps: summary.taps };
    out(JSON.stringify({ host: flags.host, agent: summary.agent, ports: rows, ...taps }, null, 2));
    return;
  }
  const version = summary.agent.version ? ` (${summary.agent.version})` : '';
  out(`host ${flags.host}  agent: ${agentCell(summary.agent)}${version}  ports: ${rows.length}`);
  if (rows.length > 0) printPorts(rows, flags.socketDir);
  if (!flags.port) printTaps(summary);
}

/** `ports --port P` without a host: where the port is, on every host (a port being moved may be on two). */
async function findPort(flags: PortsFlags & { port: string }): Promise<void> {
  const read = await withStore(flags, (store) => readAllHosts(store));
  const rows = [...read.hosts.values()]
    .filter((state) => state.configuration !== undefined)
    .sort((a, b) => a.host.localeCompare(b.host))
    .flatMap((state) => portRows(state, summarizeHost(state, read.revision)))
    .filter((row) => row.portId === flags.port);
  if (flags.json) {
    out(JSON.stringify({ port: flags.port, ports: rows }, null, 2));
    return;
  }
  if (rows.length === 0)
    throw new InputError(`--port ${flags.port}: no SPP host has this port in etcd`);
  printPorts(rows, flags.socketDir);
}

export function registerHostsCommands(program: Command): void {
  withEtcdFlags(
    program
      .command('hosts')
      .description(
        'list SPP hosts: agent liveness, kind and version, SPP reachability, slots per physical network',
      )
      .option('--json', 'print JSON (the same summaries as GET /v1/hosts)'),
  ).action(async (flags: EtcdFlags & { json?: boolean }) => {
    const summaries = await withStore(flags, (store) => describeHosts(store));
    if (flags.json) out(JSON.stringify({ hosts: summaries }, null, 2));
    else printHosts(summaries);
  });

  withEtcdFlags(
    program
      .command('ports')
      .description(
        "list the ports plugged (or being plugged) on a host's vhosts, or find one port by id",
      )
      .option('--host <host>', 'compute host name')
      .option('--port <id>', 'only this Neutron port (on every host when --host is not given)')
      .option(
        '--socket-dir <dir>',
        "directory of the vhost-user sockets, as the service's [spp_server] vhost_socket_dir",
        '/tmp',
      )
      .option('--json', 'print JSON'),
  ).action(async (flags: PortsFlags) => {
    const { host, port } = flags;
    if (host !== undefined) await hostPorts({ ...flags, host });
    else if (port !== undefined) await findPort({ ...flags, port });
    else throw new InputError('ports: give --host <host>, --port <id>, or both');
  });
}

/** The host's tap flows (tap-as-a-service), after its ports. */
function printTaps(summary: ReturnType<typeof summarizeHost>): void {
  if (summary.mirrorUse.mirrors === 0 && summary.taps.length === 0) return;
  out(
    `mirrors: ${summary.mirrorUse.used} of ${summary.mirrorUse.mirrors} used  tap flows: ${summary.taps.length}`,
  );
  if (summary.taps.length === 0) return;
  const mirror = (id: number | null) => (id === null ? '-' : String(id));
  out(
    renderTable(
      ['tap flow', 'source port', 'service port', 'mirror in', 'mirror out', 'state'],
      summary.taps.map((tap) => [
        tap.flowId,
        tap.sourcePort ?? '',
        tap.servicePort ?? '',
        mirror(tap.mirrorIn),
        mirror(tap.mirrorOut),
        tap.state,
      ]),
    ),
  );
}
