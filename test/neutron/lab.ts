import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { NeutronServer } from '../../src/lab/neutron-server.js';

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
