import { InputError } from '../util/errors.js';

/** The agent command's interface, shared by `networking-spp agent` and `neutron-spp-agent`. */
export const AGENT_COMMAND = {
  description:
    'run the compute-node agent (neutron-spp-agent): build SPP, plug/unplug ports as etcd asks',
  configFileHelp:
    'oslo-style INI file, e.g. neutron.conf and ml2_conf.ini (repeatable, later files win)',
  logLevels: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
} as const;

export interface AgentFlags {
  configFiles: string[];
  logLevel: string;
}

/** Runs the agent until SIGTERM/SIGINT; a second signal exits at once with code 1. */
export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  const levels: readonly string[] = AGENT_COMMAND.logLevels;
  if (!levels.includes(flags.logLevel)) {
    throw new InputError(`--log-level: must be one of ${levels.join(', ')}`);
  }
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
  const logger = pino({ level: flags.logLevel, base: { service: 'neutron-spp-agent' } });
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'second signal, exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received, finishing the current action and stopping');
    controller.abort();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await runAgent(options, controller.signal, { logger, sidecars });
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
