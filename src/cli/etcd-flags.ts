import type { Command } from 'commander';
import { ETCD_OPTIONS, etcdSettingsFromIni } from '../config/etcd-options.js';
import { IniOptions } from '../config/ini.js';
import type { EtcdSettings } from '../etcd/connection.js';
import { parseEndpoints } from '../etcd/connection.js';
import { isEtcdClientError } from '../etcd/failure.js';
import { EtcdStore } from '../etcd/store.js';
import { etcdCommandError } from './etcd-errors.js';
import { collect } from './shared-options.js';

export interface EtcdFlags {
  etcd?: string;
  configFile?: string[];
}

/** Adds `--etcd` and repeatable `--config-file` to a command. */
export function withEtcdFlags(command: Command): Command {
  return command
    .option(
      '--etcd <endpoints>',
      'etcd HOST:PORT[,HOST:PORT...] (default: [spp] of the config files, else 127.0.0.1:2379)',
    )
    .option(
      '--config-file <file>',
      'oslo-style INI file with an [spp] section (repeatable; later files win)',
      collect,
    );
}

/** Where the etcd endpoints came from, for messages: "from --etcd", "from a.ini: [spp] …". */
export function etcdSource(ini: IniOptions, flag: string | undefined): string {
  if (flag) return 'from --etcd';
  for (const option of [ETCD_OPTIONS.etcdEndpoints, ETCD_OPTIONS.etcdHost, ETCD_OPTIONS.etcdPort]) {
    const raw = ini.lookup(option.group, option.name);
    if (raw && raw.value !== '') return `from ${raw.origin} ${option.name}`;
  }
  return 'by default, as neither --etcd nor [spp] etcd_endpoints or etcd_host in a --config-file is given';
}

/** etcd location from the flag, else from `[spp]` of the config files, else the default. */
export function etcdSettingsFromFlags(flags: EtcdFlags): EtcdSettings & { source: string } {
  const ini = IniOptions.load(flags.configFile ?? []);
  const settings = etcdSettingsFromIni(ini);
  if (flags.etcd) settings.endpoints = parseEndpoints(flags.etcd);
  return { ...settings, source: etcdSource(ini, flags.etcd) };
}

/**
 * Runs `work` with a connected store and always closes it. A failure of an etcd request
 * says what it means for the operator (see etcdCommandError); errors of the work itself
 * (bad input, refusals) pass unchanged.
 */
export async function withStore<T>(
  flags: EtcdFlags,
  work: (store: EtcdStore) => Promise<T>,
): Promise<T> {
  const settings = etcdSettingsFromFlags(flags);
  const store = EtcdStore.connect(settings);
  try {
    return await work(store);
  } catch (error) {
    if (!isEtcdClientError(error)) throw error;
    throw etcdCommandError(error, settings.endpoints, settings.source);
  } finally {
    store.close();
  }
}
