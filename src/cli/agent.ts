import type { Command } from 'commander';
import { AGENT_COMMAND, runAgentCommand } from './agent-run.js';
import { LOG_LEVELS, collect } from './shared-options.js';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(AGENT_COMMAND.description)
    .option('--config-file <file>', AGENT_COMMAND.configFileHelp, collect)
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .action(async (flags: { configFile?: string[]; logLevel: string }) =>
      runAgentCommand({ configFiles: flags.configFile ?? [], logLevel: flags.logLevel }),
    );
}
