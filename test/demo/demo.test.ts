import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { trackChild } from '../../src/lab/children.js';
import { CLI, runCli } from '../cli/run-cli.js';
import { waitFor } from '../harness/wait.js';

/** True while `pid` is a live (not zombie) process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('networking-spp demo', () => {
  test('binds flat and VLAN ports on two hosts, proves the data path, unbinds, exits 0', async () => {
    const result = await runCli(['demo'], 90_000);
    assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    const out = result.stdout;
    // One progress line per step, with its timing.
    for (const step of ['etcd started', 'agent\\(s\\) started', 'binding service started']) {
      assert.match(
        out,
        new RegExp(`^\\[ *[0-9.]+s\\] [^\\n]*${step}[^\\n]* \\([0-9.]+ ms\\)$`, 'm'),
      );
    }
    // Flat on phys1 and VLAN on phys2, on both hosts.
    assert.match(out, /bound demo-port-1 on compute-1 \(flat phys1\): vhost 0, \/tmp\/sock0/);
    assert.match(
      out,
      /bound demo-port-2 on compute-1 \(vlan 100 on phys2\): vhost 2, \/tmp\/sock2/,
    );
    assert.match(out, /bound demo-port-4 on compute-2 \(vlan 200 on phys2\): vhost 2/);
    // VLAN port: tagged frame on the wire (phy:1) reaches vhost:2 untagged, and back tagged.
    assert.match(
      out,
      /compute-1 +wire > VM +phy:1 +52:54:00:00:00:fe > fa:16:3e:00:01:02 vlan 100 +vhost:2 untagged/,
    );
    assert.match(
      out,
      /compute-1 +VM > wire +vhost:2 +fa:16:3e:00:01:02 > 52:54:00:00:00:fe untagged +phy:1 vlan 100/,
    );
    assert.match(
      out,
      /compute-2 +wire > VM +phy:0 +[^\n]*fa:16:3e:00:02:01 untagged +vhost:0 untagged/,
    );
    assert.doesNotMatch(out, /WRONG/);
    assert.match(out, /unbound demo-port-5 on compute-2: vhost 3 free again/);
    assert.match(out, /^Result: OK: 5 ports bound on 2 hosts/m);
    assert.match(out, /everything stopped/);
  });

  test('--keep-running stays up until SIGINT, then stops etcd, the server and every agent', async () => {
    const child = trackChild(
      spawn(process.execPath, [CLI, 'demo', '--keep-running'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      const pidsLine = await waitFor(
        'the pids line of --keep-running',
        () => /^ *pids +etcd (\d+), server (\d+), agents ([\d ]+)$/m.exec(out) ?? undefined,
        90_000,
        50,
      );
      const pids = [pidsLine[1], pidsLine[2], ...(pidsLine[3] as string).trim().split(/ +/)].map(
        Number,
      );
      assert.equal(pids.length, 4, `etcd, server and 2 agents: ${pidsLine[0]}`);
      assert.match(out, /Press Ctrl-C/);
      for (const pid of pids)
        assert.ok(alive(pid), `pid ${pid} runs while the demo is kept running`);
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, out);
      await waitFor('every child process gone', () => pids.every((pid) => !alive(pid)), 10_000);
      assert.match(out, /SIGINT: stopping everything the demo started/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
