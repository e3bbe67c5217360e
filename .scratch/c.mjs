import { SppCtlClient } from '../dist/src/spp/client.js';
const c = new SppCtlClient({ baseUrl: 'http://127.0.0.1:17778', timeoutMs: 2000 });
console.log((await c.status('vfs', 1))['client-id']);
try {
  await c.startComponent('vfs', 1, { name: 'x', core: 2, type: 'forward' });
  console.log('started');
} catch (e) {
  console.log('err', e.message);
}
await c.close();
