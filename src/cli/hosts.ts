import type { Command } from 'commander';
import { readHost } from '../snapshot/read.js';
import { valueOf } from '../snapshot/model.js';
import { describeHosts, summarizeHost } from '../hosts/summary.js';
import { InputError } from '../util/errors.js';
import type { EtcdFlags } from './etcd-flags.js';
import { withEtcdFlags, withStore } from './etcd-flags.js';
import { renderTable } from './table.js';

const out = (text: string) => process.stdout.write(`${text}\n`);

/** One row per port known on the host: slot holders first, then ports with keys but no slot. */
export interface PortRow {
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

export function registerHostsCommands(program: Command): void {
  withEtcdFlags(
    program
      .command('hosts')
      .description('list SPP hosts: agent liveness and version, slots per physical network')
      .option('--json', 'print JSON (the same summaries as GET /v1/hosts)'),
  ).action(async (flags: EtcdFlags & { json?: boolean }) => {
    const summaries = await withStore(flags, (store) => describeHosts(store));
    if (flags.json) {
      out(JSON.stringify({ hosts: summaries }, null, 2));
      return;
    }
    if (summaries.length === 0) {
      out('no SPP hosts in etcd');
      return;
    }
    out(
      renderTable(
        [
          'host',
          'agent',
          'version',
          'physnet',
          'vhosts',
          'used',
          'free',
          'pending',
          'mirrors',
          'taps',
        ],
        summaries.flatMap((summary) =>
          summary.nics.map((nic, index) => [
            index === 0 ? summary.host : '',
            index === 0 ? summary.agent.state : '',
            index === 0 ? (summary.agent.version ?? '') : '',
            nic.physnet,
            String(nic.vhosts),
            String(nic.used),
            String(nic.free),
            index === 0 ? String(summary.pending.length) : '',
            index === 0 && summary.mirrorUse.mirrors > 0
              ? `${summary.mirrorUse.used}/${summary.mirrorUse.mirrors} used`
              : '',
            index === 0 ? String(summary.taps.length) : '',
          ]),
        ),
      ),
    );
    for (const summary of summaries) {
      for (const problem of summary.problems) out(`problem on ${summary.host}: ${problem}`);
    }
  });

  withEtcdFlags(
    program
      .command('ports')
      .description("list the ports plugged (or being plugged) on a host's vhosts")
      .requiredOption('--host <host>', 'compute host name')
      .option('--json', 'print JSON'),
  ).action(async (flags: EtcdFlags & { host: string; json?: boolean }) => {
    const read = await withStore(flags, (store) => readHost(store, flags.host));
    const state = read.host;
    if (!state.configuration)
      throw new InputError(`host ${flags.host} has no SPP configuration in etcd`);
    const summary = summarizeHost(state, read.revision);
    const rows: PortRow[] = summary.slots
      .filter((slot) => slot.portId !== null)
      .map((slot) => ({
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
        portId: port.portId,
        vhostId: bindPort?.vhost_id ?? null,
        physnet: '',
        macAddress: bindPort?.mac_address ?? '',
        vlanId: bindPort?.vlan_id ?? null,
        action: port.action?.raw ?? '',
        status: 'orphan',
      });
    }
    if (flags.json) {
      out(
        JSON.stringify(
          {
            host: flags.host,
            agent: summary.agent,
            ports: rows,
            mirrors: summary.mirrorUse,
            taps: summary.taps,
          },
          null,
          2,
        ),
      );
      return;
    }
    out(
      `host ${flags.host}  agent: ${summary.agent.state}${summary.agent.version ? ` (${summary.agent.version})` : ''}  ports: ${rows.length}`,
    );
    if (rows.length === 0) return;
    out(
      renderTable(
        ['port', 'vhost', 'physnet', 'socket', 'mac', 'vlan', 'action', 'status'],
        rows.map((row) => [
          row.portId,
          row.vhostId === null ? '-' : String(row.vhostId),
          row.physnet,
          row.vhostId === null ? '' : `/tmp/sock${row.vhostId}`,
          row.macAddress,
          row.vlanId === null ? '' : String(row.vlanId),
          row.action,
          row.status,
        ]),
      ),
    );
    printTaps(summary);
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
