import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { EXIT_HELP, runWithExitCodes } from './exit.js';

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
  logs: async () => (await import('./logs.js')).registerLogsCommand,
  'sample-config': async () => (await import('./sample-config.js')).registerSampleConfigCommand,
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
    .addHelpText('after', EXIT_HELP)
    .exitOverride();
  const name = argv[2] ?? '';
  const wanted = commandModules[commandAliases[name] ?? name];
  const loaders = wanted ? [wanted] : Object.values(commandModules);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

/** Runs the CLI; bad input ends with one clear line on stderr and exit code 2, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  await runWithExitCodes(
    'networking-spp',
    async () => {
      const program = await buildProgram(argv);
      await program.parseAsync(argv);
    },
    (error) => (error instanceof CommanderError ? error.exitCode : undefined),
  );
}
