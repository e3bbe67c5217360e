import { readFileSync } from 'node:fs';
import { decode } from 'ini';
import { InputError, errorMessage } from '../util/errors.js';

interface Setting {
  value: string;
  file: string;
}

/**
 * Options from oslo.config-style INI files given with repeated --config-file: later files
 * win, section and option names are kept as written, unknown ones are simply never read.
 */
export class IniOptions {
  private readonly settings = new Map<string, Setting>();

  static load(files: string[]): IniOptions {
    const options = new IniOptions();
    for (const file of files) options.addFile(file);
    return options;
  }

  static fromText(text: string, file: string): IniOptions {
    const options = new IniOptions();
    options.addText(text, file);
    return options;
  }

  addFile(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InputError(`cannot read config file ${file}: ${errorMessage(error)}`);
    }
    this.addText(text, file);
  }

  addText(text: string, file: string): void {
    const document = decode(text) as Record<string, unknown>;
    for (const [section, body] of Object.entries(document)) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        // An option before any section header; oslo rejects those, we ignore them.
        continue;
      }
      for (const [option, raw] of Object.entries(body as Record<string, unknown>)) {
        const value = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
        this.settings.set(`${section}\u0000${option}`, { value: value.trim(), file });
      }
    }
  }

  has(section: string, option: string): boolean {
    return this.settings.has(`${section}\u0000${option}`);
  }

  /** Reads one option through `parse`; a parse failure names file, section, option and value. */
  get<T>(section: string, option: string, parse: (raw: string) => T, fallback: T): T {
    const setting = this.settings.get(`${section}\u0000${option}`);
    if (!setting) return fallback;
    try {
      return parse(setting.value);
    } catch (error) {
      throw new InputError(
        `${setting.file}: [${section}] ${option} = ${JSON.stringify(setting.value)}: ${errorMessage(error)}`,
      );
    }
  }

  getString(section: string, option: string, fallback: string): string {
    return this.get(section, option, (raw) => raw, fallback);
  }

  getOptionalString(section: string, option: string): string | undefined {
    return this.get<string | undefined>(
      section,
      option,
      (raw) => (raw === '' ? undefined : raw),
      undefined,
    );
  }
}

export function parseInteger(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^-?[0-9]+$/.test(raw)) throw new Error('not an integer');
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max}`);
    return value;
  };
}

export function parseSeconds(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw)) throw new Error('not a number of seconds');
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max} seconds`);
    return value;
  };
}

export function parseBoolean(raw: string): boolean {
  const lowered = raw.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(lowered)) return true;
  if (['false', 'no', 'off', '0'].includes(lowered)) return false;
  throw new Error('not a boolean (true/false)');
}

export function parseChoice<T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new Error(`must be one of ${choices.join(', ')}`);
    }
    return raw as T;
  };
}
