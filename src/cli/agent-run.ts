import { checkLogLevel } from './shared-options.js';
import { runUntilSignalled } from './signals.js';

/** The agent command's interface, shared by `networking-spp agent` and `neutron-spp-agent`. */
export const AGENT_COMMAND = {
  description:
    'run the compute-node agent (neutron-spp-agent): build SPP, plug/unplug ports as etcd asks',
  configFileHelp:
    'oslo-style INI file, e.g. neutron.conf and ml2_conf.ini (repeatable, later files win)',
} as const;

export interface AgentFlags {
  configFiles: string[];
  logLevel?: string;
}

/** Runs the agent until SIGTERM/SIGINT; a second signal exits at once with code 1. */
export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  const level = checkLogLevel(flags.logLevel);
  // Loaded here, not at the top: other subcommands should not pay for the agent's imports.
  const [{ IniOptions }, { agentOptionsFromIni }, { runAgent }, { agentSidecars }, { pino }] =
    await Promise.all([
      import('../config/ini.js'),
      import('../agent/options.js'),
      import('../agent/agent.js'),
      import('../agent/sidecars.js'),
      import('pino'),
    ]);
  const ini = IniOptions.load(flags.configFiles);
  const options = agentOptionsFromIni(ini);
  const sidecars = await agentSidecars(ini);
  const logger = pino({ level, base: { service: 'neutron-spp-agent' } });
  await runUntilSignalled(
    logger,
    'signal received, finishing the current action and stopping',
    (signal) => runAgent(options, signal, { logger, sidecars }),
  );
}
