import { pino } from 'pino';
const mode = process.argv[2];
const logger = mode === 'async' ? pino(pino.destination({ sync: false })) : pino();
const l = logger.child({ host: 'compute-1' });
const N = 20000;
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  l.info({ port_id: 'p' + i, vhost_id: i % 8, action: 'plug', duration_ms: 1.5 }, 'port plugged');
  if (i % 2 === 1) await new Promise((r) => setImmediate(r));
}
const c = process.cpuUsage(c0);
process.stderr.write(`${mode} cpu us/line ${((c.user + c.system) / N).toFixed(1)}\n`);
logger.flush?.();
