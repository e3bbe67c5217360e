import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
const etcd = await EtcdServer.launch();
const store = etcd.connectStore();
const child = spawn(
  process.execPath,
  ['--cpu-prof', '--cpu-prof-dir=/tmp/prof4', 'rawwatch-child.mjs', etcd.endpoint, 'raw'],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const lines = createInterface({ input: child.stdout });
await new Promise((r) => lines.once('line', r));
await new Promise((r) => setTimeout(r, 300));
for (let i = 0; i < 20000; i++) await store.put(`/w/${i % 20}`, 'v');
await new Promise((r) => setTimeout(r, 500));
child.stdin.write('q\n');
await new Promise((r) => child.once('exit', r));
store.close();
await etcd.dispose();
