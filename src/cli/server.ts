import type { Command } from 'commander';
import { GRPCUnavailableError } from 'etcd3';
import { pino } from 'pino';
import { IniOptions } from '../config/ini.js';
import { convertValue } from '../config/option.js';
import { parseEndpoints } from '../etcd/connection.js';
import { runServer } from '../server/index.js';
import type { ServerOptions } from '../server/options.js';
import { SERVER_OPTIONS, parseListen, serverOptionsFromIni } from '../server/options.js';
import { InputError, errorMessage } from '../util/errors.js';
import { etcdCommandError } from './etcd-errors.js';
import { etcdSource } from './etcd-flags.js';
import { LOG_LEVELS, checkLogLevel, collect } from './shared-options.js';
import { runUntilSignalled } from './signals.js';

interface ServerFlags {
  configFile?: string[];
  listen?: string;
  etcd?: string;
  auth?: boolean;
  bindTimeout?: string;
  logLevel?: string;
}

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description(
      'run the binding service: the ML2 decisions (bind, unbind, full sync) over HTTP, against etcd',
    )
    .option(
      '--config-file <file>',
      'oslo-style INI file ([spp] etcd, [spp_server] options; repeatable, later files win)',
      collect,
    )
    .option(
      '--listen <host:port>',
      'listen address (default: [spp_server] listen_address:listen_port)',
    )
    .option(
      '--etcd <endpoints>',
      'etcd HOST:PORT[,HOST:PORT...] (default: [spp] of the config files)',
    )
    .option('--no-auth', 'accept /v1/ml2/* requests without a bearer token (trusted networks only)')
    .option('--bind-timeout <seconds>', 'how long a bind waits for the agent (default 20)')
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .action(runServerCommand);
}

function serverOptionsFromFlags(flags: ServerFlags): { options: ServerOptions; source: string } {
  const ini = IniOptions.load(flags.configFile ?? []);
  const options = serverOptionsFromIni(ini);
  if (flags.listen) {
    const listen = parseListen(flags.listen);
    options.listenAddress = listen.address;
    options.listenPort = listen.port;
  }
  if (flags.etcd) options.etcd.endpoints = parseEndpoints(flags.etcd);
  if (flags.auth === false) options.authDisabled = true;
  if (flags.bindTimeout !== undefined) {
    let seconds: unknown;
    try {
      seconds = convertValue(SERVER_OPTIONS.bindTimeout.type, flags.bindTimeout);
    } catch (error) {
      throw new InputError(`--bind-timeout ${flags.bindTimeout}: ${errorMessage(error)}`);
    }
    if (typeof seconds !== 'number') {
      throw new InputError(`--bind-timeout "${flags.bindTimeout}": not a number of seconds`);
    }
    options.bindTimeoutMs = seconds * 1000;
  }
  return { options, source: etcdSource(ini, flags.etcd) };
}

async function runServerCommand(flags: ServerFlags): Promise<void> {
  const { options, source } = serverOptionsFromFlags(flags);
  const level = checkLogLevel(flags.logLevel);
  const logger = pino({ level, base: { service: 'networking-spp-server' } });
  try {
    await runUntilSignalled(logger, 'signal received, shutting down', (signal) =>
      runServer(options, signal, { logger }),
    );
  } catch (error) {
    throw startFailure(error, options.etcd.endpoints, source);
  }
}

/**
 * The service's start-up failure in the CLI's terms. startServer reports etcd as
 * "cannot reach etcd at …" (with the etcd client's error as cause, when it gives one).
 */
function startFailure(error: unknown, endpoints: string[], source: string): unknown {
  if (!(error instanceof Error) || !error.message.startsWith('cannot reach etcd at')) return error;
  const cause = error.cause ?? new GRPCUnavailableError(error.message.replace(/^[^:]*: /, ''));
  return etcdCommandError(cause, endpoints, source);
}
