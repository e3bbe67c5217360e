import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { AgentHandle } from '../../src/agent/agent.js';
import { agentOptionsFromIni } from '../../src/agent/options.js';
import { agentSidecars } from '../../src/agent/sidecars.js';
import { IniOptions } from '../../src/config/ini.js';
import { StateReporter } from '../../src/neutron/state-reporter.js';

const ini = (text: string) => IniOptions.fromText(text, 'agent.ini');

function handle(text: string): AgentHandle {
  return {
    options: agentOptionsFromIni(ini(text)),
    record: () => ({ host: 'c1', version: '0', started_at: '', pid: 1, physnets: {} }),
    freeVhosts: () => ({}),
    live: () => true,
    logger: pino({ level: 'silent' }),
  };
}

describe('agent options and sidecars for the Neutron heartbeat', () => {
  test('[DEFAULT] transport_url and [AGENT] report_interval, default 30', () => {
    const options = agentOptionsFromIni(
      ini('[DEFAULT]\nhost = c1\ntransport_url = rabbit://u:p@h:5672/\n'),
    );
    assert.equal(options.transportUrl, 'rabbit://u:p@h:5672/');
    assert.equal(options.reportIntervalS, 30);
    const tuned = agentOptionsFromIni(ini('[AGENT]\nreport_interval = 0\n'));
    assert.equal(tuned.transportUrl, undefined);
    assert.equal(tuned.reportIntervalS, 0);
    assert.throws(
      () => agentOptionsFromIni(ini('[AGENT]\nreport_interval = soon\n')),
      /report_interval/,
    );
  });

  test('a reporter only with a transport_url and a non-zero interval', async () => {
    const url = '[DEFAULT]\nhost = c1\ntransport_url = rabbit://u:p@h:5672/\n';
    const withUrl = (await agentSidecars(ini(url)))(handle(url));
    assert.equal(withUrl.length, 1);
    assert.ok(withUrl[0] instanceof StateReporter);
    const none = '[DEFAULT]\nhost = c1\n';
    assert.deepEqual((await agentSidecars(ini(none)))(handle(none)), []);
    const off = `${url}[AGENT]\nreport_interval = 0\n`;
    assert.deepEqual((await agentSidecars(ini(off)))(handle(off)), []);
  });

  test('a malformed transport_url fails at start-up, naming the problem', async () => {
    await assert.rejects(
      agentSidecars(ini('[DEFAULT]\ntransport_url = fake://\n')),
      /scheme "fake"/,
    );
  });
});
