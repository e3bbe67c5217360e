/**
 * The sample configurations (etc/*.sample) are current, list every option, and say the
 * defaults the programs really use: uncommented, each sample reads back as the defaults,
 * both with our reader and with the real oslo.config.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_REGISTRY } from '../../src/agent/options.js';
import { sampleConfig } from '../../src/cli/sample-config.js';
import { IniOptions } from '../../src/config/ini.js';
import type { OptionDef } from '../../src/config/option.js';
import { defaultOf } from '../../src/config/option.js';
import { OptionReader } from '../../src/config/reader.js';
import { commentLines } from '../../src/config/sample.js';
import { SERVER_REGISTRY } from '../../src/server/options.js';
import type { Reading } from './oracle.js';
import { PYTHON, osloReadings } from './oracle.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const committed = (name: string) => readFileSync(`${ROOT}etc/${name}`, 'utf8');

/** Uncomments every `#option = value` line whose value is a real default. */
function uncomment(sample: string): string {
  return sample.replace(/^#([a-z_]+) =(.*)$/gm, (line, name: string, value: string) =>
    value.trim().startsWith('<') ? line : `${name} =${value}`,
  );
}

const programs: [string, string, readonly OptionDef[]][] = [
  ['agent', 'neutron-spp-agent.ini.sample', AGENT_REGISTRY],
  ['server', 'networking-spp-server.ini.sample', SERVER_REGISTRY],
];

describe('sample configurations', () => {
  for (const [program, file, registry] of programs) {
    it(`etc/${file} is what "networking-spp sample-config ${program}" prints`, () => {
      assert.equal(
        committed(file),
        sampleConfig(program),
        'regenerate with: bash scripts/sample-configs.sh',
      );
    });

    it(`etc/${file} lists every option of the ${program} once, with its help`, () => {
      const sample = sampleConfig(program);
      for (const option of registry) {
        const lines = sample.match(new RegExp(`^#${option.name} =`, 'gm')) ?? [];
        assert.equal(lines.length, 1, option.name);
        const firstLine = commentLines(option.help)[0] as string;
        assert.ok(sample.includes(firstLine), `${option.name}: help`);
      }
    });

    it(`etc/${file} uncommented reads as the defaults, with our reader and with oslo.config`, async () => {
      const text = uncomment(sampleConfig(program));
      const reader = new OptionReader(IniOptions.fromText(text, file), registry);
      const [oslo] = await osloReadings(registry, [{ name: file, files: [text] }]);
      assert.ok(oslo && 'values' in oslo, JSON.stringify(oslo));
      const values: Record<string, Reading> = oslo.values;
      for (const option of registry) {
        const expected = defaultOf(option);
        assert.equal(reader.get(option), expected, option.name);
        const reading = values[`${option.group}.${option.name}`];
        assert.deepEqual(reading, { value: expected ?? null }, option.name);
      }
    });
  }

  it("etc/ml2_conf_spp.ini.sample is oslo-config-generator's output for the driver", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oslo-generator-'));
    const target = join(dir, 'ml2_conf_spp.ini.sample');
    await new Promise<void>((resolve, reject) => {
      execFile(
        PYTHON,
        [
          '-m',
          'oslo_config.generator',
          '--config-file',
          'python/etc/oslo-config-generator/ml2_conf_spp.conf',
          '--output-file',
          target,
        ],
        { cwd: ROOT, env: { PYTHONPATH: `${ROOT}python`, PATH: '/usr/bin:/bin' }, timeout: 60_000 },
        (error, _stdout, stderr) =>
          error ? reject(new Error(stderr || error.message)) : resolve(),
      );
    });
    const output = readFileSync(target, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    for (const name of ['service_url', 'auth_token', 'request_timeout', 'sync_interval']) {
      assert.match(output, new RegExp(`^#${name} = `, 'm'));
    }
    assert.equal(committed('ml2_conf_spp.ini.sample'), output);
  });
});
