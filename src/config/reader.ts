import { InputError, errorMessage } from '../util/errors.js';
import type { IniOptions, RawSetting } from './ini.js';
import type { OptionDef } from './option.js';
import { convertValue, defaultOf } from './option.js';
import { pyFloatRepr } from './py-text.js';

type Value = string | number | boolean;

/** Python's `str()` of a value, as oslo's substitution inserts it; None is ''. */
function pythonText(value: Value | null, option: OptionDef): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' && option.type.kind === 'float') return pyFloatRepr(value);
  return String(value);
}

// string.Template's pattern with oslo's identifier: $$, $name, ${name}, or a lone $.
const PLACEHOLDER = /\$(?:(\$)|([_a-z][._a-z0-9]*)|\{([_a-z][._a-z0-9]*)\}|)/gi;

/**
 * Reads the options of one program (its registry) out of the INI files as oslo.config
 * does, including `$name` / `${group.name}` substitution from the program's other options
 * (`$$` and `\$` are a literal `$`).
 */
export class OptionReader {
  private readonly byKey = new Map<string, OptionDef>();
  private readonly groups = new Set<string>();
  private readonly resolving: OptionDef[] = [];

  constructor(
    private readonly ini: IniOptions,
    registry: readonly OptionDef[],
  ) {
    for (const option of registry) {
      this.byKey.set(`${option.group}\u0000${option.name}`, option);
      this.groups.add(option.group);
    }
  }

  /**
   * The option's value; its default when it is not set or set to an empty value (oslo gives
   * None for an empty number and '' for an empty string: both mean "not set" here).
   */
  get<T extends Value>(option: OptionDef<T>): T | undefined {
    const value = this.osloValue(option);
    return value === null || value === '' ? defaultOf(option) : value;
  }

  /** The value of an option that has a default (so never undefined). */
  value<T extends Value>(option: OptionDef<T>): T {
    const value = this.get(option);
    if (value === undefined) throw new Error(`option ${option.name} has no default`);
    return value;
  }

  /** The option's value through `parse` (e.g. a list syntax); a failure names where it was set. */
  parsed<T extends Value, U>(option: OptionDef<T>, parse: (value: T) => U): U | undefined {
    const value = this.get(option);
    if (value === undefined) return undefined;
    try {
      return parse(value);
    } catch (error) {
      const raw = this.ini.lookup(option.group, option.name);
      if (!raw) throw error;
      throw this.failure(option, raw, errorMessage(error));
    }
  }

  /** Whether the files or the environment give the option a value (empty counts). */
  isSet(option: OptionDef): boolean {
    return this.ini.lookup(option.group, option.name) !== undefined;
  }

  /** What oslo.config would return: the converted value, the default, or null for None. */
  osloValue<T extends Value>(option: OptionDef<T>): T | null {
    const raw = this.ini.lookup(option.group, option.name);
    if (raw === undefined) return defaultOf(option) ?? null;
    if (this.resolving.includes(option)) {
      throw this.failure(option, raw, 'its value refers to itself (through $ substitution)');
    }
    this.resolving.push(option);
    try {
      const text = this.substitute(raw.value, option, raw);
      try {
        return convertValue(option.type, text) as T | null;
      } catch (error) {
        throw this.failure(option, raw, errorMessage(error));
      }
    } finally {
      this.resolving.pop();
    }
  }

  private substitute(value: string, option: OptionDef, raw: RawSetting): string {
    return value
      .replaceAll('\\$', '$$$$')
      .replace(PLACEHOLDER, (whole, escaped?: string, named?: string, braced?: string) => {
        if (escaped !== undefined) return '$';
        const name = named ?? braced;
        if (name === undefined) return whole;
        const target = this.reference(name, option.group);
        if (!target) {
          throw this.failure(
            option,
            raw,
            `$${name} is not an option of this program (oslo.config replaces $name and \${group.name} by option values; write $$ for a "$")`,
          );
        }
        return pythonText(this.osloValue(target), target);
      });
  }

  /** oslo's lookup of a placeholder: `group.name`, else the option's own group, else DEFAULT. */
  private reference(name: string, group: string): OptionDef | undefined {
    const dot = name.indexOf('.');
    if (dot >= 0) {
      const ownGroup = name.slice(0, dot);
      // DEFAULT is no group to oslo: ${DEFAULT.host} is refused.
      if (ownGroup === 'DEFAULT' || !this.groups.has(ownGroup)) return undefined;
      return (
        this.byKey.get(`${ownGroup}\u0000${name.slice(dot + 1)}`) ??
        this.byKey.get(`DEFAULT\u0000${name}`)
      );
    }
    return this.byKey.get(`${group}\u0000${name}`) ?? this.byKey.get(`DEFAULT\u0000${name}`);
  }

  private failure(option: OptionDef, raw: RawSetting, problem: string): InputError {
    const shown = option.secret ? '(secret, not shown)' : JSON.stringify(raw.value);
    return new InputError(`${raw.origin} ${option.name} = ${shown}: ${problem}`);
  }
}
