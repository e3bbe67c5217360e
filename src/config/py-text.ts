/**
 * The few pieces of Python's text semantics that oslo.config's reading of INI files rests
 * on: `str.strip()` (Python's notion of white space, which is not JavaScript's), `int()`
 * and `float()` of a string, and `repr()` of a float (what `$option` substitution inserts).
 */

/** Characters for which Python's `str.isspace()` is true (JavaScript's `\s` differs). */
const PY_SPACE =
  '\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680' +
  '\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a' +
  '\u2028\u2029\u202f\u205f\u3000';

export function isPySpace(char: string): boolean {
  return char.length === 1 && PY_SPACE.includes(char);
}

export function pyRstrip(text: string): string {
  let end = text.length;
  while (end > 0 && isPySpace(text.charAt(end - 1))) end--;
  return text.slice(0, end);
}

export function pyLstrip(text: string): string {
  let start = 0;
  while (start < text.length && isPySpace(text.charAt(start))) start++;
  return text.slice(start);
}

export function pyStrip(text: string): string {
  return pyLstrip(pyRstrip(text));
}

const DECIMAL_DIGIT = /\p{Nd}/u;

/**
 * Python's int() and float() accept every Unicode decimal digit. Unicode encodes them in
 * runs of ten consecutive code points, 0 to 9, so a digit's value is its offset in its run.
 */
function asciiDigits(text: string): string {
  let result = '';
  for (const char of text) {
    if (char >= '0' && char <= '9') result += char;
    else if (DECIMAL_DIGIT.test(char)) {
      const code = char.codePointAt(0) as number;
      let start = code;
      while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
      result += String((code - start) % 10);
    } else result += char;
  }
  return result;
}

const DIGITS = '[0-9](?:_?[0-9])*';
const INT_SYNTAX = new RegExp(`^[+-]?${DIGITS}$`);
const FLOAT_SYNTAX = new RegExp(
  `^[+-]?(?:(?:${DIGITS}\\.(?:${DIGITS})?|\\.${DIGITS}|${DIGITS})(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)$`,
  'i',
);

/** Python's `int(text)` (base 10): sign, digits, single underscores between digits. */
export function pyInt(text: string): number {
  const digits = asciiDigits(pyStrip(text));
  if (!INT_SYNTAX.test(digits)) {
    throw new Error('not an integer');
  }
  return Number(digits.replace(/_/g, ''));
}

/** Python's `float(text)`. */
export function pyFloat(text: string): number {
  const literal = asciiDigits(pyStrip(text));
  if (!FLOAT_SYNTAX.test(literal)) {
    throw new Error('not a number');
  }
  const bare = literal.replace(/_/g, '').toLowerCase();
  const sign = bare.startsWith('-') ? -1 : 1;
  const unsigned = bare.replace(/^[+-]/, '');
  if (unsigned === 'nan') return NaN;
  if (unsigned === 'inf' || unsigned === 'infinity') return sign * Infinity;
  return Number(bare);
}

/** Python's `repr()` of a float: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pyFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa = '', exponentText = '0'] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.padEnd(exponent + 1, '0');
    const fraction = digits.slice(exponent + 1);
    return `${sign}${whole.slice(0, exponent + 1)}.${fraction === '' ? '0' : fraction}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const magnitude = String(Math.abs(exponent)).padStart(2, '0');
  return `${sign}${head}e${exponent < 0 ? '-' : '+'}${magnitude}`;
}
