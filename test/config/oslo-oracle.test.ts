/**
 * The INI files are read as oslo.config reads them: each tricky file set is read by the
 * real oslo.config (Debian's python3-oslo.config under /usr/bin/python3, the options
 * registered with our types, limits and defaults) and by our reader; the values must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AGENT_REGISTRY, agentOptionsFromIni } from '../../src/agent/options.js';
import { IniOptions } from '../../src/config/ini.js';
import { SERVER_REGISTRY, serverOptionsFromIni } from '../../src/server/options.js';
import { trickyCases } from './cases.js';
import type { Case, Result } from './oracle.js';
import { differences, osloReadings, ourReadings } from './oracle.js';

function report(cases: Case[], oslo: Result[], ours: Result[]): string[] {
  return cases.flatMap((one, index) =>
    differences(oslo[index] as Result, ours[index] as Result).map(
      (line) => `${one.name}: ${line}\n  files: ${JSON.stringify(one.files.map(String))}`,
    ),
  );
}

function value(result: Result | undefined, key: string): unknown {
  assert.ok(result && 'values' in result, `no values: ${JSON.stringify(result)}`);
  const reading = result.values[key];
  assert.ok(reading && 'value' in reading, `${key}: ${JSON.stringify(reading)}`);
  return reading.value;
}

describe('INI files read as oslo.config reads them (oracle: the real oslo.config)', () => {
  it('agrees on every option of the agent, for every tricky file set', async () => {
    const cases = trickyCases(AGENT_REGISTRY);
    const oslo = await osloReadings(AGENT_REGISTRY, cases);
    assert.deepEqual(report(cases, oslo, ourReadings(AGENT_REGISTRY, cases)), []);
  });

  it('agrees on every option of the service, for every tricky file set', async () => {
    const cases = trickyCases(SERVER_REGISTRY);
    const oslo = await osloReadings(SERVER_REGISTRY, cases, true);
    assert.deepEqual(report(cases, oslo, ourReadings(SERVER_REGISTRY, cases)), []);
  });

  it('the checks themselves can fail: a value cut at "#" is a difference', async () => {
    const cases = [{ name: 'cut', files: ['[spp_server]\nauth_token = Zq#7\n'] }];
    const [oslo] = await osloReadings(SERVER_REGISTRY, cases);
    const cut: Result = { values: { 'spp_server.auth_token': { value: 'Zq' } } };
    assert.equal(value(oslo, 'spp_server.auth_token'), 'Zq#7');
    assert.notDeepEqual(differences(oslo as Result, cut), []);
  });

  it('the service accepts exactly the token the driver sends, whatever it contains', async () => {
    const tokens = ['Zq#7;x', ' "quoted" ', 'a$$b', 'x\\$y', 'semi;colon # hash', "'single'"];
    const cases = tokens.map((token) => ({
      name: token,
      files: [`[spp]\nauth_token = ${token}\n[spp_server]\nauth_token = ${token}\n`],
    }));
    const oslo = await osloReadings(SERVER_REGISTRY, cases, true);
    cases.forEach((one, index) => {
      const driverToken = value(oslo[index], 'spp.auth_token');
      const ini = IniOptions.fromText(one.files[0] as string, 'ml2_conf.ini');
      assert.equal(serverOptionsFromIni(ini).authToken, driverToken, one.name);
    });
  });

  it("the agent's options follow oslo's values, with defaults for what is empty or unset", async () => {
    const text = [
      '[agent]',
      'report_interval = 12.5',
      '[DEFAULT]',
      'host = compute-1',
      'transport_url = rabbit://u:p#1@h:5672/',
      '[SPP]',
      'api_port = 7_000',
      'agent_metrics_port =',
      'etcd_endpoints = a:1,',
      '  b:2',
      '',
    ].join('\n');
    const [oslo] = await osloReadings(AGENT_REGISTRY, [{ name: 'agent', files: [text] }]);
    const options = agentOptionsFromIni(IniOptions.fromText(text, 'agent.ini'));
    assert.equal(options.reportIntervalS, value(oslo, 'AGENT.report_interval'));
    assert.equal(options.host, value(oslo, 'DEFAULT.host'));
    assert.equal(options.transportUrl, value(oslo, 'DEFAULT.transport_url'));
    assert.equal(options.sppCtlUrl, `http://127.0.0.1:${String(value(oslo, 'spp.api_port'))}`);
    assert.equal(value(oslo, 'spp.agent_metrics_port'), null);
    assert.equal(options.metricsPort, undefined);
    assert.equal(value(oslo, 'spp.etcd_endpoints'), 'a:1,\nb:2');
    assert.deepEqual(options.etcd.endpoints, ['a:1', 'b:2']);
  });

  it('agrees on random files built from the tricky pieces (property, one oslo run)', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261201);
    const cases = fc.sample(randomCase(), { seed, numRuns: 250 });
    const oslo = await osloReadings(AGENT_REGISTRY, cases);
    assert.deepEqual(report(cases, oslo, ourReadings(AGENT_REGISTRY, cases)), [], `seed ${seed}`);
  });
});

const SECTIONS = ['DEFAULT', 'default', 'agent', 'AGENT', 'spp', 'SPP', 'Spp', ' spp', 'other'];
const NAMES = [
  'host',
  'transport_url',
  'report_interval',
  'api_port',
  'etcd_host',
  'etcd_timeout',
  'spp_dialect',
  'agent_metrics_port',
  'Api_Port',
];
const PIECES = ['', ' ', '\t', '#', ';', '=', ':', '"', "'", '$', '$$', '\\$', '${', '}', '.'];
const WORDS = ['7', '1_0', '2.5', 'nan', 'yes', 'auto', '19.11', 'x', '\u3000', '$api_port'];

function randomCase(): fc.Arbitrary<Case> {
  const value = fc
    .array(fc.constantFrom(...PIECES, ...WORDS), { maxLength: 5 })
    .map((parts) => parts.join(''));
  const line = fc.oneof(
    fc.constantFrom(...SECTIONS).map((name) => `[${name}]`),
    fc
      .tuple(fc.constantFrom(...NAMES), fc.constantFrom(' = ', '=', ': ', ' =\t'), value)
      .map(([name, separator, text]) => `${name}${separator}${text}`),
    value.map((text) => `  ${text}`),
    fc.constantFrom('', '# comment', '; comment'),
  );
  const file = fc
    .array(line, { minLength: 1, maxLength: 12 })
    .map((body) => `[DEFAULT]\n${body.join('\n')}\n`);
  return fc.array(file, { minLength: 1, maxLength: 3 }).map((files) => ({ name: 'random', files }));
}
