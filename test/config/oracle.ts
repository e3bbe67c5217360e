import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IniOptions } from '../../src/config/ini.js';
import type { OptionDef } from '../../src/config/option.js';
import { defaultOf } from '../../src/config/option.js';
import { pyFloatRepr } from '../../src/config/py-text.js';
import { OptionReader } from '../../src/config/reader.js';
import { errorMessage } from '../../src/util/errors.js';

const ORACLE = fileURLToPath(new URL('../../../test/config/oslo_oracle.py', import.meta.url));
const DRIVER_PATH = fileURLToPath(new URL('../../../python', import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** One reading of a set of files: their texts (in --config-file order) and OS_* variables. */
export interface Case {
  name: string;
  files: (string | Buffer)[];
  env?: Record<string, string>;
}

export type Reading = { value: unknown } | { float: string } | { error: string };
export type Result = { values: Record<string, Reading> } | { parse_error: string };

function spec(option: OptionDef): Record<string, unknown> {
  const type = option.type;
  return {
    group: option.group,
    name: option.name,
    kind: type.kind,
    ...(type.kind === 'integer' || type.kind === 'float' ? { min: type.min, max: type.max } : {}),
    ...(type.kind === 'string' && type.choices ? { choices: type.choices } : {}),
    ...(defaultOf(option) !== undefined ? { default: defaultOf(option) } : {}),
  };
}

/** Writes each case's files into `dir` and returns their paths, per case. */
function writeCases(dir: string, cases: Case[]): string[][] {
  return cases.map((one, caseIndex) =>
    one.files.map((text, fileIndex) => {
      const path = join(dir, `case${caseIndex}-file${fileIndex}.conf`);
      writeFileSync(path, text);
      return path;
    }),
  );
}

/** Reads every case with the real oslo.config (one Python process for all of them). */
export async function osloReadings(
  registry: readonly OptionDef[],
  cases: Case[],
  driver = false,
): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'oslo-oracle-'));
  try {
    const paths = writeCases(dir, cases);
    const requests = cases.map((one, index) => ({
      options: registry.map(spec),
      files: paths[index],
      env: one.env ?? {},
      driver,
    }));
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        PYTHON,
        [ORACLE],
        {
          timeout: 60_000,
          maxBuffer: 64 * 1024 * 1024,
          env: { PATH: '/usr/bin:/bin', PYTHONPATH: DRIVER_PATH, LANG: 'C.UTF-8' },
        },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`oslo oracle failed: ${stderr || error.message}`))
            : resolve(stdout),
      );
      child.stdin?.end(JSON.stringify(requests));
    });
    return JSON.parse(output) as Result[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads every case with our reader, in the oracle's terms (oslo values, None as null). */
export function ourReadings(registry: readonly OptionDef[], cases: Case[]): Result[] {
  const dir = mkdtempSync(join(tmpdir(), 'oslo-ours-'));
  try {
    const paths = writeCases(dir, cases);
    return cases.map((one, index) => {
      let ini: IniOptions;
      try {
        ini = IniOptions.load(paths[index] as string[], one.env ?? {});
      } catch (error) {
        return { parse_error: errorMessage(error) };
      }
      const reader = new OptionReader(ini, registry);
      const values: Record<string, Reading> = {};
      for (const option of registry) {
        const key = `${option.group}.${option.name}`;
        try {
          const value = reader.osloValue(option);
          values[key] =
            typeof value === 'number' && !Number.isFinite(value)
              ? { float: pyFloatRepr(value) }
              : { value };
        } catch (error) {
          values[key] = { error: errorMessage(error) };
        }
      }
      return { values };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The differences between oslo's reading and ours, as lines; empty when they agree. Error
 * texts are not compared (ours are our own), only that both refuse. The one deliberate
 * difference: a float option set to `nan`, which oslo accepts and we refuse.
 */
export function differences(oslo: Result, ours: Result): string[] {
  if ('parse_error' in oslo || 'parse_error' in ours) {
    return 'parse_error' in oslo && 'parse_error' in ours
      ? []
      : [`parse: oslo ${JSON.stringify(oslo)} / ours ${JSON.stringify(ours)}`];
  }
  const lines: string[] = [];
  for (const [key, theirs] of Object.entries(oslo.values)) {
    const mine = ours.values[key];
    if (!mine) continue;
    if ('error' in theirs && 'error' in mine) continue;
    if ('float' in theirs && theirs.float === 'nan' && 'error' in mine) continue;
    if (JSON.stringify(theirs) !== JSON.stringify(mine)) {
      lines.push(`${key}: oslo ${JSON.stringify(theirs)} / ours ${JSON.stringify(mine)}`);
    }
  }
  return lines;
}
