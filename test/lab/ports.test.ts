import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, portTaken } from '../../src/lab/ports.js';

test('free ports for child processes lie below the ephemeral range, and are free', async () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    assert.ok(port < (low ?? 32768), `port ${port} below ${low}`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  }
});

test("a child's failed listen is recognised as a port taken meanwhile", () => {
  assert.ok(
    portTaken(
      new Error('etcd exited with 1: listen tcp 127.0.0.1:1: bind: address already in use'),
    ),
  );
  assert.ok(!portTaken(new Error('etcd exited with 1: permission denied')));
});
