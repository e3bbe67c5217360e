import type { Command } from 'commander';
import { DEFAULT_UNPLUG_WAIT_MS, destroyHost } from '../hosts/destroy.js';
import { ETCD_DEFAULT_MAX_TXN_OPS, MIN_TXN_OPS, buildHost } from '../hosts/admin.js';
import { keys } from '../etcd/keys.js';
import { describeHost, describeHosts } from '../hosts/summary.js';
import type { HostSummary } from '../hosts/summary.js';
import { loadCustomLayout } from '../layout/custom.js';
import { planHostLayout } from '../layout/host-layout.js';
import { InputError } from '../util/errors.js';
import type { EtcdFlags } from './etcd-flags.js';
import { withEtcdFlags, withStore } from './etcd-flags.js';
import { renderTable } from './table.js';

interface BuildFlags extends EtcdFlags {
  host: string;
  mappings: string;
  mirror?: string;
  layout?: string;
  force?: boolean;
  dryRun?: boolean;
  maxTxnOps: number;
}

function parseMaxTxnOps(text: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < MIN_TXN_OPS) {
    throw new InputError(`--max-txn-ops: "${text}" must be an integer of at least ${MIN_TXN_OPS}`);
  }
  return value;
}

function parseSeconds(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 3600) {
    throw new InputError(`--unplug-wait: "${text}" must be a number of seconds from 0 to 3600`);
  }
  return value;
}

const ETCD_HELP = `
etcd: --etcd HOST:PORT[,HOST:PORT...], else [spp] of the --config-file files:
etcd_endpoints (a list), or else etcd_host + etcd_port (the original's options),
etcd_timeout (request deadline, s), TLS with etcd_ca_cert [+ etcd_cert + etcd_key], and
etcd_username + etcd_password; else 127.0.0.1:2379.`;

const BUILD_HELP = `
Writing: the configuration key plus every vhost slot and mirror slot (None) go to etcd in
ONE transaction when they fit in etcd's --max-txn-ops (default 128 operations). A bigger
host is written in several transactions so that no reader ever sees it half-written:
agents and the binding service use a host only while its configuration key exists, so
the first transaction takes a build lock (a leased key ${keys.buildLock('<host>')}),
deletes the configuration key first and clears the old slots, the next ones write the
slots, and the last writes the configuration key and releases the lock. A second build
of the same host meanwhile is refused; if a step fails, what was written is removed and
the previous layout is restored. A host with ports plugged is refused unless --force.

Mappings are refused, naming the entry and field, for: a field count other than 4, a
malformed PCI address, a physical network with space, "/", "#" or ",", a vhost count
that is not a decimal of at least 1, a core mask that is not hexadecimal, is zero or
reaches core 128, a mask with fewer than 2n+2 worker cores for n vhosts without --layout
(the lowest core is the DPDK master), a PCI address or physical network given twice, and
worker cores shared by two NICs or by a NIC and the mirrors.`;

const out = (text: string) => process.stdout.write(`${text}\n`);

async function runBuild(flags: BuildFlags): Promise<void> {
  const custom = flags.layout
    ? { layout: await loadCustomLayout(flags.layout), file: flags.layout }
    : undefined;
  const { config, value, warnings } = planHostLayout({
    mappings: flags.mappings,
    ...(flags.mirror ? { mirror: flags.mirror } : {}),
    ...(custom ? { custom } : {}),
  });
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (flags.dryRun) {
    out(value);
    return;
  }
  const result = await withStore(flags, (store) =>
    buildHost(store, flags.host, config, {
      configValue: value,
      force: flags.force ?? false,
      maxTxnOps: flags.maxTxnOps,
    }),
  );
  const how =
    result.transactions === 1
      ? 'in one transaction'
      : `in ${result.transactions} transactions (more than --max-txn-ops ${flags.maxTxnOps} operations: build lock held, slots first, configuration key last)`;
  out(
    `host ${flags.host}: wrote ${result.written.length} key(s) ${how}, at revision ${result.revision}`,
  );
  for (const key of result.written) out(`  + ${key}`);
  for (const key of result.removed) out(`  - ${key}`);
}

async function runDestroy(
  flags: EtcdFlags & { host: string; force?: boolean; unplugWait: number },
): Promise<void> {
  const result = await withStore(flags, (store) =>
    destroyHost(store, flags.host, {
      force: flags.force ?? false,
      unplugWaitMs: flags.unplugWait * 1000,
    }),
  );
  if (result.unplugged.length > 0)
    out(
      `host ${flags.host}: the agent took ${result.unplugged.length} port(s) out of SPP: ${result.unplugged.join(', ')}`,
    );
  if (result.leftInSpp.length > 0) {
    const why = result.agentAlive
      ? `the agent did not unplug them within ${flags.unplugWait} s`
      : 'no agent is alive on the host';
    process.stderr.write(
      `warning: host ${flags.host}: ${why}; SPP may still forward to these ports until spp_vf restarts: ${result.leftInSpp.join(', ')}\n`,
    );
  }
  const removed = result.removed;
  if (removed.length === 0) {
    out(`host ${flags.host}: nothing to remove`);
    return;
  }
  out(`host ${flags.host}: removed ${removed.length} key(s)`);
  for (const kv of removed)
    out(`  - ${kv.key} = ${kv.value.length > 60 ? kv.value.slice(0, 57) + '...' : kv.value}`);
}

/** The mirrors and components tables, for a host that has them. */
function optionalTables(summary: HostSummary): string[] {
  const tables: string[] = [];
  if (summary.mirrors.length > 0) {
    tables.push(
      renderTable(
        ['mirror', 'core', 'rings', 'tap flow'],
        summary.mirrors.map((mirror) => [
          String(mirror.mirrorId),
          String(mirror.core ?? ''),
          mirror.ports.join(' '),
          mirror.flowId ?? '-',
        ]),
      ),
    );
  }
  if (summary.components.length > 0) {
    tables.push(
      renderTable(
        ['nic', 'component', 'type', 'core', 'rx', 'tx'],
        summary.components.map((component) => [
          `phy:${component.nic}`,
          component.name,
          component.type,
          String(component.core),
          component.rx.join(' '),
          component.tx.join(' '),
        ]),
      ),
    );
  }
  return tables;
}

function renderHost(summary: HostSummary): string {
  const lines = [
    `host ${summary.host}  agent: ${summary.agent.state}${summary.agent.version ? ` (${summary.agent.version})` : ''}`,
  ];
  lines.push(
    renderTable(
      ['nic', 'pci', 'physnet', 'core mask', 'vhosts', 'used', 'free'],
      summary.nics.map((nic) => [
        `phy:${nic.nic}`,
        nic.pciAddress,
        nic.physnet,
        nic.coreMask,
        String(nic.vhosts),
        String(nic.used),
        String(nic.free),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    renderTable(
      ['vhost', 'physnet', 'socket', 'port', 'mac', 'vlan', 'action', 'status'],
      summary.slots.map((slot) => [
        String(slot.vhostId),
        slot.physnet,
        `/tmp/sock${slot.vhostId}`,
        slot.portId ?? '-',
        slot.macAddress ?? '',
        slot.vlanId === undefined ? '' : String(slot.vlanId),
        slot.action ?? '',
        slot.portId ? (slot.up ? 'up' : 'pending') : 'free',
      ]),
    ),
  );
  for (const table of optionalTables(summary)) lines.push('', table);
  for (const problem of summary.problems) lines.push(`problem: ${problem}`);
  return lines.join('\n');
}

async function runShow(flags: EtcdFlags & { host: string; json?: boolean }): Promise<void> {
  const summary = await withStore(flags, (store) => describeHost(store, flags.host));
  if (!summary) throw new InputError(`host ${flags.host} has no SPP configuration in etcd`);
  out(flags.json ? JSON.stringify(summary, null, 2) : renderHost(summary));
}

async function runList(flags: EtcdFlags & { json?: boolean }): Promise<void> {
  const summaries = await withStore(flags, (store) => describeHosts(store));
  if (flags.json) {
    out(JSON.stringify(summaries, null, 2));
    return;
  }
  out(
    renderTable(
      ['host', 'physnet', 'vhosts', 'used', 'free', 'agent'],
      summaries.flatMap((summary) =>
        summary.nics.map((nic) => [
          summary.host,
          nic.physnet,
          String(nic.vhosts),
          String(nic.used),
          String(nic.free),
          summary.agent.state,
        ]),
      ),
    ),
  );
}

export function registerHostCommands(program: Command): void {
  const host = program
    .command('host')
    .description('write, inspect and remove host SPP layouts in etcd')
    .addHelpText('after', ETCD_HELP);
  withEtcdFlags(
    host
      .command('build')
      .description('generate a host layout from NIC mappings and write it with its slots to etcd')
      .requiredOption('--host <host>', 'compute host name (as Neutron knows it)')
      .requiredOption('--mappings <mappings>', 'NIC mappings: pci#physnet#vhosts#coremask[,...]')
      .option('--mirror <spec>', 'mirrors for tap-as-a-service: count#coremask')
      .option('--layout <file>', 'custom component layout (YAML) instead of the generated one')
      .option('--force', 'overwrite a host that has ports plugged (their port keys are removed)')
      .option('--dry-run', 'print the configuration JSON instead of writing it')
      .option(
        '--max-txn-ops <n>',
        "etcd's --max-txn-ops: most operations per transaction",
        parseMaxTxnOps,
        ETCD_DEFAULT_MAX_TXN_OPS,
      )
      .addHelpText('after', BUILD_HELP + '\n' + ETCD_HELP),
  ).action(runBuild);
  withEtcdFlags(
    host
      .command('destroy')
      .description(
        "remove all of a host's keys (configuration first, every key family by prefix) in one transaction",
      )
      .requiredOption('--host <host>', 'compute host name')
      .option(
        '--force',
        'destroy a host with ports plugged: its agent first takes them out of SPP (then the keys go)',
      )
      .option(
        '--unplug-wait <seconds>',
        'with --force, how long to wait for the agent to unplug the ports',
        parseSeconds,
        DEFAULT_UNPLUG_WAIT_MS / 1000,
      ),
  ).action(runDestroy);
  withEtcdFlags(
    host
      .command('show')
      .description("show a host's layout and slot usage")
      .requiredOption('--host <host>', 'compute host name')
      .option('--json', 'print JSON'),
  ).action(runShow);
  withEtcdFlags(
    host
      .command('list')
      .description('list hosts with used/free slots per physical network')
      .option('--json', 'print JSON'),
  ).action(runList);
}
