import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
const etcd = await EtcdServer.launch();
const store = etcd.connectStore();
for (const mode of ['raw', 'store']) {
  for (const flags of [['--max-semi-space-size=1', '--v8-pool-size=0', '--no-opt'], []]) {
    const child = spawn(process.execPath, [...flags, 'rawwatch-child.mjs', etcd.endpoint, mode], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    const next = () => new Promise((r) => lines.once('line', r));
    await next();
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('x\n');
    const a = JSON.parse(await next());
    const N = 3000;
    for (let i = 0; i < N; i++) await store.put(`/w/${i % 20}`, 'v');
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.write('x\n');
    const b = JSON.parse(await next());
    console.log(
      mode,
      flags.join(' ') || '(no flags)',
      'events',
      b.count - a.count,
      'cpu ms/event',
      ((b.cpu - a.cpu) / N).toFixed(3),
    );
    child.kill();
  }
}
store.close();
await etcd.dispose();
