import type { Command } from 'commander';
import { pino } from 'pino';
import { IniOptions } from '../config/ini.js';
import { convertValue } from '../config/option.js';
import { parseEndpoints } from '../etcd/connection.js';
import { runServer } from '../server/index.js';
import { SERVER_OPTIONS, parseListen, serverOptionsFromIni } from '../server/options.js';
import { InputError, errorMessage } from '../util/errors.js';
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
    .action(async (flags: ServerFlags) => {
      const options = serverOptionsFromIni(IniOptions.load(flags.configFile ?? []));
      if (flags.listen) {
        const listen = parseListen(flags.listen);
        options.listenAddress = listen.address;
        options.listenPort = listen.port;
      }
      if (flags.etcd) options.etcd.endpoints = parseEndpoints(flags.etcd);
      if (flags.auth === false) options.authDisabled = true;
      if (flags.bindTimeout !== undefined) {
        try {
          options.bindTimeoutMs =
            (convertValue(SERVER_OPTIONS.bindTimeout.type, flags.bindTimeout) as number) * 1000;
        } catch (error) {
          throw new InputError(`--bind-timeout ${flags.bindTimeout}: ${errorMessage(error)}`);
        }
      }
      const level = checkLogLevel(flags.logLevel);
      const logger = pino({ level, base: { service: 'networking-spp-server' } });
      await runUntilSignalled(logger, 'signal received, shutting down', (signal) =>
        runServer(options, signal, { logger }),
      );
    });
}
