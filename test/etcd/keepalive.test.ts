import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { KEEPALIVE_TIME_MS } from '../../src/etcd/connection.js';
import { useEtcd } from '../harness/etcd.js';

const STORE_MODULE = new URL('../../src/etcd/store.js', import.meta.url).href;
/** Long enough for five pings on an idle connection: etcd answers the fourth with GOAWAY. */
const IDLE_MS = KEEPALIVE_TIME_MS * 5 + 5000;

/**
 * Issue 17, item 5: with keep-alive pings on idle connections, etcd (default enforcement:
 * pings at most every 5 s, none without an open stream) closed the connection with "too
 * many pings" and grpc-js wrote "excess pings" lines to stderr, into the JSON logs.
 */
describe('etcd client keep-alive settings (real etcd, client in a child process)', () => {
  const fixture = useEtcd();

  test('an idle client writes nothing to stderr', async () => {
    const script = `
      import { EtcdStore } from ${JSON.stringify(STORE_MODULE)};
      const store = EtcdStore.connect({
        endpoints: [${JSON.stringify(fixture.etcd.endpoint)}],
        requestTimeoutMs: 2000,
        dialTimeoutMs: 1000,
      });
      await store.put('/nspp-test/idle', 'x');
      setTimeout(async () => {
        await store.get('/nspp-test/idle');
        store.close();
      }, ${IDLE_MS});
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), IDLE_MS + 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /excess pings/);
    assert.equal(stderr, '');
  });
});
