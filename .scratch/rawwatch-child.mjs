import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../dist/src/etcd/store.js';
const [endpoint, mode] = process.argv.slice(2);
let count = 0;
if (mode === 'raw') {
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  const w = await client.watch().prefix('/w/').create();
  w.on('put', () => count++);
} else {
  const store = EtcdStore.connect({
    endpoints: [endpoint],
    requestTimeoutMs: 5000,
    dialTimeoutMs: 3000,
  });
  const ctl = new AbortController();
  (async () => {
    for await (const b of store.watch('/w/', 1, ctl.signal)) count += b.events.length;
  })();
}
process.stdout.write('ready\n');
process.stdin.on('data', (d) => {
  if (String(d).startsWith('q')) process.exit(0);
  const u = process.cpuUsage();
  process.stdout.write(JSON.stringify({ count, cpu: (u.user + u.system) / 1000 }) + '\n');
});
