import { Command, CommanderError } from 'commander';
import { InputError, errorMessage } from '../util/errors.js';
import { registerAgentCommand } from './agent.js';
import { registerBenchCommand } from './bench.js';
import { registerEmulatorCommand } from './emulator.js';
import { registerHostCommands } from './host.js';
import { registerHostsCommands } from './hosts.js';
import { registerServerCommand } from './server.js';
import { VERSION } from '../version.js';

/** Every subcommand module exports one `register...(program)` function and is listed here. */
const registrations: Array<(program: Command) => void> = [
  registerHostCommands,
  registerAgentCommand,
  registerBenchCommand,
  registerEmulatorCommand,
  registerServerCommand,
  registerHostsCommands,
];

export function buildProgram(): Command {
  const program = new Command('networking-spp')
    .description(
      'OpenStack networking for Soft Patch Panel: host layouts, SPP emulator, agent, binding service',
    )
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const register of registrations) register(program);
  return program;
}

/** Runs the CLI; bad input ends with one clear line on stderr and exit code 2, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof InputError) {
      process.stderr.write(`networking-spp: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`networking-spp: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  }
}
