import { pyFloat, pyInt, pyStrip } from './py-text.js';

/**
 * The option types of the programs, each the counterpart of an oslo.config type: StrOpt
 * (optionally with choices), IntOpt and FloatOpt with min/max, BoolOpt.
 */
export type OptionType =
  | { kind: 'string'; choices?: readonly string[] }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'float'; min: number; max: number; unit?: 'seconds' }
  | { kind: 'boolean' };

/** One option of a program: where it lives, its type, default and help. */
export interface OptionDef<T = string | number | boolean> {
  /** The oslo group: 'DEFAULT', 'AGENT' (read from [agent] in any case), 'spp', … */
  group: string;
  name: string;
  type: OptionType;
  /** The value when the option is not set; a function for defaults of the machine. */
  default?: T | (() => T);
  /** Shown in samples and docs instead of a default that is computed. */
  defaultText?: string;
  help: string;
  /** Never shown in messages. */
  secret?: boolean;
}

interface Spec<T> {
  default?: T | (() => T);
  defaultText?: string;
  help: string;
  secret?: boolean;
}

export function stringOption(
  group: string,
  name: string,
  spec: Spec<string> & { choices?: readonly string[] },
): OptionDef<string> {
  const { choices, ...rest } = spec;
  return { group, name, type: { kind: 'string', ...(choices ? { choices } : {}) }, ...rest };
}

export function integerOption(
  group: string,
  name: string,
  spec: Spec<number> & { min: number; max: number },
): OptionDef<number> {
  const { min, max, ...rest } = spec;
  return { group, name, type: { kind: 'integer', min, max }, ...rest };
}

/** A FloatOpt counted in seconds. */
export function secondsOption(
  group: string,
  name: string,
  spec: Spec<number> & { min: number; max: number },
): OptionDef<number> {
  const { min, max, ...rest } = spec;
  return { group, name, type: { kind: 'float', min, max, unit: 'seconds' }, ...rest };
}

export function booleanOption(
  group: string,
  name: string,
  spec: Spec<boolean>,
): OptionDef<boolean> {
  return { group, name, type: { kind: 'boolean' }, ...spec };
}

export function defaultOf<T>(option: OptionDef<T>): T | undefined {
  const value = option.default;
  return typeof value === 'function' ? (value as () => T)() : value;
}

const TRUE_WORDS = ['true', '1', 'on', 'yes'];
const FALSE_WORDS = ['false', '0', 'off', 'no'];

/**
 * Converts a (substituted) raw value as the oslo.config type does; `null` is oslo's None,
 * which only an empty or blank number gives. Throws an Error saying what is wrong.
 * One deliberate difference: FloatOpt takes `nan` (and then passes any min/max); we refuse it.
 */
export function convertValue(type: OptionType, raw: string): string | number | boolean | null {
  switch (type.kind) {
    case 'string':
      if (type.choices && !type.choices.includes(raw)) {
        throw new Error(`must be one of ${type.choices.join(', ')}`);
      }
      return raw;
    case 'boolean': {
      const word = raw.toLowerCase();
      if (TRUE_WORDS.includes(word)) return true;
      if (FALSE_WORDS.includes(word)) return false;
      throw new Error('not a boolean (true/false, yes/no, on/off, 1/0)');
    }
    case 'integer':
    case 'float':
      return convertNumber(type, raw);
  }
  throw new Error('unknown option type');
}

function convertNumber(
  type: OptionType & { kind: 'integer' | 'float' },
  raw: string,
): number | null {
  if (pyStrip(raw) === '') return null;
  const seconds = type.kind === 'float' && type.unit === 'seconds';
  let value: number;
  try {
    value = type.kind === 'integer' ? pyInt(raw) : pyFloat(raw);
  } catch {
    throw new Error(
      type.kind === 'integer'
        ? 'not an integer'
        : seconds
          ? 'not a number of seconds'
          : 'not a number',
    );
  }
  if (Number.isNaN(value)) throw new Error('not a number');
  if (value < type.min || value > type.max) {
    throw new Error(`must be between ${type.min} and ${type.max}${seconds ? ' seconds' : ''}`);
  }
  return value;
}

/** oslo's description of a type in sample files, e.g. "(integer value)". */
export function typeDescription(type: OptionType): string {
  switch (type.kind) {
    case 'string':
      return 'string value';
    case 'boolean':
      return 'boolean value';
    case 'integer':
      return 'integer value';
    case 'float':
      return 'floating point value';
  }
  return 'value';
}
