import type { Command } from 'commander';
import { pino } from 'pino';
import { EmulatorServer } from '../emulator/server.js';
import type { Dialect } from '../emulator/spec.js';
import { hostSpecFromLayout, isDialect } from '../emulator/spec.js';
import { keys } from '../etcd/keys.js';
import { decodeHostConfig } from '../etcd/values.js';
import { loadCustomLayout } from '../layout/custom.js';
import { planHostLayout } from '../layout/host-layout.js';
import { parseMirrorSpec } from '../layout/mappings.js';
import type { HostConfig } from '../layout/schema.js';
import { InputError, errorMessage } from '../util/errors.js';
import type { EtcdFlags } from './etcd-flags.js';
import { withEtcdFlags, withStore } from './etcd-flags.js';

interface EmulatorFlags extends EtcdFlags {
  listen: string;
  mappings?: string;
  mirror?: string;
  layout?: string;
  dialect: string;
  host?: string;
}

const LISTEN = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):([0-9]{1,5})$/;

/** `HOST:PORT` or `[IPv6]:PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const match = LISTEN.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new InputError(
      `--listen "${text}" must be HOST:PORT with a port 0..65535 (e.g. 127.0.0.1:7777 or [::1]:7777)`,
    );
  }
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

async function configFromFlags(
  flags: EmulatorFlags,
): Promise<{ config: HostConfig; warnings: string[]; mirrorCoreMask?: string }> {
  const mirrorCoreMask = flags.mirror ? parseMirrorSpec(flags.mirror).coreMask : undefined;
  const withMask = mirrorCoreMask ? { mirrorCoreMask } : {};
  if (flags.mappings !== undefined) {
    const custom = flags.layout
      ? { layout: await loadCustomLayout(flags.layout), file: flags.layout }
      : undefined;
    const { config, warnings } = planHostLayout({
      mappings: flags.mappings,
      ...(flags.mirror ? { mirror: flags.mirror } : {}),
      ...(custom ? { custom } : {}),
    });
    return { config, warnings, ...withMask };
  }
  const host = flags.host as string;
  const key = keys.configuration(host);
  const config = await withStore(flags, async (store) => {
    const kv = await store.get(key);
    if (!kv) {
      throw new InputError(
        `host ${host} has no SPP configuration in etcd (${key}); write one with "networking-spp host build"`,
      );
    }
    return decodeHostConfig(kv.value, key);
  });
  if (flags.mirror && !(config.mirror && config.mirror.length > 0)) {
    throw new InputError(`--mirror given, but ${key} defines no mirrors`);
  }
  return { config, warnings: [], ...withMask };
}

async function runEmulator(flags: EmulatorFlags): Promise<void> {
  if (!isDialect(flags.dialect)) {
    throw new InputError(`--dialect "${flags.dialect}" must be 18.08 or 19.11`);
  }
  const dialect: Dialect = flags.dialect;
  const listen = parseListen(flags.listen);
  if (flags.mappings !== undefined && flags.host !== undefined) {
    throw new InputError(
      'give either --mappings (layout from the command line) or --host (layout from etcd), not both',
    );
  }
  if (flags.mappings === undefined && flags.host === undefined) {
    throw new InputError(
      'one of --mappings (pci#physnet#vhosts#coremask[,...]) or --host (read the layout from etcd) is required',
    );
  }
  if (flags.layout && flags.mappings === undefined) {
    throw new InputError('--layout needs --mappings (with --host the layout comes from etcd)');
  }
  const { config, warnings, mirrorCoreMask } = await configFromFlags(flags);
  const spec = hostSpecFromLayout(config, {
    dialect,
    ...(mirrorCoreMask ? { mirrorCoreMask } : {}),
  });
  const logger = pino({ name: 'spp-emulator' });
  // The port-table warning of the planner is repeated by the server in emulator terms.
  for (const warning of warnings.filter((text) => !text.includes('RTE_MAX_ETHPORTS'))) {
    logger.warn(warning);
  }
  let server: EmulatorServer;
  try {
    server = await EmulatorServer.start(spec, { host: listen.host, port: listen.port, logger });
  } catch (error) {
    throw new InputError(`--listen ${flags.listen}: cannot listen: ${errorMessage(error)}`);
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (received: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(received);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  logger.info({ signal }, 'stopping SPP emulator');
  await server.stop();
}

export function registerEmulatorCommand(program: Command): void {
  withEtcdFlags(
    program
      .command('emulator')
      .description(
        "run one host's emulated SPP (spp-ctl REST API over spp_primary, spp_vf and spp_mirror, with a data plane) until SIGINT/SIGTERM",
      )
      .option('--listen <host:port>', 'address of the spp-ctl REST API', '127.0.0.1:7777')
      .option('--mappings <mappings>', 'NIC mappings: pci#physnet#vhosts#coremask[,...]')
      .option('--mirror <spec>', 'spp_mirror for tap-as-a-service: count#coremask')
      .option('--layout <file>', 'custom component layout (YAML), with --mappings')
      .option('--dialect <version>', 'SPP version to imitate: 18.08 or 19.11', '18.08')
      .option('--host <host>', "read the host's layout from etcd (configuration/<host>)"),
  ).action(runEmulator);
}
