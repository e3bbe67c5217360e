import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { useEtcd } from '../harness/etcd.js';
import { runCli } from './run-cli.js';

/**
 * Issue 17, item 5: an agent whose host name cannot name etcd keys used to retry forever;
 * it exits 2 (bad configuration) with a message naming the option, etcd being up.
 */
describe('agent with a host name that cannot be served (real CLI process)', () => {
  const fixture = useEtcd();
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nspp-agent-host-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, host, why] of [
    ['a slash', 'a/b', /\[DEFAULT\] host: "a\/b" must not contain "\/"/],
    ['an empty name', '', /\[DEFAULT\] host: "" must not be empty/],
  ] as const) {
    test(`${name}: exit 2 with a clear message`, async () => {
      const ini = join(dir, `agent-${name.replace(/\W/g, '-')}.ini`);
      await writeFile(
        ini,
        `[DEFAULT]\nhost = ${host}\n\n[spp]\netcd_host = 127.0.0.1\netcd_port = ${fixture.etcd.clientPort}\n`,
      );
      const result = await runCli(['agent', '--config-file', ini], 15_000);
      assert.equal(result.code, 2, `stderr: ${result.stderr}\nstdout: ${result.stdout}`);
      assert.match(result.stderr, why);
    });
  }
});
