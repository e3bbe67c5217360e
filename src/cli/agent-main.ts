import { parseArgs } from 'node:util';
import { InputError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { AGENT_COMMAND, runAgentCommand } from './agent-run.js';
import { EXIT_HELP, runWithExitCodes } from './exit.js';
import { LOG_LEVELS } from './shared-options.js';

const USAGE = `Usage: neutron-spp-agent [options]

${AGENT_COMMAND.description}

Options:
  --config-file <file>  ${AGENT_COMMAND.configFileHelp}
  --log-level <level>   log level (${LOG_LEVELS.join(', ')}) (default: "info")
  -V, --version         output the version number
  -h, --help            display help for command
${EXIT_HELP}
`;

/**
 * Entry of bin/neutron-spp-agent: the same command as `networking-spp agent`, parsed with
 * node:util instead of the CLI framework, which is a measurable share of the agent's start-up.
 */
export async function agentMain(args: string[]): Promise<void> {
  await runWithExitCodes('neutron-spp-agent', async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: {
          'config-file': { type: 'string', multiple: true },
          'log-level': { type: 'string', default: 'info' },
          help: { type: 'boolean', short: 'h' },
          version: { type: 'boolean', short: 'V' },
        },
        strict: true,
        allowPositionals: false,
      });
    } catch (error) {
      throw new InputError(`${(error as Error).message} (see --help)`);
    }
    const { values } = parsed;
    if (values.help) {
      process.stdout.write(USAGE);
      return;
    }
    if (values.version) {
      process.stdout.write(`${VERSION}\n`);
      return;
    }
    await runAgentCommand({
      configFiles: values['config-file'] ?? [],
      logLevel: values['log-level'],
    });
  });
}
