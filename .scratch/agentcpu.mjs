// Agent CPU per plug+unplug, with etcd's gRPC call counts, for a given set of agent node flags.
import { EmulatorServer } from '../dist/src/emulator/server.js';
import { hostSpecFromLayout } from '../dist/src/emulator/spec.js';
import { buildHost } from '../dist/src/hosts/admin.js';
import { AgentProcess } from '../dist/src/lab/agent-process.js';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
import { requestPlug } from '../dist/src/lab/port-requests.js';
import { planHostLayout } from '../dist/src/layout/host-layout.js';
import { keys } from '../dist/src/etcd/keys.js';
import { cpuMs } from '../dist/src/bench/cpu.js';
const N = Number(process.env.N ?? 300);
const etcd = await EtcdServer.launch();
const store = etcd.connectStore();
const config = planHostLayout({
  mappings: '00:04.0#phys0#8#0xffffe,00:05.0#phys1#8#0xfffff00000',
}).config;
await buildHost(store, 'h', config, { force: true });
const emulator = await EmulatorServer.start(hostSpecFromLayout(config, { dialect: '18.08' }));
const agent = await AgentProcess.start({
  host: 'h',
  etcd: etcd.endpoint,
  sppCtlUrl: emulator.url,
  ini: { spp: { reconcile_interval: process.env.RI ?? '5' } },
});
await agent.waitForMessage('host reconciled', 20000);
const metrics = async () => {
  const text = await (await fetch(`http://${etcd.endpoint}/metrics`)).text();
  const out = {};
  for (const m of text.matchAll(
    /^grpc_server_handled_total\{grpc_code="OK",grpc_method="(\w+)",grpc_service="([\w.]+)",grpc_type="(\w+)"\} (\d+)/gm,
  ))
    out[m[1]] = Number(m[4]);
  return out;
};
const waitKey = async (key, want) => {
  for (;;) {
    const kv = await store.get(key);
    if (want(kv)) return;
    await new Promise((r) => setTimeout(r, 1));
  }
};
for (const kind of ['flat', 'vlan']) {
  const m0 = await metrics();
  const c0 = cpuMs(agent.child.pid);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const id = `${kind}-${i}`;
    const port = {
      portId: id,
      physnet: kind === 'flat' ? 'phys0' : 'phys1',
      vhostId: (kind === 'flat' ? 0 : 8) + (i % 8),
      mac: `fa:16:3e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      ...(kind === 'vlan' ? { vlanId: 100 + (i % 50) } : {}),
    };
    await requestPlug(store, 'h', port);
    await waitKey(keys.portStatus('h', id), (kv) => kv?.value === 'up');
    await store.put(keys.action('h', id), 'unplug');
    await waitKey(keys.bindPort('h', id), (kv) => kv === undefined);
  }
  const c1 = cpuMs(agent.child.pid);
  const m1 = await metrics();
  const secs = (performance.now() - t0) / 1000;
  const calls = {};
  for (const k of Object.keys(m1))
    if (m1[k] - (m0[k] ?? 0) > 0) calls[k] = ((m1[k] - (m0[k] ?? 0)) / N).toFixed(2);
  console.log(
    kind,
    'agent cpu ms per plug+unplug',
    ((c1 - c0) / N).toFixed(2),
    'over',
    secs.toFixed(1),
    's; etcd calls per plug+unplug (all clients)',
    JSON.stringify(calls),
  );
}
const idle0 = cpuMs(agent.child.pid);
await new Promise((r) => setTimeout(r, 10000));
const idle1 = cpuMs(agent.child.pid);
console.log('agent idle cpu ms/s', ((idle1 - idle0) / 10).toFixed(2));
await agent.stop('SIGTERM');
await emulator.stop();
store.close();
await etcd.dispose();
