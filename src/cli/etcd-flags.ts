import type { Command } from 'commander';
import { etcdSettingsFromIni } from '../config/etcd-options.js';
import { IniOptions } from '../config/ini.js';
import type { EtcdSettings } from '../etcd/connection.js';
import { parseEndpoints } from '../etcd/connection.js';
import { EtcdStore } from '../etcd/store.js';
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

/** etcd location from the flag, else from `[spp]` of the config files, else the default. */
export function etcdSettingsFromFlags(flags: EtcdFlags): EtcdSettings {
  const settings = etcdSettingsFromIni(IniOptions.load(flags.configFile ?? []));
  if (flags.etcd) settings.endpoints = parseEndpoints(flags.etcd);
  return settings;
}

/** Runs `work` with a connected store and always closes it. */
export async function withStore<T>(
  flags: EtcdFlags,
  work: (store: EtcdStore) => Promise<T>,
): Promise<T> {
  const store = EtcdStore.connect(etcdSettingsFromFlags(flags));
  try {
    return await work(store);
  } finally {
    store.close();
  }
}
