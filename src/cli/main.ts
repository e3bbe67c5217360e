import { Command, CommanderError } from 'commander';
import { InputError, errorMessage } from '../util/errors.js';
import { VERSION } from '../version.js';

type Registration = (program: Command) => void;

/**
 * Every subcommand module exports one `register...(program)` function. Modules are loaded
 * only for the subcommand being run (all of them for help): the agent's start-up time
 * should not include the binding service's HTTP framework.
 */
const commandModules: Record<string, () => Promise<Registration>> = {
  host: async () => (await import('./host.js')).registerHostCommands,
  agent: async () => (await import('./agent.js')).registerAgentCommand,
  bench: async () => (await import('./bench.js')).registerBenchCommand,
  emulator: async () => (await import('./emulator.js')).registerEmulatorCommand,
  server: async () => (await import('./server.js')).registerServerCommand,
  hosts: async () => (await import('./hosts.js')).registerHostsCommands,
  demo: async () => (await import('./demo.js')).registerDemoCommand,
};
/** Subcommands registered by another subcommand's module. */
const commandAliases: Record<string, string> = { ports: 'hosts' };

export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('networking-spp')
    .description(
      'OpenStack networking for Soft Patch Panel: host layouts, SPP emulator, agent, binding service',
    )
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const name = argv[2] ?? '';
  const wanted = commandModules[commandAliases[name] ?? name];
  const loaders = wanted ? [wanted] : Object.values(commandModules);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

/**
 * A fault outside any request path (e.g. a library throwing from an event handler) ends the
 * process with one line naming the error and where it came from, for the service manager
 * to restart it, rather than a multi-line trace in the middle of the JSON logs.
 */
function exitOnInternalError(error: unknown): void {
  const where = error instanceof Error ? error.stack?.split('\n')[1]?.trim() : undefined;
  process.stderr.write(
    `networking-spp: internal error: ${errorMessage(error)}${where ? ` (${where})` : ''}\n`,
  );
  process.exit(70);
}

/** Runs the CLI; bad input ends with one clear line on stderr and exit code 2, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  process.on('uncaughtException', exitOnInternalError);
  process.on('unhandledRejection', exitOnInternalError);
  try {
    const program = await buildProgram(argv);
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
