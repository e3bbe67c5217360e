import { pino } from 'pino';
import { EtcdStore } from '../dist/src/etcd/store.js';
import { EmulatorServer } from '../dist/src/emulator/server.js';
import { hostSpecFromLayout } from '../dist/src/emulator/spec.js';
import { buildHost } from '../dist/src/hosts/admin.js';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
import { requestPlug } from '../dist/src/lab/port-requests.js';
import { planHostLayout } from '../dist/src/layout/host-layout.js';
import { keys } from '../dist/src/etcd/keys.js';
import { runAgent } from '../dist/src/agent/agent.js';
const etcd = await EtcdServer.launch();
const store = etcd.connectStore();
const config = planHostLayout({ mappings: '00:04.0#phys0#8#0xffffe' }).config;
await buildHost(store, 'h', config, { force: true });
const emulator = await EmulatorServer.start(hostSpecFromLayout(config, { dialect: '18.08' }));
const orig = EtcdStore.prototype.transaction;
let counting = false;
const seen = [];
EtcdStore.prototype.transaction = function (c, s, f) {
  if (counting && this !== store)
    seen.push(
      JSON.stringify(
        s.map(
          (o) => Object.keys(o)[0] + ':' + (o.put ?? o.delete ?? '').replace('/spp/openstack/', ''),
        ),
      ) +
        '\n' +
        new Error().stack.split('\n').slice(2, 9).join('\n'),
    );
  return orig.call(this, c, s, f);
};
const ctl = new AbortController();
const running = runAgent(
  {
    host: 'h',
    etcd: { endpoints: [etcd.endpoint], requestTimeoutMs: 5000, dialTimeoutMs: 3000 },
    sppCtlUrl: emulator.url,
    sppCtlTimeoutMs: 5000,
    dialect: 'auto',
    reconcileIntervalMs: 60000,
    retryMaxMs: 1000,
    livenessTtlS: 600,
    metricsAddress: '127.0.0.1',
    reportIntervalS: 0,
  },
  ctl.signal,
  { logger: pino({ level: 'debug' }) },
);
await new Promise((r) => setTimeout(r, 1500));
counting = true;
const waitKey = async (key, want) => {
  for (;;) {
    const kv = await store.get(key);
    if (want(kv)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
};
for (let i = 0; i < 5; i++) {
  const id = `p${i}`;
  await requestPlug(store, 'h', {
    portId: id,
    physnet: 'phys0',
    vhostId: i,
    mac: `fa:16:3e:00:00:0${i}`,
  });
  await waitKey(keys.portStatus('h', id), (kv) => kv?.value === 'up');
  await store.put(keys.action('h', id), 'unplug');
  await waitKey(keys.bindPort('h', id), (kv) => kv === undefined);
}
await new Promise((r) => setTimeout(r, 500));
console.log(seen.length, 'agent txns for 5 plug+unplug');
for (const s of seen) console.log(s);
ctl.abort();
await running;
await emulator.stop();
store.close();
await etcd.dispose();
