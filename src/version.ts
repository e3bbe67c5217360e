import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

/** The package version, as the agent reports it in etcd and to Neutron. */
export const VERSION: string = packageJson.version;
