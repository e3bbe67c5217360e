import { EtcdServer } from '../dist/src/lab/etcd-server.js';
const etcd = await EtcdServer.launch();
const store = etcd.connectStore();
const N = 2000;
await store.put('/x/a', '0');
for (let i = 0; i < 200; i++)
  await store.transaction([{ key: '/x/a', present: true }], [{ put: '/x/b', value: String(i) }]);
let c0 = process.cpuUsage();
let t0 = performance.now();
for (let i = 0; i < N; i++)
  await store.transaction([{ key: '/x/a', present: true }], [{ put: '/x/b', value: String(i) }]);
let c = process.cpuUsage(c0);
console.log(
  'txn cpu ms/op',
  ((c.user + c.system) / 1000 / N).toFixed(3),
  'wall',
  ((performance.now() - t0) / N).toFixed(3),
);
c0 = process.cpuUsage();
for (let i = 0; i < N; i++) await store.get('/x/a');
c = process.cpuUsage(c0);
console.log('get cpu ms/op', ((c.user + c.system) / 1000 / N).toFixed(3));
// raw client
c0 = process.cpuUsage();
for (let i = 0; i < N; i++) await store.client.put('/x/c').value('v').exec();
c = process.cpuUsage(c0);
console.log('raw put cpu ms/op', ((c.user + c.system) / 1000 / N).toFixed(3));
c0 = process.cpuUsage();
for (let i = 0; i < N; i++)
  await store.client.kvClient.put({ key: Buffer.from('/x/d'), value: Buffer.from('v') });
c = process.cpuUsage(c0);
console.log('kvClient put cpu ms/op', ((c.user + c.system) / 1000 / N).toFixed(3));
store.close();
await etcd.dispose();
