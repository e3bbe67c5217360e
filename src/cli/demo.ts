import type { Command } from 'commander';

interface DemoFlags {
  keepRunning?: boolean;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run a private stack (etcd, 2 emulated compute hosts with real agents, the binding service), bind flat and VLAN ports through the API, prove the data path, unbind',
    )
    .option('--keep-running', 'leave everything running after the demo, until Ctrl-C')
    .action(async (flags: DemoFlags) => {
      // Loaded here, not at the top: other subcommands should not pay for the demo's imports.
      const { runDemo } = await import('../demo/demo.js');
      const code = await runDemo({
        keepRunning: flags.keepRunning ?? false,
        print: (line) => process.stdout.write(`${line}\n`),
        printError: (line) => process.stderr.write(`networking-spp: ${line}\n`),
      });
      if (code !== 0) process.exitCode = code;
    });
}
