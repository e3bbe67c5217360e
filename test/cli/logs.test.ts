import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { prettyLine } from '../../src/logs/pretty.js';
import { CLI } from './run-cli.js';

const plain = { color: false, minLevel: 10, utc: true };
const TIME = Date.UTC(2026, 11, 1, 12, 30, 5, 42);

describe('readable logs (networking-spp logs)', () => {
  it('puts time, level, service and the port context first, then the message and the rest', () => {
    const line = JSON.stringify({
      level: 40,
      time: TIME,
      pid: 7,
      hostname: 'node',
      service: 'neutron-spp-agent',
      vhost_id: 3,
      host: 'compute-1',
      port_id: 'p-1',
      msg: 'spp-ctl unreachable',
      err: { type: 'Error', message: 'connect ECONNREFUSED', stack: 'Error: x\n    at y' },
      attempt: 2,
    });
    assert.equal(
      prettyLine(line, plain),
      '2026-12-01 12:30:05.042Z WARN  neutron-spp-agent host=compute-1 port_id=p-1 vhost_id=3: spp-ctl unreachable  err="connect ECONNREFUSED" attempt=2',
    );
  });

  it('drops journalctl prefixes, passes other lines unchanged, filters by level', () => {
    const record = { level: 30, time: TIME, msg: 'watching etcd', revision: 12 };
    assert.equal(
      prettyLine(`Dec 01 12:30:05 node neutron-spp-agent[7]: ${JSON.stringify(record)}`, plain),
      '2026-12-01 12:30:05.042Z INFO: watching etcd  revision=12',
    );
    assert.equal(
      prettyLine('networking-spp: cannot reach etcd', plain),
      'networking-spp: cannot reach etcd',
    );
    assert.equal(prettyLine('{"not":"a log line"}', plain), '{"not":"a log line"}');
    assert.equal(prettyLine(JSON.stringify(record), { ...plain, minLevel: 40 }), undefined);
  });

  it('colors the level only when asked', () => {
    const line = JSON.stringify({ level: 50, time: TIME, msg: 'x' });
    assert.ok(prettyLine(line, { ...plain, color: true })?.includes('\u001b[31mERROR\u001b[0m'));
    assert.ok(!prettyLine(line, plain)?.includes('\u001b'));
  });

  it('property: one line out per line in, never a throw, every string field shown', () => {
    const field = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), field, { maxKeys: 5 }),
        field,
        fc.constantFrom(10, 20, 30, 40, 50, 60),
        (fields, msg, level) => {
          const out = prettyLine(JSON.stringify({ ...fields, level, time: TIME, msg }), plain);
          assert.ok(out !== undefined && !/[\r\n]/.test(out));
          for (const [key, value] of Object.entries(fields)) {
            if (['level', 'time', 'msg', 'pid', 'hostname', 'v'].includes(key)) continue;
            const shown = /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
            assert.ok(out.includes(shown.replace(/[\r\n]+/g, ' ')), `${key}=${value} in ${out}`);
          }
        },
      ),
    );
  });

  it('reads stdin and writes readable lines, as a command', async () => {
    const input = [
      JSON.stringify({ level: 30, time: TIME, service: 'networking-spp-server', msg: 'started' }),
      JSON.stringify({ level: 20, time: TIME, msg: 'hidden' }),
      'plain text',
    ].join('\n');
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [CLI, 'logs', '--level', 'info', '--utc', '--no-color'],
        { timeout: 20_000 },
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
      );
      child.stdin?.end(`${input}\n`);
    });
    assert.equal(
      output,
      '2026-12-01 12:30:05.042Z INFO  networking-spp-server: started\nplain text\n',
    );
  });
});
