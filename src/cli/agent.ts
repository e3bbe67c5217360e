import type { Command } from 'commander';
import { AGENT_COMMAND, runAgentCommand } from './agent-run.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(AGENT_COMMAND.description)
    .option('--config-file <file>', AGENT_COMMAND.configFileHelp, collect)
    .option('--log-level <level>', `log level (${AGENT_COMMAND.logLevels.join(', ')})`, 'info')
    .action(async (flags: { configFile?: string[]; logLevel: string }) =>
      runAgentCommand({ configFiles: flags.configFile ?? [], logLevel: flags.logLevel }),
    );
}
