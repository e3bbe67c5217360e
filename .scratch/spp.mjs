import { SppCtlClient } from '../dist/src/spp/client.js';
const c = new SppCtlClient({ baseUrl: 'http://127.0.0.1:17777', timeoutMs: 5000 });
const N = 2000;
for (let i = 0; i < 100; i++) await c.status('vfs', 1);
let c0 = process.cpuUsage();
for (let i = 0; i < N; i++) await c.status('vfs', 1);
let u = process.cpuUsage(c0);
console.log('status GET cpu ms/op', ((u.user + u.system) / 1000 / N).toFixed(3));
c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  await c
    .classifierTable(1, { action: 'add', mac: 'fa:16:3e:00:00:01', port: 'ring:0' })
    .catch(() => 0);
  await c
    .classifierTable(1, { action: 'del', mac: 'fa:16:3e:00:00:01', port: 'ring:0' })
    .catch(() => 0);
}
u = process.cpuUsage(c0);
console.log('PUT cpu ms/op', ((u.user + u.system) / 1000 / N / 2).toFixed(3));
await c.close();
