import type { Command } from 'commander';
import { benchSuites } from '../bench/suites.js';
import { InputError } from '../util/errors.js';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark suite on a private local stack and print its figures')
    .argument('[suite]', 'which suite (see --help)', 'bind')
    .option('--json', 'print one JSON object')
    .option('--hosts <n>', 'compute hosts')
    .option('--vhosts <n>', 'vhosts per host')
    .option('--concurrency <n>', 'concurrent requests')
    .option('--binds <n>', 'binds to perform')
    .option('--plugs <n>', 'plugs to perform')
    .allowUnknownOption(false)
    .action(async (suite: string, options: Record<string, string | boolean | undefined>) => {
      const load = benchSuites[suite];
      if (!load) {
        throw new InputError(
          `unknown bench suite "${suite}" (available: ${Object.keys(benchSuites).join(', ') || 'none yet'})`,
        );
      }
      await (await load()).run(options);
    });
}
