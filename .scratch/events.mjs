import { EmulatorServer } from '../dist/src/emulator/server.js';
import { hostSpecFromLayout } from '../dist/src/emulator/spec.js';
import { buildHost } from '../dist/src/hosts/admin.js';
import { AgentProcess } from '../dist/src/lab/agent-process.js';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
import { planHostLayout } from '../dist/src/layout/host-layout.js';
import { cpuMs } from '../dist/src/bench/cpu.js';
import { keys } from '../dist/src/etcd/keys.js';
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
  ini: { spp: { reconcile_interval: '3600', agent_liveness_ttl: '3600' } },
});
await agent.waitForMessage('host reconciled', 20000);
await new Promise((r) => setTimeout(r, 1000));
const N = 2000;
for (const [label, key] of [
  ['port_status event (no run)', (i) => keys.portStatus('h', `x${i % 10}`)],
  ['bind_port event without action (host+vf runs)', (i) => keys.bindPort('h', `y${i % 10}`)],
  ['other host (not watched)', (i) => keys.bindPort('other', `z${i}`)],
]) {
  const c0 = cpuMs(agent.child.pid);
  for (let i = 0; i < N; i++)
    await store.put(
      key(i),
      label.startsWith('bind')
        ? JSON.stringify({ mac_address: 'fa:16:3e:00:00:01', vhost_id: i % 16 })
        : 'up',
    );
  await new Promise((r) => setTimeout(r, 500));
  const c1 = cpuMs(agent.child.pid);
  console.log(label, 'agent cpu ms per event', ((c1 - c0 - 2) / N).toFixed(3));
}
await agent.stop('SIGTERM');
await emulator.stop();
store.close();
await etcd.dispose();
