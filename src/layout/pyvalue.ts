import { pythonQuote } from './pyjson.js';

/**
 * A value as Python holds it after `yaml.load` (str, int, float, bool, None, list, dict),
 * kept with what JSON text loses in JavaScript: int versus float, and the order and type
 * of dict keys. `pyJsonDumps` then writes exactly what Python's `json.dumps` writes.
 */
export type PyValue = null | boolean | string | bigint | PyFloat | PyValue[] | PyDict;

/** A dict key: Python's json.dumps accepts only these. */
export type PyKey = null | boolean | string | bigint | PyFloat;

export class PyFloat {
  constructor(readonly value: number) {}
}

/** A dict in insertion order, as Python 3.7+ keeps it. */
export class PyDict {
  constructor(readonly entries: Array<[PyKey, PyValue]>) {}

  /** The value under the string key `key`, undefined when there is none. */
  get(key: string): PyValue | undefined {
    return this.entries.find(([candidate]) => candidate === key)?.[1];
  }

  has(key: string): boolean {
    return this.entries.some(([candidate]) => candidate === key);
  }
}

/** Python's `repr(float)`: the shortest round-trip digits, exponent below 1e-4 and from 1e16. */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa = '', exponentText = '0'] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const scaled = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const magnitude = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${scaled}e${exponent < 0 ? '-' : '+'}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
}

/** json.dumps of a float: repr, except the non-JSON NaN, Infinity and -Infinity. */
function floatJson(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return pythonFloatRepr(value);
}

/** How json.dumps turns a dict key into a JSON object key. */
export function jsonKey(key: PyKey): string {
  if (key === null) return 'null';
  if (typeof key === 'boolean') return key ? 'true' : 'false';
  if (typeof key === 'bigint') return key.toString();
  if (key instanceof PyFloat) return floatJson(key.value);
  return key;
}

/** Python's `json.dumps(value)` with default arguments. */
export function pyJsonDumps(value: PyValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return pythonQuote(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof PyFloat) return floatJson(value.value);
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(', ')}]`;
  const members = value.entries.map(
    ([key, member]) => `${pythonQuote(jsonKey(key))}: ${pyJsonDumps(member)}`,
  );
  return `{${members.join(', ')}}`;
}

/**
 * The value for schema validation: ints stay bigint (so a schema can tell 2 from 2.0),
 * floats become numbers, dicts plain objects keyed as json.dumps would key them.
 */
export function toPlain(value: PyValue): unknown {
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof PyDict) {
    const plain: Record<string, unknown> = {};
    for (const [key, member] of value.entries) {
      // defineProperty: a key "__proto__" stays a key.
      Object.defineProperty(plain, jsonKey(key), {
        value: toPlain(member),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return plain;
  }
  return value;
}

/**
 * A value built in JavaScript (e.g. a generated layout) as Python would hold it: integral
 * numbers become ints, other numbers floats, objects dicts in property order.
 */
export function fromPlain(value: unknown): PyValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? BigInt(value) : new PyFloat(value);
  }
  if (Array.isArray(value)) return value.map(fromPlain);
  if (typeof value === 'object') {
    return new PyDict(
      Object.entries(value as Record<string, unknown>)
        .filter(([, member]) => member !== undefined)
        .map(([key, member]) => [key, fromPlain(member)]),
    );
  }
  throw new TypeError(`cannot convert a ${typeof value} to a Python value`);
}
