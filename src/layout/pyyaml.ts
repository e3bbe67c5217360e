import type { Document, Node, ParsedNode } from 'yaml';
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import { InputError } from '../util/errors.js';
import type { PyKey, PyValue } from './pyvalue.js';
import { PyDict, PyFloat, jsonKey } from './pyvalue.js';

/*
 * The original's spp-config-build reads a custom layout with PyYAML's `yaml.load`, which
 * follows YAML 1.1: `yes` is true, `010` is 8, `1:30` is 90, `1e5` is a string. To write
 * the same bytes we need the same values, so the `yaml` package only parses the structure
 * (every scalar as text) and the scalars are resolved here with YAML 1.1's implicit types
 * as PyYAML applies them.
 */
const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT =
  /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;
const BOOL_VALUES: Record<string, boolean> = {
  yes: true,
  no: false,
  true: true,
  false: false,
  on: true,
  off: false,
};
const TAG = 'tag:yaml.org,2002:';
/** More nodes than any layout has: guards against alias expansion ("billion laughs"). */
const MAX_NODES = 200_000;

class Unsupported extends Error {}

function sexagesimal(parts: number[]): number {
  return parts.reduce((total, part) => total * 60 + part, 0);
}

function signOf(text: string): { sign: 1n | -1n; rest: string } {
  if (text.startsWith('-')) return { sign: -1n, rest: text.slice(1) };
  return { sign: 1n, rest: text.startsWith('+') ? text.slice(1) : text };
}

function toInt(text: string): bigint {
  const { sign, rest } = signOf(text.replaceAll('_', ''));
  let magnitude: bigint;
  if (rest.startsWith('0b') || rest.startsWith('0x')) magnitude = BigInt(rest);
  else if (rest.length > 1 && rest.startsWith('0')) magnitude = BigInt(`0o${rest.slice(1)}`);
  else if (rest.includes(':')) {
    magnitude = rest.split(':').reduce((total, part) => total * 60n + BigInt(part), 0n);
  } else magnitude = BigInt(rest);
  return sign * magnitude;
}

function toFloat(text: string): PyFloat {
  const { sign, rest } = signOf(text.replaceAll('_', '').toLowerCase());
  const factor = sign === -1n ? -1 : 1;
  if (rest === '.inf') return new PyFloat(factor * Infinity);
  if (rest === '.nan') return new PyFloat(NaN);
  if (rest.includes(':')) return new PyFloat(factor * sexagesimal(rest.split(':').map(Number)));
  if (!/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?$/.test(rest)) {
    throw new Unsupported(`"${text}" is not a float`);
  }
  return new PyFloat(factor * Number(rest));
}

/** An untagged plain scalar, typed as PyYAML's implicit resolvers type it. */
function resolvePlain(text: string): PyValue {
  if (BOOL.test(text)) return BOOL_VALUES[text.toLowerCase()] as boolean;
  if (FLOAT.test(text)) return toFloat(text);
  if (INT.test(text)) return toInt(text);
  if (NULL.test(text)) return null;
  if (text === '<<') throw new Unsupported('merge keys (<<) are not supported; write the keys out');
  if (TIMESTAMP.test(text)) {
    throw new Unsupported(
      `"${text}" is a date, which JSON cannot hold (the original's spp-config-build fails on it too); quote it to make it a string`,
    );
  }
  if (text === '=') throw new Unsupported('"=" is YAML 1.1\'s value key, not a value; quote it');
  return text;
}

/** A scalar with an explicit tag (`!!int "7"`). */
function constructTagged(tag: string, text: string): PyValue {
  switch (tag) {
    case `${TAG}str`:
      return text;
    case `${TAG}int`:
      if (!INT.test(text)) throw new Unsupported(`"${text}" is not an int`);
      return toInt(text);
    case `${TAG}float`:
      return toFloat(text);
    case `${TAG}bool`: {
      const value = BOOL_VALUES[text.toLowerCase()];
      if (value === undefined) throw new Unsupported(`"${text}" is not a bool`);
      return value;
    }
    case `${TAG}null`:
      return null;
    default:
      throw new Unsupported(`the tag ${tag.replace(TAG, '!!')} is not supported`);
  }
}

/** Python's equality of two dict keys (1 == 1.0 == True), which decides duplicates. */
function sameKey(a: PyKey, b: PyKey): boolean {
  const numeric = (key: PyKey): number | string | null => {
    if (typeof key === 'boolean') return key ? 1 : 0;
    if (typeof key === 'bigint') return Number(key);
    if (key instanceof PyFloat) return key.value;
    return key === null ? null : `s:${key}`;
  };
  return numeric(a) === numeric(b);
}

class Converter {
  private nodes = 0;
  private readonly active = new Set<Node>();

  constructor(
    private readonly doc: Document.Parsed,
    private readonly where: (node: Node | null) => string,
  ) {}

  value(node: Node | null): PyValue {
    if (++this.nodes > MAX_NODES) throw this.fail(node, `more than ${MAX_NODES} values`);
    if (node === null) return null;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) throw this.fail(node, `unknown alias *${node.source}`);
      if (this.active.has(target)) throw this.fail(node, `alias *${node.source} refers to itself`);
      return this.value(target);
    }
    this.active.add(node);
    try {
      return this.inner(node);
    } catch (error) {
      if (error instanceof Unsupported) throw this.fail(node, error.message);
      throw error;
    } finally {
      this.active.delete(node);
    }
  }

  private inner(node: Node): PyValue {
    const tag = node.tag;
    if (isScalar(node)) {
      const text = String(node.value);
      if (tag) return constructTagged(tag, text);
      return node.type === 'PLAIN' ? resolvePlain(text) : text;
    }
    if (tag && tag !== `${TAG}seq` && tag !== `${TAG}map`) {
      throw new Unsupported(`the tag ${tag.replace(TAG, '!!')} is not supported`);
    }
    if (isSeq(node)) return node.items.map((item) => this.value(item as Node | null));
    if (isMap(node)) {
      const entries: Array<[PyKey, PyValue]> = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        const key = this.value(keyNode);
        if (Array.isArray(key) || key instanceof PyDict) {
          throw this.fail(keyNode, 'a mapping key must be a scalar, not a list or a mapping');
        }
        if (entries.some(([seen]) => sameKey(seen, key))) {
          throw this.fail(keyNode, `key ${jsonKey(key)} appears twice in one mapping`);
        }
        entries.push([key, this.value(pair.value as Node | null)]);
      }
      return new PyDict(entries);
    }
    throw new Unsupported('unexpected YAML node');
  }

  private fail(node: Node | null, message: string): InputError {
    return new InputError(`${this.where(node)}${message}`);
  }
}

/**
 * Parses `text` (one YAML document) into the value PyYAML's `yaml.load` gives; `file`
 * names it in errors, with the line and column.
 */
export function loadPythonYaml(text: string, file: string): PyValue {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'failsafe',
    version: '1.1',
    uniqueKeys: false,
    merge: false,
    lineCounter: lines,
  });
  const firstError = doc.errors[0];
  if (firstError) {
    throw new InputError(`${file}: not valid YAML: ${firstError.message.split('\n')[0]}`);
  }
  const where = (node: Node | null): string => {
    const offset = (node as ParsedNode | null)?.range?.[0];
    if (offset === undefined) return `${file}: `;
    const { line, col } = lines.linePos(offset);
    return `${file}: line ${line}, column ${col}: `;
  };
  return new Converter(doc, where).value(doc.contents);
}
