import type { Command } from 'commander';
import { InputError } from '../util/errors.js';

interface AgentFlags {
  configFile?: string[];
  logLevel?: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      'run the compute-node agent (neutron-spp-agent): build SPP, plug/unplug ports as etcd asks',
    )
    .option(
      '--config-file <file>',
      'oslo-style INI file, e.g. neutron.conf and ml2_conf.ini (repeatable, later files win)',
      collect,
    )
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .action(async (flags: AgentFlags) => {
      const level = flags.logLevel ?? 'info';
      if (!LOG_LEVELS.includes(level)) {
        throw new InputError(`--log-level: must be one of ${LOG_LEVELS.join(', ')}`);
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
      const ini = IniOptions.load(flags.configFile ?? []);
      const options = agentOptionsFromIni(ini);
      const sidecars = await agentSidecars(ini);
      const logger = pino({ level, base: { service: 'neutron-spp-agent' } });
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
    });
}
