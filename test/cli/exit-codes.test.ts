/**
 * The exit-code contract of every command, through the real binaries: 2 bad input or
 * configuration, 69 etcd unreachable (with a message saying which etcd, where that came
 * from, and how to set it), never gRPC's raw text alone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SUITE_HELP } from '../../src/cli/bench.js';
import { benchSuites } from '../../src/bench/suites.js';
import { freePort } from '../../src/lab/ports.js';
import type { CliResult } from './run-cli.js';
import { runCli } from './run-cli.js';

const AGENT = fileURLToPath(new URL('../../../bin/neutron-spp-agent.js', import.meta.url));

function runAgent(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AGENT, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
        stdout,
        stderr,
      });
    });
  });
}

let dir: string;
let dead: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nspp-exit-'));
  dead = `127.0.0.1:${await freePort()}`;
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const HOW = /Set them with --etcd HOST:PORT\[,HOST:PORT\.\.\.\] or in \[spp\] of a --config-file/;

describe('exit codes and etcd messages', () => {
  it('etcd unreachable: 69, naming the endpoint, where it came from and how to set it', async () => {
    const [, port] = dead.split(':');
    const ini = file('dead.ini', `[SPP]\netcd_host = 127.0.0.1\netcd_port = ${port}\n`);
    const results = await Promise.all([
      runCli(['hosts', '--etcd', dead]),
      runCli(['ports', '--host', 'compute-1', '--config-file', ini]),
      runCli(['host', 'list', '--config-file', ini]),
      runCli(['server', '--no-auth', '--listen', '127.0.0.1:0', '--etcd', dead]),
    ]);
    for (const result of results) {
      assert.equal(result.code, 69, result.stderr);
      assert.match(result.stderr, new RegExp(`cannot reach etcd at ${dead} \\(connection refused`));
      assert.match(result.stderr, HOW);
      assert.doesNotMatch(result.stderr, /^14 UNAVAILABLE/m);
    }
    assert.match(results[0]?.stderr ?? '', /endpoints from --etcd\)/);
    assert.match(results[1]?.stderr ?? '', /endpoints from .*dead\.ini: \[SPP\] etcd_host\)/);
  });

  it('bad configuration: 2 with file, section, option and value, for agent and service', async () => {
    const ini = file(
      'bad.ini',
      '[spp_server]\nbind_timeout = soon\n[agent]\nreport_interval = -1\n',
    );
    const server = await runCli(['server', '--config-file', ini]);
    assert.equal(server.code, 2, server.stderr);
    assert.match(
      server.stderr,
      /bad\.ini: \[spp_server\] bind_timeout = "soon": not a number of seconds/,
    );
    const agent = await runAgent(['--config-file', ini]);
    assert.equal(agent.code, 2, agent.stderr);
    assert.match(
      agent.stderr,
      /^neutron-spp-agent: .*bad\.ini: \[agent\] report_interval = "-1": must be between 0 and 86400 seconds$/m,
    );
    const broken = await runAgent(['--config-file', file('broken.ini', '[spp\n')]);
    assert.equal(broken.code, 2, broken.stderr);
    assert.match(broken.stderr, /broken\.ini: line 1: a section header must end with "\]"/);
    const missing = await runCli(['server', '--config-file', join(dir, 'nope.ini')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config file .*nope\.ini/);
  });

  it('bench --help lists every suite, and sample-config refuses unknown programs', async () => {
    assert.deepEqual(Object.keys(SUITE_HELP).sort(), Object.keys(benchSuites).sort());
    for (const [name, load] of Object.entries(benchSuites)) {
      assert.ok((await load()).description.length > 0, name);
    }
    const help = await runCli(['bench', '--help']);
    assert.equal(help.code, 0);
    for (const name of Object.keys(benchSuites))
      assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
    const sample = await runCli(['sample-config', 'driver']);
    assert.equal(sample.code, 2);
    assert.match(sample.stderr, /unknown program "driver" .*oslo-config-generator/);
  });
});
