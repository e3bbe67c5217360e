/**
 * The bits of Python semantics spp-ctl's request handling depends on: `json.loads` (which
 * keeps `2` and `2.0` apart), `in`, `[]`, `int()`, `'%d' %`, `str()`, `repr()` and
 * netaddr's EUI check. Any operation Python would raise on throws PyError here; the REST
 * layer turns it into spp-ctl's 500 `Internal Server Error`.
 */

export class PyError extends Error {
  override readonly name = 'PyError';
}

export class PyInt {
  constructor(readonly value: bigint) {}
}

export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyDict {
  constructor(readonly map: Map<string, PyValue>) {}
}

export type PyValue = null | boolean | string | PyInt | PyFloat | PyDict | PyValue[];

const MAX_DEPTH = 990;

/** `json.loads` with Python's acceptance rules (NaN/Infinity, strict strings, ints kept exact). */
export function parsePythonJson(text: string): PyValue {
  let at = 0;
  const fail = (what: string): never => {
    throw new PyError(`${what} at char ${at}`);
  };
  const skipWhitespace = () => {
    for (;;) {
      const char = text.charCodeAt(at);
      if (char === 0x20 || char === 0x09 || char === 0x0a || char === 0x0d) at++;
      else return;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
  const parseString = (): string => {
    at++; // opening quote
    let out = '';
    for (;;) {
      const char = text[at];
      if (char === undefined) return fail('Unterminated string');
      if (char === '"') {
        at++;
        return out;
      }
      if (char === '\\') {
        const escape = text[at + 1];
        at += 2;
        switch (escape) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            const hex = text.slice(at, at + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('Invalid \\uXXXX escape');
            out += String.fromCharCode(parseInt(hex, 16));
            at += 4;
            break;
          }
          default:
            fail('Invalid \\escape');
        }
        continue;
      }
      if ((char.codePointAt(0) as number) < 0x20) fail('Invalid control character');
      out += char;
      at++;
    }
  };
  const parseValue = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) fail('maximum recursion depth exceeded');
    skipWhitespace();
    const char = text[at];
    if (char === '"') return parseString();
    if (char === '{') {
      at++;
      const map = new Map<string, PyValue>();
      skipWhitespace();
      if (text[at] === '}') {
        at++;
        return new PyDict(map);
      }
      for (;;) {
        skipWhitespace();
        if (text[at] !== '"') fail('Expecting property name enclosed in double quotes');
        const key = parseString();
        skipWhitespace();
        if (text[at] !== ':') fail("Expecting ':' delimiter");
        at++;
        map.set(key, parseValue(depth + 1));
        skipWhitespace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === '}') {
          at++;
          return new PyDict(map);
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (char === '[') {
      at++;
      const list: PyValue[] = [];
      skipWhitespace();
      if (text[at] === ']') {
        at++;
        return list;
      }
      for (;;) {
        list.push(parseValue(depth + 1));
        skipWhitespace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === ']') {
          at++;
          return list;
        }
        fail("Expecting ',' delimiter");
      }
    }
    for (const [word, value] of [
      ['null', null],
      ['true', true],
      ['false', false],
      ['NaN', new PyFloat(NaN)],
      ['Infinity', new PyFloat(Infinity)],
      ['-Infinity', new PyFloat(-Infinity)],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(text);
    if (match) {
      at += match[0].length;
      if (match[1] === undefined && match[2] === undefined) return new PyInt(BigInt(match[0]));
      return new PyFloat(Number(match[0]));
    }
    return fail('Expecting value');
  };
  const value = parseValue(0);
  skipWhitespace();
  if (at !== text.length) fail('Extra data');
  return value;
}

/** Python's `key in container` for a str key. */
export function pyContains(container: PyValue, key: string): boolean {
  if (container instanceof PyDict) return container.map.has(key);
  if (Array.isArray(container)) return container.some((item) => item === key);
  if (typeof container === 'string') return container.includes(key);
  throw new PyError(`argument of type '${pyTypeName(container)}' is not iterable`);
}

/** Python's `container[key]` for a str key. */
export function pyGetItem(container: PyValue, key: string): PyValue {
  if (container instanceof PyDict) {
    if (!container.map.has(key)) throw new PyError(`KeyError: '${key}'`);
    return container.map.get(key) as PyValue;
  }
  throw new PyError(`'${pyTypeName(container)}' object is not subscriptable by str`);
}

/** Python's `d.get(key)` (None when absent); only dicts have it. */
export function pyGet(container: PyValue, key: string): PyValue {
  if (container instanceof PyDict) return container.map.get(key) ?? null;
  throw new PyError(`'${pyTypeName(container)}' object has no attribute 'get'`);
}

export function pyTypeName(value: PyValue): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'str';
  if (value instanceof PyInt) return 'int';
  if (value instanceof PyFloat) return 'float';
  if (value instanceof PyDict) return 'dict';
  return 'list';
}

/** Python truthiness. */
export function pyTruthy(value: PyValue): boolean {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length > 0;
  if (value instanceof PyInt) return value.value !== 0n;
  if (value instanceof PyFloat) return value.value !== 0;
  if (value instanceof PyDict) return value.map.size > 0;
  return value.length > 0;
}

/** `isinstance(value, int)` (bool is an int in Python). */
export function pyIsInt(value: PyValue): boolean {
  return value instanceof PyInt || typeof value === 'boolean';
}

const INT_TEXT = /^\s*([+-]?)([0-9]+(?:_[0-9]+)*)\s*$/;

/** Python's `int(value)` (base 10 for strings). */
export function pyInt(value: PyValue): bigint {
  if (value instanceof PyInt) return value.value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (value instanceof PyFloat) {
    if (Number.isNaN(value.value)) throw new PyError('cannot convert float NaN to integer');
    if (!Number.isFinite(value.value)) {
      throw new PyError('cannot convert float infinity to integer');
    }
    return BigInt(Math.trunc(value.value));
  }
  if (typeof value === 'string') {
    const match = INT_TEXT.exec(value);
    if (!match) throw new PyError(`invalid literal for int() with base 10: ${pyRepr(value)}`);
    const digits = BigInt((match[2] as string).replaceAll('_', ''));
    return match[1] === '-' ? -digits : digits;
  }
  throw new PyError(`int() argument must be a string or a number, not '${pyTypeName(value)}'`);
}

/** `'%d' % value`. */
export function pyPercentD(value: PyValue): string {
  if (typeof value === 'string' || value === null || Array.isArray(value)) {
    throw new PyError(`%d format: a number is required, not ${pyTypeName(value)}`);
  }
  if (value instanceof PyDict) throw new PyError('%d format: a number is required, not dict');
  return pyInt(value).toString();
}

/** Python's `repr()` of a float (shortest round-trip digits, Python's exponent rules). */
export function pyFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let body: string;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) body = `0.${'0'.repeat(-exponent - 1)}${digits}`;
    else if (digits.length <= exponent + 1)
      body = `${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`;
    else body = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  } else {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const sign = exponent < 0 ? '-' : '+';
    body = `${digits[0]}${fraction}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return negative ? `-${body}` : body;
}

/** Python's `str()` (what `'%s' %` and `'{}'.format` produce). */
export function pyStr(value: PyValue): string {
  if (typeof value === 'string') return value;
  return pyRepr(value);
}

/** Python's `repr()`. */
export function pyRepr(value: PyValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return pyStrRepr(value);
  if (value instanceof PyInt) return value.value.toString();
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (value instanceof PyDict) {
    const members = [...value.map].map(([key, member]) => `${pyStrRepr(key)}: ${pyRepr(member)}`);
    return `{${members.join(', ')}}`;
  }
  return `[${value.map(pyRepr).join(', ')}]`;
}

/** `repr(str)`: single quotes unless the text has ' and no ", escapes for non-printables. */
export function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === '\\') out += '\\\\';
    else if (char === quote) out += `\\${quote}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code <= 0xa0) || code === 0xad) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else if (code >= 0xd800 && code <= 0xdfff) out += `\\u${code.toString(16)}`;
    else out += char;
  }
  return out + quote;
}

function groups(separator: string, count: number, width: string): RegExp {
  const group = `[0-9A-F]{${width}}`;
  const escaped = separator === '.' ? '\\.' : separator;
  return new RegExp(`^${Array.from({ length: count }, () => group).join(escaped)}\\n?$`, 'i');
}

/** The string formats netaddr.EUI accepts (EUI-48 then EUI-64), approximately. */
const EUI_FORMATS: RegExp[] = [
  groups(':', 6, '1,2'),
  groups('-', 6, '1,2'),
  groups(':', 3, '1,4'),
  groups('-', 3, '1,4'),
  groups('.', 3, '1,4'),
  groups('-', 2, '5,6'),
  groups(':', 2, '5,6'),
  /^[0-9A-F]{11,12}\n?$/i,
  groups(':', 8, '1,2'),
  groups('-', 8, '1,2'),
  groups(':', 4, '1,4'),
  groups('-', 4, '1,4'),
  groups('.', 4, '1,4'),
  /^[0-9A-F]{15,16}\n?$/i,
];

/** Whether `netaddr.EUI(value)` succeeds (strings in its formats, ints 0..2^64-1). */
export function netaddrEuiValid(value: PyValue): boolean {
  if (typeof value === 'string') return EUI_FORMATS.some((format) => format.test(value));
  if (pyIsInt(value)) {
    const number = pyInt(value);
    return number >= 0n && number < 1n << 64n;
  }
  return false;
}

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function dumpString(text: string): string {
  if (PLAIN_ASCII.test(text)) return `"${text}"`;
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Python `json.dumps()` with default arguments, like src/layout/pyjson.ts's
 * pythonJsonDumps (same output) but several times faster: the emulator serialises every
 * status on every GET.
 */
export function fastPythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return dumpString(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ', ';
          out += fastPythonJsonDumps(value[index]);
        }
        return `${out}]`;
      }
      let out = '{';
      let first = true;
      const record = value as Record<string, unknown>;
      for (const key in record) {
        const member = record[key];
        if (member === undefined) continue;
        if (!first) out += ', ';
        first = false;
        out += `${dumpString(key)}: ${fastPythonJsonDumps(member)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`cannot serialise a ${typeof value}`);
  }
}
