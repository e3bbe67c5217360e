import { EmulatorServer } from '../dist/src/emulator/server.js';
import { hostSpecFromLayout } from '../dist/src/emulator/spec.js';
import { buildHost } from '../dist/src/hosts/admin.js';
import { AgentProcess } from '../dist/src/lab/agent-process.js';
import { EtcdServer } from '../dist/src/lab/etcd-server.js';
import { planHostLayout } from '../dist/src/layout/host-layout.js';
import { cpuMs } from '../dist/src/bench/cpu.js';
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
  ini: {
    spp: { reconcile_interval: process.env.RI ?? '5', agent_liveness_ttl: process.env.TTL ?? '15' },
  },
});
await agent.waitForMessage('host reconciled', 20000);
await new Promise((r) => setTimeout(r, 2000));
const c0 = cpuMs(agent.child.pid);
await new Promise((r) => setTimeout(r, 30000));
const c1 = cpuMs(agent.child.pid);
console.log('agent idle cpu ms/s', ((c1 - c0) / 30).toFixed(2));
await agent.stop('SIGTERM');
await emulator.stop();
store.close();
await etcd.dispose();
