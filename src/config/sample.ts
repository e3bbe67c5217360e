import { normalizeGroup } from './ini.js';
import type { OptionDef, OptionType } from './option.js';
import { typeDescription } from './option.js';

const WIDTH = 79;

/** Greedy word wrap into `# ` comment lines of at most WIDTH characters. */
export function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '#' && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

function limits(type: OptionType): string[] {
  if (type.kind === 'integer' || type.kind === 'float') {
    return [`# Minimum value: ${type.min}`, `# Maximum value: ${type.max}`];
  }
  if (type.kind === 'string' && type.choices) {
    return [`# Allowed values: ${type.choices.join(', ')}`];
  }
  return [];
}

function defaultText(option: OptionDef): string {
  if (option.defaultText !== undefined) return `<${option.defaultText}>`;
  const value = option.default;
  if (value === undefined) return '<None>';
  if (typeof value === 'function') return '<computed>';
  return String(value);
}

function optionBlock(option: OptionDef): string[] {
  const shown = defaultText(option);
  return [
    ...commentLines(`${option.help} (${typeDescription(option.type)})`),
    ...limits(option.type),
    `#${option.name} =${shown === '' ? '' : ` ${shown}`}`,
  ];
}

/**
 * A sample configuration in the style of oslo-config-generator: the header, then per
 * section every option, commented out, with its help, type, limits and default.
 * Sections are written as Debian's files spell them (`[agent]` for group AGENT).
 */
export function renderSample(header: string[], registry: readonly OptionDef[]): string {
  const groups = new Map<string, OptionDef[]>();
  for (const option of registry) {
    const list = groups.get(option.group) ?? [];
    list.push(option);
    groups.set(option.group, list);
  }
  const lines = header.flatMap((paragraph) => (paragraph === '' ? ['#'] : commentLines(paragraph)));
  for (const [group, options] of groups) {
    lines.push('', `[${normalizeGroup(group)}]`);
    for (const option of options) lines.push('', ...optionBlock(option));
  }
  return `${lines.join('\n')}\n`;
}
