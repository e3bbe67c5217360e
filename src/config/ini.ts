import { readFileSync } from 'node:fs';
import { InputError, errorMessage } from '../util/errors.js';
import type { Assignment } from './ini-parser.js';
import { parseIni } from './ini-parser.js';

/** A raw option value and where it was found: a file and its section as spelled, or a variable. */
export interface RawSetting {
  value: string;
  /** `<file>: [<section>]` or `environment variable OS_…`, for messages. */
  origin: string;
}

interface ParsedFile {
  file: string;
  /** Normalized section name → option → assignments in file order. */
  sections: Map<string, Map<string, Assignment[]>>;
}

/**
 * oslo.config's section matching: `[DEFAULT]` only as spelled so, every other section in
 * any case (`[agent]` holds the options of group AGENT).
 */
export function normalizeGroup(group: string): string {
  return group === 'DEFAULT' ? group : group.toLowerCase();
}

/** oslo.config's environment variable for an option: `OS_<GROUP>__<OPTION>`, upper case. */
export function environmentName(group: string, option: string): string {
  return `OS_${group.toUpperCase()}__${option.toUpperCase()}`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The options of the INI files given with repeated --config-file, read as oslo.config reads
 * them: a later file wins per option; within a file the last assignment wins, across every
 * spelling of the section; option names are case-sensitive; an `OS_<GROUP>__<OPTION>`
 * environment variable wins over the files, as it does for Neutron's own programs.
 */
export class IniOptions {
  private readonly files: ParsedFile[] = [];

  constructor(private readonly environment: NodeJS.ProcessEnv = {}) {}

  static load(files: string[], environment: NodeJS.ProcessEnv = process.env): IniOptions {
    const options = new IniOptions(environment);
    for (const file of files) options.addFile(file);
    return options;
  }

  static fromText(text: string, file: string, environment: NodeJS.ProcessEnv = {}): IniOptions {
    const options = new IniOptions(environment);
    options.addText(text, file);
    return options;
  }

  addFile(file: string): void {
    let text: string;
    try {
      text = UTF8.decode(readFileSync(file));
    } catch (error) {
      const reason = error instanceof TypeError ? 'not valid UTF-8' : errorMessage(error);
      throw new InputError(`cannot read config file ${file}: ${reason}`);
    }
    this.addText(text, file);
  }

  addText(text: string, file: string): void {
    const sections = new Map<string, Map<string, Assignment[]>>();
    for (const assignment of parseIni(text, file)) {
      const name = normalizeGroup(assignment.section);
      let options = sections.get(name);
      if (!options) sections.set(name, (options = new Map()));
      const list = options.get(assignment.key) ?? [];
      list.push(assignment);
      options.set(assignment.key, list);
    }
    this.files.push({ file, sections });
  }

  /** The raw value of `option` of `group` (e.g. 'DEFAULT', 'AGENT', 'spp'), or undefined. */
  lookup(group: string, option: string): RawSetting | undefined {
    const variable = environmentName(group, option);
    const fromEnvironment = this.environment[variable];
    if (fromEnvironment !== undefined) {
      return { value: fromEnvironment, origin: `environment variable ${variable}` };
    }
    const section = normalizeGroup(group);
    for (let index = this.files.length - 1; index >= 0; index--) {
      const parsed = this.files[index] as ParsedFile;
      const assignments = parsed.sections.get(section)?.get(option);
      const last = assignments?.[assignments.length - 1];
      if (last) {
        return { value: last.value, origin: `${parsed.file}: [${last.section}]` };
      }
    }
    return undefined;
  }
}
