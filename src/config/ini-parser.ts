import { InputError } from '../util/errors.js';
import { pyLstrip, pyRstrip, pyStrip } from './py-text.js';

/** One `key = value` of a file, with the section header it appeared under, as spelled. */
export interface Assignment {
  section: string;
  key: string;
  value: string;
  line: number;
}

/**
 * Parses one INI file the way oslo.config's parser does (checked against Debian's
 * python3-oslo.config 9.0):
 * - a line is split at `\n`, `\r\n` or `\r` and stripped of trailing white space;
 * - a blank line ends a multi-line value; a line starting with a space or tab continues the
 *   previous value (joined with `\n`, its leading white space removed);
 * - `[name]` starts a section (the name is kept exactly, white space included);
 * - a line starting with `#` or `;` is a comment; nothing else is: `a = b # c` is `b # c`;
 * - otherwise the line is `key = value` or `key: value`, split at whichever comes first;
 *   key and value are stripped, and one pair of matching quotes around the value is removed.
 * Anything oslo refuses (an assignment before any section, a line without `=` or `:`, an
 * empty key, a continuation with nothing to continue, `[` without `]`, `[]`) is refused with
 * the file and line.
 */
export function parseIni(text: string, file: string): Assignment[] {
  const assignments: Assignment[] = [];
  const fail = (line: number, problem: string, content: string): never => {
    throw new InputError(`${file}: line ${line}: ${problem}: ${JSON.stringify(content)}`);
  };
  let section: string | undefined;
  let pending: { key: string; parts: string[]; line: number } | undefined;
  const flush = () => {
    if (!pending) return;
    if (section === undefined) {
      fail(pending.line, 'an option before any [section]', pending.key);
    }
    assignments.push({
      section: section as string,
      key: pending.key,
      value: pending.parts.join('\n'),
      line: pending.line,
    });
    pending = undefined;
  };
  const lines = text.split(/\r\n|\r|\n/);
  for (let index = 0; index < lines.length; index++) {
    const number = index + 1;
    const line = pyRstrip(lines[index] as string);
    if (line === '') {
      flush();
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!pending) fail(number, 'a continuation line with no option before it', line);
      else pending.parts.push(pyLstrip(line));
      continue;
    }
    flush();
    if (line.startsWith('[')) {
      section = sectionName(line, (problem) => fail(number, problem, line));
    } else if (!line.startsWith('#') && !line.startsWith(';')) {
      const { key, value } = splitAssignment(line, (problem) => fail(number, problem, line));
      pending = { key, parts: [value], line: number };
    }
  }
  flush();
  return assignments;
}

function sectionName(line: string, fail: (problem: string) => never): string {
  if (!line.endsWith(']')) fail('a section header must end with "]"');
  if (line.length <= 2) fail('an empty section name');
  return line.slice(1, -1);
}

function splitAssignment(
  line: string,
  fail: (problem: string) => never,
): { key: string; value: string } {
  const colon = line.indexOf(':');
  const equal = line.indexOf('=');
  if (colon < 0 && equal < 0) {
    const hint = line.startsWith('\ufeff')
      ? ' (the file starts with a byte order mark, which oslo.config refuses too)'
      : '';
    fail(`neither "=" nor ":" in an option line${hint}`);
  }
  const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
  const key = pyStrip(line.slice(0, at));
  let value = pyStrip(line.slice(at + 1));
  if (key === '') fail('an option line without a name');
  const first = value.charAt(0);
  if ((first === '"' || first === "'") && value.endsWith(first)) value = value.slice(1, -1);
  return { key, value };
}
