import { Etcd3 } from 'etcd3';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
import { EtcdStore } from '../dist/src/etcd/store.js';
import { createEtcdClient } from '../dist/src/etcd/connection.js';
const etcd = await EtcdServer.launch();
const N = 4000;
async function measure(label, client) {
  const store = new EtcdStore(client);
  await store.put('/x/a', '0');
  for (let i = 0; i < 300; i++)
    await store.transaction([{ key: '/x/a', present: true }], [{ put: '/x/b', value: String(i) }]);
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++)
    await store.transaction([{ key: '/x/a', present: true }], [{ put: '/x/b', value: String(i) }]);
  const c = process.cpuUsage(c0);
  const c1 = process.cpuUsage();
  for (let i = 0; i < N; i++) await client.get('/x/a').exec();
  const g = process.cpuUsage(c1);
  console.log(
    label.padEnd(40),
    'txn',
    ((c.user + c.system) / 1000 / N).toFixed(3),
    'get',
    ((g.user + g.system) / 1000 / N).toFixed(3),
  );
  client.close();
}
const base = { endpoints: [etcd.endpoint], requestTimeoutMs: 5000, dialTimeoutMs: 3000 };
for (let round = 0; round < 3; round++) {
  await measure('ours (createEtcdClient)', createEtcdClient(base));
  await measure('plain Etcd3', new Etcd3({ hosts: `http://${etcd.endpoint}` }));
  await measure(
    'plain + no retries/channelz',
    new Etcd3({
      hosts: `http://${etcd.endpoint}`,
      grpcOptions: { 'grpc.enable_retries': 0, 'grpc.enable_channelz': 0 },
    }),
  );
}
await etcd.dispose();
