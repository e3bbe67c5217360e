import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_ETCD_SETTINGS } from '../../src/etcd/connection.js';
import type { NeutronServer } from '../../src/lab/neutron-server.js';
import { freePort } from '../../src/lab/ports.js';
import type { ServerOptions } from '../../src/server/options.js';

const run = promisify(execFile);

/** The test-only probe mechanism driver (test/neutron/probe), for PYTHONPATH. */
export const PROBE_DRIVER_DIR = fileURLToPath(
  new URL('../../../test/neutron/probe', import.meta.url),
);

/** Entities holding provisioning blocks on a port, read straight from Neutron's SQLite. */
export async function provisioningBlocks(
  neutron: NeutronServer,
  portId: string,
): Promise<string[]> {
  const script = [
    'import sqlite3, sys, json',
    "db = sqlite3.connect(sys.argv[1].replace('sqlite:///', '', 1))",
    'rows = db.execute("SELECT b.entity FROM provisioningblocks b JOIN ports p ON p.standard_attr_id = b.standard_attr_id WHERE p.id = ?", (sys.argv[2],)).fetchall()',
    'print(json.dumps(sorted(r[0] for r in rows)))',
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script, neutron.databaseUrl, portId], {
    timeout: 30_000,
  });
  return JSON.parse(stdout) as string[];
}

/** The binding service's options for the end-to-end labs: loopback, the driver's token, `etcd`. */
export async function labServiceOptions(
  etcdEndpoint: string,
  authToken: string,
  syncGraceS: number,
  extra: Partial<ServerOptions> = {},
): Promise<ServerOptions> {
  return {
    listenAddress: '127.0.0.1',
    listenPort: await freePort(),
    authToken,
    authDisabled: false,
    bindTimeoutMs: 10_000,
    syncGraceMs: syncGraceS * 1000,
    requireEtcdAgent: 'true',
    shutdownGraceMs: 2000,
    etcd: { ...DEFAULT_ETCD_SETTINGS, endpoints: [etcdEndpoint] },
    ...extra,
  };
}
