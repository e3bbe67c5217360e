import type { Command } from 'commander';
import { benchSuites } from '../bench/suites.js';
import { InputError } from '../util/errors.js';

/**
 * What `bench --help` says of each suite and the flags it takes. Kept here, not read from
 * the suites, so that help does not load every benchmark; a test checks both agree.
 */
export const SUITE_HELP: Record<string, { summary: string; flags: string }> = {
  bind: {
    summary:
      'bind/unbind latency and throughput through the service, real agents and emulators; double allocations',
    flags: '--hosts, --vhosts, --concurrency, --binds',
  },
  agent: {
    summary: 'agent start-up, idle RSS, SIGTERM to exit, plug latency, restart with plugged ports',
    flags: '--plugs',
  },
  emulator: {
    summary: 'emulator start-up for 8 NICs x 16 vhosts, GET and inject latency',
    flags: '--vhosts',
  },
  neutron: {
    summary: 'port create to ACTIVE through a real neutron-server, RabbitMQ, service and agent',
    flags: '--binds, --concurrency',
  },
  migration: {
    summary: 'live migration through a real neutron-server: create binding on B, activate, abort',
    flags: '--binds',
  },
  chaos: {
    summary:
      'fault suite: binds/unbinds through 2 services on a 3-member etcd under faults a-e and all together, audited after each run',
    flags: '--hosts, --vhosts, --binds, --concurrency, --faults',
  },
};

/** `text` in lines of at most 80 characters, the first after `head`, the others indented. */
function hanging(head: string, text: string): string[] {
  const lines: string[] = [];
  let line = head;
  for (const word of text.split(' ')) {
    if (line.trim() !== head.trim() && line.length + 1 + word.length > 80) {
      lines.push(line);
      line = ' '.repeat(head.length);
    }
    line += line.endsWith(' ') ? word : ` ${word}`;
  }
  return [...lines, line];
}

function suitesHelp(): string {
  const width = Math.max(...Object.keys(SUITE_HELP).map((name) => name.length));
  const lines = Object.entries(SUITE_HELP).flatMap(([name, { summary, flags }]) =>
    hanging(`  ${name.padEnd(width)}  `, `${summary}. Flags: ${flags}.`),
  );
  return [
    '',
    'Suites (default: bind):',
    ...lines,
    '',
    'Each starts a private stack on loopback (etcd, emulators, agents, ...), prints its figures',
    '(or one JSON object with --json) and the command line that reproduces them; figures',
    'depend on the machine: quote them with that command and the machine they came from.',
  ].join('\n');
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark suite on a private local stack and print its figures')
    .argument('[suite]', `which suite: ${Object.keys(benchSuites).join(', ')}`, 'bind')
    .option('--json', 'print one JSON object')
    .option('--hosts <n>', 'compute hosts (bind, chaos)')
    .option('--vhosts <n>', 'vhosts per host (bind, emulator, chaos)')
    .option('--concurrency <n>', 'concurrent requests (bind, neutron, chaos)')
    .option(
      '--binds <n>',
      'binds to perform (bind, chaos), ports to create (neutron) or migrate (migration)',
    )
    .option('--plugs <n>', 'plugs to perform (agent)')
    .option('--faults <list>', 'faults to run, comma separated: none,a,b,c,d,e,all (chaos)')
    .addHelpText('after', suitesHelp())
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
