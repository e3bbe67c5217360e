import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { levelNumber, prettyLine } from '../logs/pretty.js';
import { InputError } from '../util/errors.js';
import { LOG_LEVELS } from './shared-options.js';

interface LogsFlags {
  level: string;
  color?: boolean;
  utc?: boolean;
}

async function printLogs(flags: LogsFlags): Promise<void> {
  const minLevel = levelNumber(flags.level);
  if (minLevel === undefined) {
    throw new InputError(`--level: must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const color = flags.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  // Piped into `head` or `less` that quit: stop quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const pretty = prettyLine(line, { color, minLevel, utc: flags.utc ?? false });
    if (pretty !== undefined) process.stdout.write(`${pretty}\n`);
  }
}

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .description(
      'print JSON log lines from stdin in a readable form, e.g. journalctl -u neutron-spp-agent -o cat | networking-spp logs',
    )
    .option('--level <level>', `lowest level shown (${LOG_LEVELS.join(', ')})`, 'trace')
    .option(
      '--color',
      'color the levels (default: when stdout is a terminal and NO_COLOR is unset)',
    )
    .option('--no-color', 'never color')
    .option('--utc', 'times in UTC (default: the local time zone)')
    .action(printLogs);
}
